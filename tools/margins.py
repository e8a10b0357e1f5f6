"""
Teacher-forced margins for runs trained before training logged them: from a
run's saved weights (model_best.pt, model_last.pt) each item's logit margin and
log-probability of its right answer (evaluation.answer_margins), written as the
rows of those two evaluations in margins.csv and logprobs.csv, the files a run
now writes at every evaluation.

    python tools/margins.py results/math_mini_14
    python tools/margins.py results/*_mini_* results/sweeps/math/math_n*     # every run with weights

A run that already has margins.csv keeps it (a run logged since has every
evaluation there). Prints, per run, the held-out four's margins at each row.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the root, for python tools/<tool>.py from anywhere

import toobig  # noqa: F401  first, before torch: it pins the CPU kernels every run uses (toobig/core/reproducible.py)

import torch

from configurator import exit_with_error, parse_args
from toobig.core.devices import MACHINE_ERRORS
from toobig.runs.checkpoints import load_paper_model
from toobig.study.evaluation import answer_margins
from toobig.runs.run_folder import RunFolder
from toobig.runs.scoring import HOLDS, scored_line
from toobig.runs.reading import check_paper_run, find_run_folder, heldout_values, load_run, read_item_table
from toobig.study.tasks import get_task, held_out_expressions
from toobig.study.training_config import saved_config

WEIGHTS = ("model_best.pt", "model_last.pt")


def backfill(folder):
    """Write margins.csv and logprobs.csv rows for the evaluations whose weights the run
    kept; returns the lines naming the files scored and their iterations ([] if the run has its own margins)."""
    folder = Path(folder)
    if (folder / "margins.csv").exists():
        return []
    scored, files = {}, []
    for name in WEIGHTS:
        if (folder / name).is_file():
            model, codec, checkpoint = load_paper_model(folder / name)
            dataset = saved_config(checkpoint)["dataset"]
            scored[checkpoint["iter_num"]] = answer_margins(model, codec, get_task(dataset).parts)
            files.append(scored_line({"checkpoint": str(folder / name), "iter": checkpoint["iter_num"],
                                      "checkpoint_holds": HOLDS[name]}))
    if not scored:
        raise ValueError(f"{folder} has neither {' nor '.join(WEIGHTS)}: nothing to score")
    run = RunFolder(folder)
    for iter_num in sorted(scored):
        run.append_item_row("margins.csv", iter_num, {m.name: m.margin for m in scored[iter_num]})
        run.append_item_row("logprobs.csv", iter_num, {m.name: m.logprob for m in scored[iter_num]})
    return files


def describe(folder):
    """The held-out four's margins at each row of margins.csv, in one line."""
    run, table = load_run(folder), read_item_table(folder, "margins.csv")
    if run is None or table is None or "math" not in get_task(run["config"]["dataset"]).parts:
        return f"{folder}: no held-out margins"
    held_out = run["config"]["held_out"]
    names = [f"{a}{op}{b}" for a, op, b in held_out_expressions(held_out)]
    cells = [f"{int(it)}: " + " ".join(f"{n} {v:+.2f}" for n, v in zip(names, heldout_values(table, held_out, j)))
             for j, it in enumerate(table[0])]
    return f"{folder}: held-out margins " + ("; ".join(cells) if len(cells) <= 4 else
                                             f"at {len(cells)} evaluations, last {cells[-1]}")


def main(argv=None):
    names = []
    try:
        parse_args({}, sys.argv[1:] if argv is None else argv, positional=names)  # no options but --help
        # a run without margins.csv gets rows written into its folder: a committed one only where its path is named
        folders = [find_run_folder(name) for name in names]
        folders = [f if (f / "margins.csv").exists() else find_run_folder(name, writes=True)
                   for f, name in zip(folders, names)]
        if not folders:
            raise ValueError("name one or more run folders, e.g. python tools/margins.py results/math_mini_14")
        missing = [str(f) for f in folders if not (f / "results.csv").is_file()]
        if missing:
            raise ValueError(f"not a run folder (no results.csv): {', '.join(missing)}")
        for folder in folders:  # every folder checked before any is written to
            check_paper_run(folder)
        torch.set_num_threads(1)
        for folder in folders:
            for line in backfill(folder):
                print(line + ": its margins.csv and logprobs.csv rows written")
            print(describe(folder))
    except (ValueError, *MACHINE_ERRORS) as e:
        exit_with_error(e)


if __name__ == "__main__":
    main()
