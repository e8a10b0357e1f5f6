"""
Capacity in bits (issue 39): how many bits each run on a random-answer table (random_math,
random_facts: toobig/study/tasks.py RANDOM_TASKS) stores of it, and each width's capacity, the
most it stores over the table sizes, as Morris et al. (2025, arXiv 2505.24832) measure it.

    python tools/capacity.py out/capacity_n14 out/capacity_n28 --out=out/capacity     # sweep folders
    python tools/capacity.py out/random_math_n14_t800 out/random_math_n14_t1600       # run folders

For every run folder given, and every run folder inside a sweep folder given, the bits its
weights at the end of training (--ckpt, model_last.pt) store: per answer max(0, H - L), H the
answer's information, L the model's teacher-forced code length of it, summed over the table
(toobig/study/memorization.py). Writes to --out capacity.csv (one row per run: width, parameters,
seed, table size, the table's bits, the code length, bits stored, bits per parameter),
capacity.md (a table per width with a 95% t interval over seeds, and each width's capacity) and
capacity.png (bits stored against parameters on log axes, with 3.6 and 2 bits per parameter and
the bits the paper's own tasks ask), and prints capacity.md. Partial runs are listed in the
CSV and left out of the tables and the figure.

    python tools/capacity.py out/capacity/n* --predict=math_add    # and issue 39's prediction
    python tools/capacity.py out/capacity/n* --window=results/sweeps/math/summary.csv   # the figure's window

--predict=math_add (or math_sub) also writes prediction_<task>.md (once: it refuses a folder that has
one, since a prediction is committed before its runs): each width's headroom on that
one-operation table (its capacity over the bits the table asks as a lookup) against the band the
paper's table sets (toobig/analysis/capacity_prediction.py), and so which widths the capacity
reading predicts will generalize on it. --window marks on capacity.png the widths of an arithmetic
width sweep that answer the held-out four (capacity_summary.generalization_window). --facts sets,
in capacity.md, each width's capacity on random capitals beside its share of the paper's 50 facts
from a facts width sweep (capacity_summary.facts_against_capacity).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the root, for python tools/<tool>.py from anywhere

import toobig  # noqa: F401  first, before torch: it pins the CPU kernels every run uses (toobig/core/reproducible.py)

from configurator import exit_with_error, parse_args
from toobig.analysis.capacity_prediction import predict, prediction_table
from toobig.analysis.capacity_summary import (capacity_folders, capacity_row, capacity_tables, facts_accuracies,
                                              generalization_window, math_lookup_bits)
from toobig.core.devices import MACHINE_ERRORS, pick_device
from toobig.core.files import write_atomically
from toobig.runs.reading import read_summary
from toobig.study.tasks import OPERATION_TASKS
from toobig.reports.capacity_report import write_capacity_report

OPTIONS = dict(
    out="out/capacity",    # the folder for capacity.csv, capacity.md and capacity.png
    ckpt="model_last.pt",  # the weights scored in each run folder: the end of training (model_best.pt: the best evaluation)
    device="cpu",          # where the forwards run (auto: cuda, then mps, then cpu)
    predict="",            # a one-operation table (math_add, math_sub): write prediction_<task>.md too
    window="",             # an arithmetic width sweep's summary.csv: mark its generalization window on the figure
    facts="",              # a facts width sweep's summary.csv: set the random capitals beside the real facts in capacity.md
)


def main(argv=None):
    paths = []
    try:
        options = parse_args(OPTIONS, sys.argv[1:] if argv is None else argv, positional=paths)
        if Path(options["ckpt"]).name != options["ckpt"] or not options["ckpt"].endswith(".pt"):
            raise ValueError(f"--ckpt={options['ckpt']!r} names a file inside each run folder, e.g. model_last.pt")
        tasks = {task.name: task for task in OPERATION_TASKS.values()}
        if options["predict"] and options["predict"] not in tasks:
            raise ValueError(f"--predict={options['predict']!r} is not a one-operation table; choose "
                             f"{' or '.join(tasks)}")
        device = pick_device(options["device"])
        if not paths:
            raise ValueError("name run folders or sweep folders of runs on random_math or random_facts, e.g. "
                             "python tools/capacity.py out/capacity_n14")
        window = None
        if options["window"]:
            if not Path(options["window"]).is_file():
                raise ValueError(f"--window={options['window']} is not a file; give a width sweep's summary.csv, "
                                 f"e.g. results/sweeps/math/summary.csv")
            window = generalization_window(read_summary(options["window"]))
        facts_rows = ()
        if options["facts"]:
            if not Path(options["facts"]).is_file():
                raise ValueError(f"--facts={options['facts']} is not a file; give a facts width sweep's summary.csv, "
                                 f"e.g. results/sweeps/facts/summary.csv")
            facts_rows = read_summary(options["facts"])
            try:  # refuses another sweep's rows before any run is read
                facts_accuracies(facts_rows)
            except ValueError as e:
                raise ValueError(f"--facts={options['facts']}: {e}") from None
        prediction_path = Path(options["out"]) / f"prediction_{options['predict']}.md"
        if options["predict"] and prediction_path.exists():  # a prediction is committed before its runs: never rewritten
            raise ValueError(f"{prediction_path} exists, and a prediction is written once, before its runs; give "
                             f"another --out, or leave out --predict")
        rows = [capacity_row(folder, options["ckpt"], device) for folder in capacity_folders(paths)]
        if facts_rows and not any(r["task"] == "random_facts" and r["finished"] for r in rows):
            raise ValueError(f"--facts={options['facts']} sets random capitals beside the real facts, and none of the "
                             f"runs given is a finished random_facts run")
        table = ""
        if options["predict"]:  # before anything is written: a prediction that cannot be made writes nothing
            task = tasks[options["predict"]]
            bits = math_lookup_bits(operations=task.operations)
            table = prediction_table(predict(rows, bits), bits, task.title)
        paths = write_capacity_report(rows, options["out"], window=window, facts_rows=facts_rows)
        print(capacity_tables(rows, facts_rows), end="")
        if table:
            paths.append(prediction_path)
            write_atomically(prediction_path, f"# Capacity prediction: {task.title.lower()}\n\n" + table)
            print(table, end="")
    except (ValueError, *MACHINE_ERRORS) as e:
        exit_with_error(e)
    print(f"wrote {', '.join(map(str, paths))} from {len(rows)} runs ({sum(r['finished'] for r in rows)} finished)")


if __name__ == "__main__":
    main()
