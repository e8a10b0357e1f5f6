"""
The study's figures and tables from the runs under --root (docs/STUDY.md §5):
grid_math.png, grid_facts.png, grid_combined.png, each a 2x2 grid of n14, n28,
n56 and MLT, and tables.md with Tables 2-4, our numbers beside the paper's.

    python plot_all_models.py                                  # your runs under out/ -> out/grid_*.png, out/tables.md
    python plot_all_models.py --root=out --suffix=_wd          # the *_wd runs -> grid_math_wd.png, tables_wd.md
    python plot_all_models.py --root=results --out=results     # the committed figures, regenerated (as committed)

Needs only each run's results.csv and run.json (and margins.csv for the margin
column). A run not there (yet) is an empty "not run" panel and a dash in the tables.
"""
import math
import sys
from pathlib import Path

import numpy as np

from configurator import FAILURES, exit_with_error, parse_args
from toobig.reports.figures import DASH, format_params, make_figure
from toobig.core.files import write_atomically
from toobig.runs.reading import (best_row, heldout_share_late, heldout_values, is_committed, load_run, read_item_table,
                                  selected_row)
from toobig.study.tasks import PAPER_MODELS, TASKS, task_named

DEFAULTS = dict(
    root="out",      # the folder holding the run folders ({math,facts,both}_{mini_14,mini_28,mini_56,mlt}{suffix})
    out="",          # where the figures and tables.md go; "" = the --root folder (output_folder)
    suffix="",       # run-name suffix, e.g. _wd; also added to the output names
)
PARTS = {"addition": "add", "subtraction": "sub", "facts": "facts"}
FIGURES = Path("out") / "figures"  # the default --out where the --root folder is the committed results


def output_folder(root, out):
    """Where the figures go: --out where given, else the --root folder beside the runs drawn,
    except the repository's committed results/ (reading.is_committed): its figures are
    rewritten only where --out names it, and otherwise go to FIGURES."""
    if out:
        return Path(out)
    return FIGURES if is_committed(root) else Path(root)


def not_run(root, runs, suffix):
    """The run folders a grid lacks (drawn "not run"): missing, or without an evaluation in results.csv."""
    return [str(Path(root) / f"{name}_{PAPER_MODELS[model]}{suffix}") for (name, model), run in runs.items()
            if run is None]


def load_runs(root, suffix):
    """{(task name, model): run or None} for the twelve runs of one variant."""
    return {(task.name, model): load_run(Path(root) / f"{task.name}_{run_name}{suffix}")
            for task in TASKS.values() for model, run_name in PAPER_MODELS.items()}


def grid_figure(runs, name, suffix=""):
    """The 2x2 figure of one task (math, facts or both); returns the matplotlib Figure."""
    title = task_named(name).title + (f" (runs *{suffix})" if suffix else "")
    return make_figure([(model, runs[name, model]) for model in PAPER_MODELS], title, 2, 2, figsize=(10, 8))


def cell(results, i, column):
    """Our value of one table column at evaluation i, written like the paper's."""
    if column == "(5,7)":
        correct, total = results["heldout_correct"][i], results["heldout_total"][i]
        return f"{correct:.0f}/{total:.0f}" if total > 0 else DASH
    if column == "combined":
        return f"{100 * results['combined_acc'][i]:.1f}%"
    correct, total = results[f"{PARTS[column]}_correct"][i], results[f"{PARTS[column]}_total"][i]
    return f"{100 * correct / total:.1f}%" if total > 0 else DASH


def unselected_cells(run, task):
    """The columns beside the paper's: what a run shows without choosing an evaluation on the
    held-out four (reading.PROTOCOLS), and the four's smallest logit margin at the best and the
    last evaluation where margins.csv has them."""
    r = run["results"]
    if "math" not in task.parts:
        return [cell(r, selected_row(r, "last"), "facts")]
    j = selected_row(r, "train_best")
    share = heldout_share_late(r, run["config"]["max_iters"])
    cells = [f"{r['iter'][j]:.0f}", cell(r, j, "(5,7)"), cell(r, selected_row(r, "last"), "(5,7)"),
             DASH if math.isnan(share) else f"{100 * share:.0f}%"]
    margins = read_item_table(run["folder"], "margins.csv")
    shown = []
    for protocol in ("best", "last"):
        found = [] if margins is None else np.flatnonzero(margins[0] == r["iter"][selected_row(r, protocol)])
        shown.append(f"{min(heldout_values(margins, run['config']['held_out'], found[0])):+.2f}" if len(found) else DASH)
    return cells + [" / ".join(shown)]


def unselected_header(task):
    if "math" not in task.parts:
        return ["facts, last"]
    return ["train-best iter", "(5,7), train-best", "(5,7), last", "(5,7) share, 2nd half",
            "(5,7) min margin, best / last"]


def tables_markdown(runs, suffix=""):
    lines = [f"# Tables 2-4{f' (runs *{suffix})' if suffix else ''}", "",
             "Up to the `(paper)` columns, each entry is the evaluation with the best combined accuracy over the "
             "run (ties: the earliest), at iteration `best iter`: the paper's protocol, which chooses the "
             "evaluation with the held-out (5,7) four included; `(paper)` columns are Barron & White (2025), "
             "docs/STUDY.md §5."
             + (" The paper reports numbers for its main runs only, so beside these runs they are a reference, "
                "not the same experiment." if suffix else "")
             + " The columns after them choose nothing on the held-out four: the evaluation with the best "
             "accuracy on the training items alone (`train-best iter`; ties: the earliest), the last "
             "evaluation, the share of held-out samples right over the second half of training, and the "
             "smallest of the four's logit margins (right answer's logit minus the best wrong one, per answer "
             "token; > 0: greedy decoding answers all four right) at the best and the last evaluation.", ""]
    for task in TASKS.values():
        header = ["model", "params", "params (paper)", "best iter"]
        header += [name for column in task.columns for name in (column, f"{column} (paper)")]
        header += unselected_header(task)
        lines += [f"## {task.table}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        unfinished = []
        for model in PAPER_MODELS:
            run, paper = runs[task.name, model], task.paper[model]
            i = None if run is None else best_row(run["results"])
            if i is None:
                ours = [DASH] * (len(task.columns) + 2)
                unselected = [DASH] * len(unselected_header(task))
            else:
                # a run still training, or stopped early, is marked: its best may yet change
                mark = "*" if run["info"].get("finished") is False else ""
                if mark:
                    max_iters = run["config"]["max_iters"]
                    unfinished.append(f"{model} to iteration {run['results']['iter'][-1]:,.0f} of {max_iters:,}")
                ours = [format_params(run["info"].get("n_params")), f"{run['results']['iter'][i]:.0f}{mark}"]
                ours += [cell(run["results"], i, column) for column in task.columns]
                unselected = unselected_cells(run, task)
            row = [model, ours[0], paper[0], ours[1]] + [v for pair in zip(ours[2:], paper[1:]) for v in pair]
            row += unselected
            lines.append("| " + " | ".join(row) + " |")
        if unfinished:
            lines += ["", f"\\* run not finished ({'; '.join(unfinished)}): the best of its evaluations so far."]
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    try:
        config = parse_args(DEFAULTS, sys.argv[1:] if argv is None else argv, allow_config_files=False)
        root, suffix = Path(config["root"]), config["suffix"]
        out = output_folder(root, config["out"])
        if not root.is_dir():
            raise ValueError(f"--root={root} is not a folder; train a run first (training writes under out/), or "
                             f"give --root=results for the committed runs")
        runs = load_runs(root, suffix)
        if not any(runs.values()):
            raise ValueError(f"--root={root} holds none of the paper's runs (named like math_mini_14{suffix})")
        out.mkdir(parents=True, exist_ok=True)
        for task in TASKS.values():
            grid_figure(runs, task.name, suffix).savefig(out / f"{task.figure}{suffix}.png")
        write_atomically(out / f"tables{suffix}.md", tables_markdown(runs, suffix))
    except FAILURES as e:
        exit_with_error(e)
    missing = not_run(root, runs, suffix)
    print(f"wrote {out}/grid_{{math,facts,combined}}{suffix}.png and {out / f'tables{suffix}.md'} "
          f"from {len(runs) - len(missing)} of {len(runs)} runs under {root}")
    if missing:
        print(f"drawn as \"not run\" and dashes in the tables, {len(missing)} run folder(s) without an evaluation "
              f"(no folder, or no row in its results.csv): {', '.join(missing)}")


if __name__ == "__main__":
    main()
