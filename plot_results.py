"""
One run's figure (STUDY.md §5): addition, subtraction and facts accuracy over the
iterations, the train loss on a second axis, and a red marker at every
evaluation where all the held-out samples (the paper's (5,7), or the run's pair) were right.

    python plot_results.py --model_folder=out/math_mini_14     # writes out/math_mini_14/plot.png

Needs only the run's results.csv and run.json, never a checkpoint. The reading
helpers and the panel live here and are shared with plot_all_models.py.
"""
import csv
import json
import math
import re
import sys
from pathlib import Path

import matplotlib
matplotlib.use("Agg")  # figures go to files, never to a window
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

from configurator import exit_with_error, parse_args
from run_folder import find_run_folder
from tasks import PAPER_HELD_OUT, TASKS, held_out_expressions, parse_held_out
from train_with_eval import DEFAULTS as TRAINING

DEFAULTS = dict(
    model_folder="",  # a run folder holding results.csv (and run.json), e.g. out/math_mini_14
)

DASH = "–"  # what a figure or table shows for a run, or a value, that does not exist
MAX_ITERS = TRAINING["max_iters"]  # the x range of a panel whose run.json does not say
HELDOUT = "(5,7) all right"  # the legend's name for the held-out markers of the paper's pair
# One style per curve, used by every panel and by the legend, so all figures read alike.
STYLES = {
    "addition": dict(color="tab:blue", lw=1.6),
    "subtraction": dict(color="tab:orange", lw=1.6),
    "facts": dict(color="tab:green", lw=1.6),
    "train loss": dict(color="0.35", lw=1.0, ls="--"),
    HELDOUT: dict(color="red", ls="none", marker="v", ms=5),
}
NEEDED = ("iter", "train_loss", "add_correct", "add_total", "sub_correct", "sub_total", "heldout_correct",
          "heldout_total", "facts_correct", "facts_total", "combined_acc")


# --- reading a run (shared with plot_all_models.py) ----------------------------
def read_results(path):
    """results.csv as {column: float array}; NaN where the task lacks the part (empty cell)."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        missing = [c for c in NEEDED if c not in columns]
        if missing:
            raise ValueError(f"{path} lacks the column(s) {', '.join(missing)}")
        rows = list(reader)
    try:
        return {c: np.array([math.nan if row[c] in ("", None) else float(row[c]) for row in rows], dtype=float)
                for c in columns}
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def read_run_json(path):
    """run.json as a dict; {} if the run has none (the figures then lack the parameter count)."""
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e})") from None
    if not isinstance(info, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return info


def load_run(folder):
    """{'name', 'results', 'info'} of a run folder, or None if it has no evaluation yet
    (no folder, no results.csv, or only its header): such a run is drawn as 'not run'."""
    folder = Path(folder)
    if not (folder / "results.csv").is_file():
        return None
    results = read_results(folder / "results.csv")
    if len(results["iter"]) == 0:
        return None
    return {"name": folder.name, "results": results, "info": read_run_json(folder / "run.json")}


def best_row(results):
    """Index of the evaluation with the best combined accuracy (STUDY.md §4), the earliest
    of equal ones; None if there is none."""
    combined = results["combined_acc"]
    if not np.isfinite(combined).any():
        return None
    return int(np.nanargmax(combined))  # argmax returns the first of equal maxima


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
    max_iters = MAX_ITERS if run is None else run["info"].get("config", {}).get("max_iters", MAX_ITERS)
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
        ax.plot(r["iter"][all_right], np.full(all_right.sum(), 105.0), **STYLES[HELDOUT])
        drawn.append(HELDOUT)
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
    pairs = {run["info"].get("config", {}).get("held_out", PAPER_HELD_OUT) for _, run in panels if run is not None}
    shown = {HELDOUT: f"({','.join(map(str, parse_held_out(pairs.pop())))}) all right" if len(pairs) == 1
             else "held-out four all right"}
    fig.legend([Line2D([], [], **STYLES[name]) for name in names], [shown.get(name, name) for name in names],
               loc="lower center", ncol=max(len(names), 1), frameon=False)
    fig.suptitle(title, fontsize=13)
    fig.tight_layout(rect=(0, 0.05, 1, 1))  # leave the bottom strip to the legend
    return fig


def read_items(folder):
    """(iterations, item names, counts (items x evaluations)) from a run's items.csv, or None."""
    path = Path(folder) / "items.csv"
    if not path.is_file():
        return None
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        table = np.array([[int(v) for v in row] for row in reader], dtype=int).reshape(-1, len(header))
    return table[:, 0], header[1:], table[:, 1:].T


def first_learned(counts, samples):
    """Per item, the index of the first evaluation with all samples right (len(row) if never)."""
    learned = counts == samples
    return np.where(learned.any(axis=1), learned.argmax(axis=1), counts.shape[1])


def items_summary(iters, names, counts, samples, held_out=PAPER_HELD_OUT):
    """One line on an items.csv: how many items are ever all right, from when every
    item outside the held-out four is, how often a learned item is lost again (later
    evaluations not all right, averaged over the learned items outside the held-out
    four), and how many evaluations have each held-out item all right."""
    withheld = {f"{a}{op}{b}" for a, op, b in held_out_expressions(held_out)}
    held = [i for i, name in enumerate(names) if name in withheld]
    rest = [i for i in range(len(names)) if i not in held]
    right = counts == samples
    first = first_learned(counts, samples)
    learned = [i for i in rest if first[i] < counts.shape[1]]
    lapses = [int((~right[i, first[i]:]).sum()) for i in learned]
    fit = np.flatnonzero(right[rest].all(axis=0))
    trained = f"{len(rest)}" + (" outside the held-out four" if held else "")
    line = (f"items: {int(right.any(axis=1).sum())} of {len(names)} ever all right; "
            + (f"all {trained} first at iteration {int(iters[fit[0]]):,}, then at {len(fit)} of {len(iters)} "
               f"evaluations" if len(fit) else f"never all {trained}")
            + (f"; a learned item is wrong again at {np.mean(lapses):.1f} later evaluations on average" if lapses else ""))
    if held:
        line += "; held-out items all right at " + ", ".join(
            f"{names[i]} {int(right[i].sum())}" for i in held) + f" of {len(iters)} evaluations"
    return line


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


def main(argv=None):
    try:
        config = parse_args(DEFAULTS, sys.argv[1:] if argv is None else argv, allow_config_files=False)
        if not config["model_folder"]:
            raise ValueError("--model_folder is required, e.g. --model_folder=out/math_mini_14")
        folder = find_run_folder(config["model_folder"])
        if not folder.is_dir():
            raise ValueError(f"--model_folder={folder} does not exist")
        if not (folder / "results.csv").is_file():
            raise ValueError(f"{folder} has no results.csv (has the run started?)")
        run = load_run(folder)
        if run is None:
            raise ValueError(f"{folder / 'results.csv'} has no evaluation yet")
    except (OSError, ValueError) as e:
        exit_with_error(e)
    dataset = run["info"].get("config", {}).get("dataset")
    title = TASKS[dataset].title if dataset in TASKS else folder.name
    fig = make_figure([(model_label(folder.name), run)], f"{title}: {folder.name}")
    fig.savefig(folder / "plot.png")
    written = [folder / "plot.png"]
    items = read_items(folder)
    if items is not None and len(items[0]):
        config = run["info"].get("config", {})
        samples, held_out = config.get("eval_samples", TRAINING["eval_samples"]), config.get("held_out", PAPER_HELD_OUT)
        items_figure(*items, samples, f"{title}: {folder.name}, item by item", held_out).savefig(folder / "items.png")
        written.append(folder / "items.png")
        print(items_summary(*items, samples, held_out))
    print(f"wrote {', '.join(map(str, written))}")


if __name__ == "__main__":
    main()
