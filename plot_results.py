"""
One run's figure (docs/STUDY.md §5): addition, subtraction and facts accuracy over the
iterations, the train loss on a second axis, and a red marker at every
evaluation where all the held-out samples (the paper's (5,7), or the run's pair) were right.

    python plot_results.py --model_folder=out/math_mini_14     # writes out/math_mini_14/plot.png

With items.csv it also writes items.png (every item over the iterations) and
prints a line on the items; with margins.csv, margins.png (the held-out four's
logit margins). Needs only the run's files, never a checkpoint (toobig/reports/figures.py).
"""
import sys

import numpy as np

from configurator import FAILURES, exit_with_error, parse_args
from toobig.reports.figures import items_figure, make_figure, margins_figure, model_label
from toobig.runs.reading import find_run_folder, first_learned, load_run, read_item_table, read_items
from toobig.study.tasks import PAPER_HELD_OUT, get_task, held_out_expressions, task_operations

DEFAULTS = dict(
    model_folder="",  # a run folder holding results.csv (and run.json), e.g. out/math_mini_14
)

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


def main(argv=None):
    try:
        config = parse_args(DEFAULTS, sys.argv[1:] if argv is None else argv, allow_config_files=False)
        if not config["model_folder"]:
            raise ValueError("--model_folder is required, e.g. --model_folder=out/math_mini_14")
        # the figures go into the run's folder: a committed one only where its path is named (find_run_folder)
        print(f"wrote {', '.join(map(str, plot_run(find_run_folder(config['model_folder'], writes=True))))}")
    except FAILURES as e:  # a damaged file, a read-only folder, memory: one line
        exit_with_error(e)


def plot_run(folder):
    """Write plot.png (and items.png, margins.png where the run has the tables) into a run's folder;
    returns the paths written. Raises ValueError for a folder without a run."""
    if not folder.is_dir():
        raise ValueError(f"--model_folder={folder} does not exist")
    if not (folder / "results.csv").is_file():
        raise ValueError(f"{folder} has no results.csv (has the run started?)")
    run = load_run(folder)
    if run is None:
        raise ValueError(f"{folder / 'results.csv'} has no evaluation yet")
    config = run["config"]
    title = get_task(config["dataset"]).title
    # every file is read before the first figure is written
    items, margins = read_items(folder), read_item_table(folder, "margins.csv")
    make_figure([(model_label(folder.name), run)], f"{title}: {folder.name}").savefig(folder / "plot.png")
    written = [folder / "plot.png"]
    if items is not None and len(items[0]):
        samples, held_out = config["eval_samples"], config["held_out"]
        items_figure(*items, samples, f"{title}: {folder.name}, item by item", held_out).savefig(folder / "items.png")
        written.append(folder / "items.png")
        print(items_summary(*items, samples, held_out))
    operations = task_operations(config["dataset"])
    held = [f"{a}{op}{b}" for a, op, b in held_out_expressions(config["held_out"], operations)]
    if margins is not None and all(name in margins[1] for name in held):  # arithmetic: the held-out items have margins
        margins_figure(margins, config["held_out"], f"{title}: {folder.name}, logit margins",
                       operations).savefig(folder / "margins.png")
        written.append(folder / "margins.png")
    return written


if __name__ == "__main__":
    main()
