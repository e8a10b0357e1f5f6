"""
The figures of single runs, shared by plot_results.py (one run) and
plot_all_models.py (the paper's 2x2 grids): a run's panel (accuracies over the
iterations, the train loss on a second axis, a red marker wherever the
held-out four are all right), every item over the iterations (items.png) and
the held-out four's logit margins (margins.png). Needs no checkpoint and no torch.
"""
import re

import matplotlib

matplotlib.use("Agg")  # figures go to files, never to a window
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

from toobig.runs.reading import first_learned, training_expressions
from toobig.study.tasks import PAPER_HELD_OUT, held_out_expressions, held_out_label
from toobig.study.training_config import DEFAULTS as TRAINING

DASH = "–"  # what a figure or table shows for a run, or a value, that does not exist
MAX_ITERS = TRAINING["max_iters"]  # the x range of a panel whose run.json does not say
HELD_OUT_MARKERS = "held-out four all right"  # the style of the markers; the legend names the run's pair
# One style per curve, used by every panel and by the legend, so all figures read alike.
STYLES = {
    "addition": dict(color="tab:blue", lw=1.6),
    "subtraction": dict(color="tab:orange", lw=1.6),
    "facts": dict(color="tab:green", lw=1.6),
    "train loss": dict(color="0.35", lw=1.0, ls="--"),
    HELD_OUT_MARKERS: dict(color="red", ls="none", marker="v", ms=5),
}


def format_params(n):
    """1456 -> 1.46k, 10628352 -> 10.63M: the paper's way of writing sizes."""
    if not isinstance(n, int) or isinstance(n, bool):
        return DASH
    if n >= 1_000_000:
        return f"{n / 1e6:.2f}M"
    return f"{n / 1e3:.2f}k" if n >= 1000 else str(n)


def model_label(name):
    """The paper's name of a model from a run folder name: both_mini_28_wd -> n28, math_mlt -> MLT."""
    match = re.search(r"mini_(\d+)", name)
    if match:
        return f"n{match.group(1)}"
    return "MLT" if "mlt" in name else name


def panel_title(label, run):
    if run is None:
        return label
    # a run stopped early says so, beside curves that end short of the axis
    stopped = "" if run["info"].get("finished") is not False else f", stopped at {run['results']['iter'][-1] / 1000:g}k"
    return f"{label} ({format_params(run['info'].get('n_params'))} params{stopped})"


# --- drawing ------------------------------------------------------------------
def draw_panel(ax, run, title):
    """One run on ax: accuracies in %, the train loss on a twin axis, markers where
    (5,7) is all right. Returns the names of the curves drawn, for the figure's legend."""
    ax.set_title(title)
    ax.set_ylim(-3, 110)
    ax.set_yticks(range(0, 101, 20))
    ax.grid(alpha=0.3)
    spec = ax.get_subplotspec()  # label only the outer sides of a grid
    if spec.is_first_col():
        ax.set_ylabel("accuracy (%)")
    if spec.is_last_row():
        ax.set_xlabel("iteration")
    max_iters = MAX_ITERS if run is None else run["config"]["max_iters"]
    ax.set_xlim(0, max_iters)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))  # 0k, 5k, ..., 30k
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:g}k"))
    if run is None:
        ax.text(0.5, 0.5, "not run", transform=ax.transAxes, ha="center", va="center", fontsize=14, color="0.5")
        return []
    r, drawn = run["results"], []
    for name, part in (("addition", "add"), ("subtraction", "sub"), ("facts", "facts")):
        total = r[f"{part}_total"]
        if (total > 0).any():  # NaN (a part the task lacks) compares False
            ax.plot(r["iter"], 100 * r[f"{part}_correct"] / total, **STYLES[name])
            drawn.append(name)
    all_right = (r["heldout_total"] > 0) & (r["heldout_correct"] == r["heldout_total"])
    if all_right.any():  # markers above the 100% line, where no curve hides them
        ax.plot(r["iter"][all_right], np.full(all_right.sum(), 105.0), **STYLES[HELD_OUT_MARKERS])
        drawn.append(HELD_OUT_MARKERS)
    loss_ax = ax.twinx()
    loss_ax.plot(r["iter"], r["train_loss"], **STYLES["train loss"])
    loss_ax.set_ylim(bottom=0)
    if spec.is_last_col():
        loss_ax.set_ylabel("train loss")
    return drawn + ["train loss"]


def make_figure(panels, title, nrows=1, ncols=1, figsize=(8, 5)):
    """A figure of (label, run) panels with one shared legend; returns the Figure."""
    fig = Figure(figsize=figsize, dpi=120)
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).flat
    drawn = set()
    for ax, (label, run) in zip(axes, panels):
        drawn.update(draw_panel(ax, run, panel_title(label, run)))
    names = [name for name in STYLES if name in drawn]
    pairs = {run["config"]["held_out"] for _, run in panels if run is not None}
    shown = {HELD_OUT_MARKERS: f"{held_out_label(pairs.pop())} all right" if len(pairs) == 1 else HELD_OUT_MARKERS}
    fig.legend([Line2D([], [], **STYLES[name]) for name in names], [shown.get(name, name) for name in names],
               loc="lower center", ncol=max(len(names), 1), frameon=False)
    fig.suptitle(title, fontsize=13)
    fig.tight_layout(rect=(0, 0.05, 1, 1))  # leave the bottom strip to the legend
    return fig



def items_figure(iters, names, counts, samples, title, held_out=PAPER_HELD_OUT):
    """Every item (rows) at every evaluation (columns), shaded by its right samples,
    sorted by when it is first all right: what is learned first, last, and what comes
    and goes. The held-out four are labelled in red."""
    withheld = {f"{a}{op}{b}" for a, op, b in held_out_expressions(held_out)}
    order = np.lexsort((-counts.mean(axis=1), first_learned(counts, samples)))
    fig = Figure(figsize=(10, max(4.0, 0.055 * len(names) + 1.5)), dpi=120)
    ax = fig.subplots()
    half = (iters[-1] - iters[0]) / max(len(iters) - 1, 1) / 2  # each column centred on its evaluation
    image = ax.imshow(counts[order], aspect="auto", interpolation="nearest", cmap="Greens", vmin=0, vmax=samples,
                      extent=(iters[0] - half, iters[-1] + half, len(names) - 0.5, -0.5))
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels([names[i] for i in order], fontsize=4)
    for label in ax.get_yticklabels():
        if label.get_text() in withheld:
            label.set_color("red")
            label.set_fontweight("bold")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:g}k"))
    ax.set_xlabel("iteration")
    ax.set_ylabel("item, by the first evaluation with all samples right")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01, label=f"right samples (of {samples})")
    fig.tight_layout()
    return fig


def margins_figure(table, held_out, title, operations="+-"):
    """The held-out four's logit margins over training (> 0: greedy decoding answers it
    right), beside the spread of the training expressions' margins: how close a model is
    to the rule, not only whether it crosses it (the two of one operation for a one-operation
    table: `operations`, tasks.task_operations). A run scored only from its saved weights
    (tools/margins.py) has two evaluations: best and last."""
    iters, names, values = table
    fig = Figure(figsize=(8, 4.5), dpi=120)
    ax = fig.subplots()
    index = {name: i for i, name in enumerate(names)}
    training = values[[index[n] for n in training_expressions(held_out, operations)]]
    style = "-" if len(iters) > 2 else "o"
    ax.fill_between(iters, np.percentile(training, 10, axis=0), np.percentile(training, 90, axis=0), color="0.85",
                    label="training expressions, 10th-90th percentile")
    ax.plot(iters, np.median(training, axis=0), style, color="0.5", lw=1, label="training expressions, median")
    for k, (a, op, b) in enumerate(held_out_expressions(held_out, operations)):
        ax.plot(iters, values[index[f"{a}{op}{b}"]], style, color=f"C{k}", lw=1.3, label=f"{a}{op}{b} (held out)")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("iteration")
    ax.set_ylabel("logit margin of the right answer")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:g}k"))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))  # the bottom strip for the legend
    return fig
