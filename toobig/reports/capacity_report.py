"""
Capacity in bits (issue 39): the figure of bits stored against parameters and the files a
capacity report is written to (capacity.csv, capacity.md, capacity.png), from the rows of
toobig/analysis/capacity_summary.py; tools/capacity.py and tools/sweep.py (for the random-answer
tasks) write them.
"""
import csv
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures go to files, never to a window
import numpy as np
from matplotlib.figure import Figure

from toobig.analysis.capacity_summary import (
    ALLEN_ZHU_LI_BITS_PER_PARAM,
    CAPACITY_COLUMNS,
    MORRIS_BITS_PER_PARAM,
    by_width,
    capacity_tables,
    task_bits,
    width_capacity,
)
from toobig.core.files import write_atomically, write_figure

TASK_STYLES = {"random_math": dict(color="tab:blue", marker="o"), "random_facts": dict(color="tab:green", marker="s")}


def capacity_figure(rows, title, window=None):
    """Bits stored against parameters, both on log axes: every finished run (small), each width's
    capacity (capacity_summary.width_capacity: large, its 95% interval over seeds; hollow where it
    is a lower bound), the two anchors as lines of bits per parameter (Morris et al. 2025: 3.6;
    Allen-Zhu & Li 2024: 2), the bits the paper's tasks ask as pairs of lines (capacity_summary.task_bits),
    and, where `window` = (low, high) parameters is given, the width sweep's generalization window."""
    fig = Figure(figsize=(8, 5.5), dpi=120)
    ax = fig.subplots()
    finished = [row for row in rows if row["finished"]]
    for (task, _, n_params), tables in by_width(finished).items():
        style = TASK_STYLES.get(task, dict(color="0.3", marker="D"))
        runs = [row["bits_stored"] for group in tables.values() for row in group]
        ax.scatter([n_params] * len(runs), runs, s=10, alpha=0.35, color=style["color"], marker=style["marker"])
        best = width_capacity(tables)
        error = None if np.isnan(best["low"]) else [[best["bits"] - best["low"]], [best["high"] - best["bits"]]]
        ax.errorbar(n_params, best["bits"], yerr=error, ms=8, capsize=3, ls="none", color=style["color"],
                    marker=style["marker"], mfc=style["color"] if best["reached"] else "white")
    for task, style in TASK_STYLES.items():  # one legend entry per task shown
        if any(row["task"] == task for row in finished):
            ax.plot([], [], ls="none", ms=8, label=f"{task}: capacity (hollow: lower bound), runs small", **style)
    params = np.array(sorted({row["n_params"] for row in rows} or {100, 100_000}), dtype=float)
    span = np.geomspace(params.min() / 2, params.max() * 2, 50)
    for per_param, source, ls in ((MORRIS_BITS_PER_PARAM, "Morris et al. 2025", "-"),
                                  (ALLEN_ZHU_LI_BITS_PER_PARAM, "Allen-Zhu & Li 2024", "--")):
        ax.plot(span, per_param * span, color="0.25", ls=ls, lw=1, label=f"{per_param:g} bits per parameter ({source})")
    for (what, (low, high)), color in zip(task_bits().items(), ("tab:purple", "tab:olive")):
        ax.axhline(low, color=color, lw=1.2, ls=":")
        ax.axhline(high, color=color, lw=1.2, label=f"{what}: {low:,.0f} (dotted) to {high:,.0f} bits")
    if window:
        ax.axvspan(*window, color="tab:red", alpha=0.08, label="generalization window (width sweep)")
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=10)  # logarithmic above 10 bits; a run that stores nothing still shows, at 0
    ax.set_ylim(bottom=0)
    ax.set_xlabel("parameters (log scale)")
    ax.set_ylabel("bits stored (log scale above 10)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="lower right")  # below the diagonal, where bits stored per parameter are fewest
    fig.tight_layout()
    return fig


def capacity_csv(rows):
    """capacity.csv's text: one row per run, CAPACITY_COLUMNS, by task, width, table size and seed."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=CAPACITY_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda r: (r["task"], r["n_params"], r["table_size"], r["table_seed"],
                                                 r["seed"], r["run"])))
    return text.getvalue()


def write_capacity_report(rows, out, title="Capacity in bits", window=None, facts_rows=()):
    """capacity.csv, capacity.md (capacity_summary.capacity_tables, with the facts sweep's summary
    rows where given) and capacity.png (capacity_figure, with the
    generalization `window` where given) in the folder `out`, each written whole; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in ("capacity.csv", "capacity.md", "capacity.png")]
    write_atomically(paths[0], capacity_csv(rows))
    write_atomically(paths[1], capacity_tables(rows, facts_rows))
    write_figure(capacity_figure(rows, title, window), paths[2])
    return paths
