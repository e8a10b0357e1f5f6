"""
Issue 39, item 4: which widths a capacity reading predicts will generalize on a table the paper never
trained (tasks.OPERATION_TASKS), from measured capacities alone, fixed before that table's runs.

The reading: a width generalizes while its capacity leaves little room beyond what its table asks
as a lookup; with room to spare it stores the table instead. The bits a width stores of a random
table of the real table's size cannot carry this reading: n28 stores 99% of the random table of 200
lines (954 of 961 bits, seeds 1-3) and n20 as much of the 100 lines' (475 of 481), yet on the
paper's table n20 generalizes in part and n28 does not. Its capacity can: C_w, the most width w stores over random tables of growing size
(capacity_summary.width_capacity, 95% t interval over seeds), against B, the bits the table asks
as a lookup (capacity_summary.math_lookup_bits' two measures). The headroom of width w on a task is

    R_w = C_w / B        (mean: C's mean over the mean of B's two measures; interval: C's
                          interval against B's far ends; a capacity whose plateau was not
                          reached is a lower bound, so its interval has no upper end)

Calibrated on the paper's table (B = 791-942 bits), whose width sweep has n20 still answering the
held-out sums (CALIBRATION's last_generalizing) and n28 never (first_not): generalization ends where
R crosses the band [R_20, R_28]. On the new table, a width is predicted to generalize where its whole
headroom interval lies below the band, not to where it lies wholly above it, and is undecided (named
in advance, counted neither way) otherwise.
"""
import math
from pathlib import Path

from toobig.analysis.capacity_summary import by_width, math_lookup_bits, width_capacity

CALIBRATION = {"last_generalizing": 20, "first_not": 28}  # the paper's table: its width sweep's window ends between
CLASSES = ("generalizes", "undecided", "does not")


def capacities(rows):
    """{n_embd: (n_params, width_capacity's dict)} for the random_math widths among `rows` (finished runs)."""
    return {n_embd: (n_params, width_capacity(tables))
            for (task, n_embd, n_params), tables in by_width(rows).items() if task == "random_math"}


def headroom(capacity, lookup_bits):
    """(mean, low, high) of a width's capacity (width_capacity's dict) over `lookup_bits` = (low, high);
    high is inf where the plateau was not reached (a lower bound)."""
    low = capacity["bits"] if math.isnan(capacity["low"]) else capacity["low"]
    high = capacity["bits"] if math.isnan(capacity["high"]) else capacity["high"]
    return (capacity["bits"] / (sum(lookup_bits) / 2), low / lookup_bits[1],
            high / lookup_bits[0] if capacity["reached"] else math.inf)


def predict(rows, lookup_bits, calibration=CALIBRATION):
    """The prediction for a table asking `lookup_bits` = (low, high) bits as a lookup: {'band': (R of
    the last generalizing width, R of the first that does not) on the paper's table, 'widths':
    [{'n_embd', 'n_params', 'capacity' (width_capacity's dict), 'paper': R on the paper's table
    (mean), 'headroom': (mean, low, high) on the new table, 'class': one of CLASSES}]} over every
    random_math width among `rows`. Raises ValueError where a calibration width has no finished runs
    or no plateau (a lower bound cannot place the band), or where the band is empty."""
    found, paper_bits = capacities(rows), math_lookup_bits()
    edges = []
    for key in ("last_generalizing", "first_not"):
        n_embd = calibration[key]
        if n_embd not in found or not found[n_embd][1]["reached"]:
            what = "has no finished random_math runs" if n_embd not in found else "has not reached its plateau"
            raise ValueError(f"the calibration needs n{n_embd}'s capacity, and n{n_embd} {what}: run tools/sweep.py "
                             f"--task=random_math --sizes={n_embd} on tables past its plateau "
                             f"(docs/CAPACITY_PLAN.md)")
        edges.append(headroom(found[n_embd][1], paper_bits)[0])
    if edges[0] >= edges[1]:
        raise ValueError(f"n{calibration['first_not']}'s headroom on the paper's table ({edges[1]:.2f}) is no more "
                         f"than n{calibration['last_generalizing']}'s ({edges[0]:.2f}): no band to place a crossing in")
    widths = []
    for n_embd, (n_params, capacity) in found.items():
        mean, low, high = headroom(capacity, lookup_bits)
        kind = "generalizes" if high < edges[0] else "does not" if low > edges[1] else "undecided"
        widths.append({"n_embd": n_embd, "n_params": n_params, "capacity": capacity,
                       "paper": headroom(capacity, paper_bits)[0], "headroom": (mean, low, high), "class": kind})
    return {"band": tuple(edges), "widths": widths}


def prediction_table(prediction, lookup_bits, title):
    """The prediction as markdown (a pre-registration's inputs; tools/capacity.py --predict writes it)."""
    low_edge, high_edge = prediction["band"]
    paper = math_lookup_bits()
    lines = [f"Headroom R = a width's capacity (the most it stores of a random table, over table sizes) / the bits a "
             f"table asks as a lookup. Band, on the paper's table ({paper[0]:,.0f}-{paper[1]:,.0f} bits): "
             f"R(n{CALIBRATION['last_generalizing']}) = {low_edge:.2f} to R(n{CALIBRATION['first_not']}) = "
             f"{high_edge:.2f}. {title}: {lookup_bits[0]:,.0f}-{lookup_bits[1]:,.0f} bits.", "",
             "| width | params | capacity, bits [95% t] | plateau | R on the paper's table | R on the new table "
             "[interval] | predicted |", "|---|---|---|---|---|---|---|"]
    for w in prediction["widths"]:
        capacity = w["capacity"]
        mean, low, high = w["headroom"]
        shown = "–" if math.isnan(capacity["low"]) else f"{capacity['low']:,.0f}-{capacity['high']:,.0f}"
        lines.append(f"| n{w['n_embd']} | {w['n_params']:,} | {capacity['bits']:,.0f} [{shown}] | "
                     f"{'reached' if capacity['reached'] else 'not reached: a lower bound'} | {w['paper']:.2f} | "
                     f"{mean:.2f} [{low:.2f}-{'∞' if math.isinf(high) else f'{high:.2f}'}] | {w['class']} |")
    return "\n".join(lines) + "\n"


def read_prediction_classes(path):
    """{n_embd: class} from a prediction file prediction_table wrote (results/capacity/prediction_<task>.md):
    what was committed before the runs, to hold a later reading of the capacities to. Raises
    ValueError for a file without the table."""
    classes = {}
    for line in Path(path).read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[0].startswith("n") and cells[0][1:].isdigit():
            classes[int(cells[0][1:])] = cells[6]
    if not classes:
        raise ValueError(f"{path} holds no prediction table (tools/capacity.py --predict writes one)")
    return classes
