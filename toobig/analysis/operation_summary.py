"""
The one-operation tables (tasks.OPERATION_TASKS; issue 39's table the paper never trained): the
paper's arithmetic cut to addition alone or subtraction alone, half the answers to store under
the same rule. Per run, measures that select no evaluation: the held-out share over the second
half of training (its two held-out expressions), the training fit and the smaller held-out margin
at the end; per table, setting and width, the mean share over seeds with its 95% t interval
(operations.md).
"""
import csv
import io
import math
from pathlib import Path

import numpy as np

from toobig.core.stats import t_interval
from toobig.runs.reading import heldout_share_late, heldout_values, load_run, read_item_table, train_accuracy
from toobig.study.tasks import OPERATION_TASKS, held_out_expressions, task_operations

OPERATION_COLUMNS = ["run", "task", "n_embd", "n_params", "seed", "held_out", "weight_decay", "decay_gains",
                     "init_scale", "weight_norm", "max_iters", "iter", "finished", "heldout_share_late",
                     "heldout_right_last", "heldout_total_last", "train_acc_last", "min_heldout_margin_last"]
# how a run was trained beyond its table and width: runs that differ in one are never pooled (operation_table)
SETTING_KEYS = ("held_out", "weight_decay", "decay_gains", "init_scale", "weight_norm", "max_iters")


def operation_row(folder):
    """One row (OPERATION_COLUMNS) for a run folder of a one-operation table: heldout_share_late is the
    held-out samples right over the evaluations of the second half (NaN until the run is that far),
    train_acc_last and heldout_right_last the training items' share and the held-out samples right at
    the last evaluation, min_heldout_margin_last the smaller held-out logit margin there (margins.csv,
    matched by iteration; > 0: greedy decoding writes both; NaN without it). None for a folder
    without an evaluation. Raises ValueError for a run of another task."""
    run = load_run(folder)
    if run is None:
        return None
    r, config, info = run["results"], run["config"], run["info"]
    if config["dataset"] not in OPERATION_TASKS:
        raise ValueError(f"{folder} was trained on {config['dataset']}; this summary reads the one-operation "
                         f"tables ({', '.join(OPERATION_TASKS)})")
    margins = read_item_table(folder, "margins.csv")
    last = [] if margins is None else np.flatnonzero(margins[0] == r["iter"][-1])
    return {"run": Path(folder).name, "task": config["dataset"], "n_embd": config["n_embd"],
            "n_params": info.get("n_params"), "seed": config["seed"],
            **{key: config[key] for key in SETTING_KEYS}, "iter": int(r["iter"][-1]),
            "finished": bool(info.get("finished")), "heldout_share_late": heldout_share_late(r, config["max_iters"]),
            "heldout_right_last": int(r["heldout_correct"][-1]), "heldout_total_last": int(r["heldout_total"][-1]),
            "train_acc_last": float(train_accuracy(r)[-1]),
            "min_heldout_margin_last": (min(heldout_values(margins, config["held_out"], last[0],
                                                           task_operations(config["dataset"])))
                                        if len(last) else math.nan)}


def operation_csv(rows):
    """operations.csv's text: one line per run, in the order given."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=OPERATION_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def setting_label(row):
    """How a run was trained beyond its table and width, in words: 'weight decay 0.1 (gains too),
    init x0.5, 300,000 iterations'."""
    label = f"weight decay {row['weight_decay']:g}" + (" (gains too)" if row["decay_gains"] else "")
    if row["init_scale"] != 1.0:
        label += f", init x{row['init_scale']:g}"
    if row["weight_norm"]:
        label += f", norm held at {row['weight_norm']:g}"
    return label + f", {row['max_iters']:,} iterations"


def operation_table(rows):
    """operations.md: per table, held-out pair, setting and width, the finished seeds' held-out share
    over the second half (mean [95% t interval, clipped to 0-100%]), the seeds with any held-out
    sample right there, the training fit and the median of the smaller held-out margin at the end.
    Runs of different settings are never pooled."""
    lines = ["# One-operation tables", "",
             "Held-out share: the held-out expressions' samples right over every evaluation of the second half "
             "of training (none selected), per run, then the mean over the finished seeds [95% t interval]. "
             "Training accuracy and margins at the last evaluation (margin > 0: greedy decoding writes the "
             "answer).", "",
             "| table | held out | setting | width | params | seeds | held-out share, second half | seeds above 0 | "
             "training accuracy, last | smaller held-out margin, last (median) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    finished = [row for row in rows if row["finished"]]
    cells = {}
    for row in sorted(finished, key=lambda r: (r["task"], r["held_out"], setting_label(r), r["n_embd"], r["seed"])):
        cells.setdefault((row["task"], row["held_out"], setting_label(row), row["n_embd"]), []).append(row)
    for (task, held_out, setting, n_embd), group in cells.items():
        mean, low, high = t_interval([row["heldout_share_late"] for row in group])
        shown = f"{100 * mean:.0f}%" + ("" if math.isnan(low) else f" [{100 * max(low, 0):.0f}-{100 * min(high, 1):.0f}]")
        margins = [row["min_heldout_margin_last"] for row in group if not math.isnan(row["min_heldout_margin_last"])]
        names = ", ".join(f"{a}{op}{b}" for a, op, b in held_out_expressions(held_out, task_operations(task)))
        n_params = group[0]["n_params"]
        train = [100 * row["train_acc_last"] for row in group]
        lines.append(f"| {OPERATION_TASKS[task].title.lower()} | {names} | {setting} | n{n_embd} | "
                     f"{'–' if n_params is None else f'{n_params:,}'} | {len(group)} | {shown} | "
                     f"{sum(row['heldout_share_late'] > 0 for row in group)} of {len(group)} | "
                     f"{min(train):.1f}-{max(train):.1f}% | "
                     f"{f'{np.median(margins):+.2f}' if margins else '–'} |")
    if not cells:
        lines.append("| – | no finished run yet | | | | | | | | |")
    lines += ["", f"{len(finished)} of {len(rows)} runs finished."]
    return "\n".join(lines) + "\n"
