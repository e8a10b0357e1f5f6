"""
Issue 39, item 4: which widths a capacity reading predicts will generalize on a table the paper never
trained (tasks.OPERATION_TASKS), from measured capacities alone, fixed before that table's runs.

The reading: a width generalizes while it cannot hold its table as a lookup. What it can hold of a
table of T lines, at the exposures the schedule gives T lines, is measured: S_w(T), the bits it stores
of a random table of T lines (capacity_summary; random_math, three seeds). What the table asks as a
lookup is B (capacity_summary.math_lookup_bits' two measures). The fill of width w on a task is

    F_w = S_w(T) / B        (mean over seeds / the mean of B's two measures;
                             interval: S's 95% t interval over seeds against B's far ends)

Calibrated on the paper's table (T = 200, B = 791-942 bits), whose width sweep has n20 still
answering the held-out sums (last_generalizing) and n28 never (first_not): the window ends where F
crosses the band [F_20, F_28] of the paper's table. On the new table (T = 100 for a one-operation
table's 98 lines) a width is predicted to generalize where its whole fill interval lies below the
band, not to where it lies wholly above, and is undecided (named, counted neither way) otherwise.
"""
import math

from toobig.analysis.capacity_summary import by_width, math_lookup_bits
from toobig.core.stats import t_interval

CALIBRATION = {"table_size": 200, "last_generalizing": 20, "first_not": 28}  # the paper's table, its width sweep
CLASSES = ("generalizes", "undecided", "does not")


def fill(rows, n_embd, table_size, lookup_bits):
    """(mean, low, high): width n_embd's bits stored on the random_math table of `table_size` lines
    over `lookup_bits` = (low, high), the bits a real table asks; low and high pair the 95% t interval
    over seeds with the far ends of lookup_bits. None where the width has no finished run there."""
    for (task, width, _), tables in by_width(rows).items():
        if task == "random_math" and width == n_embd and table_size in tables:
            mean, low, high = t_interval([row["bits_stored"] for row in tables[table_size]])
            if math.isnan(low):
                low = high = mean
            return mean / (sum(lookup_bits) / 2), low / lookup_bits[1], high / lookup_bits[0]
    return None


def predict(rows, table_size, lookup_bits, calibration=CALIBRATION):
    """The prediction for a table of `table_size` lines asking `lookup_bits` = (low, high) bits:
    {'band': (F of the last generalizing width, F of the first that does not) on the paper's table,
    'widths': [{'n_embd', 'n_params', 'paper': F on the paper's table or None, 'fill': (mean, low, high),
    'class': one of CLASSES}]}, over every width with finished runs of `table_size` lines. Raises
    ValueError where the calibration's widths lack runs of the paper's table size, or where the band
    is empty (the larger width fills less)."""
    paper_bits, paper_size = math_lookup_bits(), calibration["table_size"]
    edges = []
    for key in ("last_generalizing", "first_not"):
        found = fill(rows, calibration[key], paper_size, paper_bits)
        if found is None:
            raise ValueError(f"the calibration needs finished random_math runs of n{calibration[key]} on "
                             f"{paper_size} lines; run tools/sweep.py --task=random_math "
                             f"--sizes={calibration[key]} --table_sizes={paper_size}")
        edges.append(found[0])
    if edges[0] >= edges[1]:
        raise ValueError(f"n{calibration['first_not']} fills {edges[1]:.2f} of the paper's table, no more than "
                         f"n{calibration['last_generalizing']}'s {edges[0]:.2f}: no band to place a crossing in")
    widths = []
    for (task, n_embd, n_params), tables in by_width(rows).items():
        if task != "random_math" or table_size not in tables:
            continue
        mean, low, high = fill(rows, n_embd, table_size, lookup_bits)
        paper = fill(rows, n_embd, paper_size, paper_bits)
        kind = "generalizes" if high < edges[0] else "does not" if low > edges[1] else "undecided"
        widths.append({"n_embd": n_embd, "n_params": n_params, "paper": paper and paper[0],
                       "fill": (mean, low, high), "class": kind})
    return {"band": tuple(edges), "widths": widths}


def prediction_table(prediction, table_size, lookup_bits, title):
    """The prediction as a markdown table (a pre-registration's inputs, written by tools/capacity.py)."""
    low_edge, high_edge = prediction["band"]
    lines = [f"Fill F = bits stored on the random table of the same size / the bits the real table asks as a "
             f"lookup. Band from the paper's table (200 lines, {math_lookup_bits()[0]:,.0f}-"
             f"{math_lookup_bits()[1]:,.0f} bits): F(n{CALIBRATION['last_generalizing']}) = {low_edge:.2f} "
             f"to F(n{CALIBRATION['first_not']}) = {high_edge:.2f}. {title}: {table_size} lines, "
             f"{lookup_bits[0]:,.0f}-{lookup_bits[1]:,.0f} bits.", "",
             "| width | params | F on the paper's table | F on the new table [interval] | predicted |",
             "|---|---|---|---|---|"]
    for w in prediction["widths"]:
        mean, low, high = w["fill"]
        paper = "–" if w["paper"] is None else f"{w['paper']:.2f}"
        lines.append(f"| n{w['n_embd']} | {w['n_params']:,} | {paper} | {mean:.2f} [{low:.2f}-{high:.2f}] | "
                     f"{w['class']} |")
    return "\n".join(lines) + "\n"
