"""
Runs ten times the paper's length (issue 38; results/sweeps/long/prediction.md): does the
held-out rule come with time? Per run, measures that select no evaluation: the held-out share
over the last tenth of training, from when (if ever) the held-out four are all right at every
evaluation to the end, the training fit and the whole weight norm at the end.
"""
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from toobig.runs.reading import heldout_share_late, heldout_values, load_run, read_item_table, train_accuracy

LAST_TENTH = 0.1
SETTINGS = {"floor": "(a) the paper's run continued at its floor learning rate, weight decay 0",
            "wd0.1": "(b) cosine to the floor at the end, weight decay 0.1 on every weight",
            "wd1": "(c) cosine to the floor at the end, weight decay 1.0 on every weight"}
# prediction.md's runs: {setting: {n_embd: seeds}}; n14 is the reference, never tested
GRID = {"floor": {28: range(1, 6), 20: range(1, 4)},
        "wd0.1": {28: range(1, 6), 20: range(1, 4), 14: range(1, 4)},
        "wd1": {28: range(1, 6), 20: range(1, 4), 14: range(1, 4)}}
TESTED_WIDTHS = (28, 20)
MAX_ITERS = 300_000
WEIGHT_DECAY = {"floor": 0.0, "wd0.1": 0.1, "wd1": 1.0}
RUN_SUFFIX = {"floor": "", "wd0.1": "_wd0.1_dg", "wd1": "_wd1_dg"}  # tools/sweep.py's names for the settings
# 30,000-iteration runs with a setting's decay on every weight, the gains included (results/sweeps/decay_all):
# {setting: {n_embd: run-name suffix}}; against them, the long runs differ in time alone (not pre-registered)
SAME_DECAY = {"wd0.1": {28: "_wd0.1_dg"}, "wd1": {28: "_wd1_dg"}}


def run_folder(root, setting, n_embd, seed):
    """The folder of one run of GRID under `root` (results/sweeps/long), as tools/sweep.py names it."""
    return Path(root) / setting / f"math_n{n_embd}_s{seed}{RUN_SUFFIX[setting]}"


class GridStatus(NamedTuple):
    finished: int   # runs of GRID finished under the root
    total: int      # runs in GRID
    complete: list  # the (setting, n_embd) groups of TESTED_WIDTHS whose runs have all finished: claims.md tests them


def is_finished(folder, setting):
    """Whether the run in `folder` finished as `setting` of GRID trains: MAX_ITERS iterations, with
    its weight decay; a run of another design in its place raises ValueError."""
    run = load_run(folder)
    if run is None or not run["info"].get("finished"):
        return False
    config = run["config"]
    if config["max_iters"] != MAX_ITERS or config["weight_decay"] != WEIGHT_DECAY[setting]:
        raise ValueError(f"{folder} is not a run of setting {setting} (prediction.md): max_iters "
                         f"{config['max_iters']}, weight_decay {config['weight_decay']}")
    return True


def grid_status(root):
    """How far GRID has come under `root` (results/sweeps/long): a GridStatus."""
    finished = {(setting, n): sum(is_finished(run_folder(root, setting, n, s), setting) for s in seeds)
                for setting, widths in GRID.items() for n, seeds in widths.items()}
    complete = [(setting, n) for setting, widths in GRID.items() for n, seeds in widths.items()
                if n in TESTED_WIDTHS and finished[setting, n] == len(seeds)]
    return GridStatus(sum(finished.values()), sum(map(len, (s for w in GRID.values() for s in w.values()))), complete)


def reference_complete(root):
    """The groups of GRID's reference (widths not in TESTED_WIDTHS: described, never tested) whose runs
    have all finished under `root`, as (setting, n_embd)."""
    return [(setting, n) for setting, widths in GRID.items() for n, seeds in widths.items()
            if n not in TESTED_WIDTHS and all(is_finished(run_folder(root, setting, n, s), setting) for s in seeds)]


def kept_from(results):
    """The first iteration from which every later evaluation has the held-out four all right,
    or None (never, or not at the last evaluation)."""
    right = (np.nan_to_num(results["heldout_total"]) > 0) & (results["heldout_correct"] == results["heldout_total"])
    if not len(right) or not right[-1]:
        return None
    wrong = np.flatnonzero(~right)
    return int(results["iter"][wrong[-1] + 1 if len(wrong) else 0])


def long_run_row(folder):
    """One row of the long-run table for a run folder: setting (its folder's name), n_embd, seed,
    max_iters, iter (the last evaluation), finished, share_last_tenth (NaN unless finished),
    kept_from, train_acc_last (the training items' samples right at the last evaluation),
    norm_last (every weight's L2 norm, norms.csv's total), min_margin_last (the smallest held-out
    logit margin at the last evaluation). None for a folder without an evaluation."""
    run = load_run(folder)
    if run is None:
        return None
    r, config = run["results"], run["config"]
    norms = read_item_table(folder, "norms.csv")
    margins = read_item_table(folder, "margins.csv")
    finished = bool(run["info"].get("finished"))
    return {"setting": Path(folder).parent.name, "n_embd": config["n_embd"], "seed": config["seed"],
            "max_iters": config["max_iters"], "iter": int(r["iter"][-1]), "finished": finished,
            "share_last_tenth": heldout_share_late(r, config["max_iters"], LAST_TENTH) if finished else math.nan,
            "kept_from": kept_from(r), "train_acc_last": float(train_accuracy(r)[-1]),
            "norm_last": float(norms[2][norms[1].index("total"), -1]) if norms else math.nan,
            "min_margin_last": min(heldout_values(margins, config["held_out"], -1)) if margins else math.nan}


def share_along(folder):
    """(iterations, held-out share over the evaluations at iterations >= half of each): a run's
    curve for the figure, at every evaluation the share over the second half of training so far
    (heldout_share_late's at the last one). The window is one width on a log axis whatever the
    evaluation interval, so runs evaluated every 250 and every 1,000 iterations draw alike.
    Iteration 0 is left out: a log axis has no place for it."""
    r = load_run(folder)["results"]
    keep = r["iter"] > 0
    iters = r["iter"][keep]
    right = np.concatenate([[0], np.cumsum(np.nan_to_num(r["heldout_correct"][keep]))])
    total = np.concatenate([[0], np.cumsum(np.nan_to_num(r["heldout_total"][keep]))])
    start, end = np.searchsorted(iters, iters / 2, side="left"), np.arange(1, len(iters) + 1)
    return iters, (right[end] - right[start]) / np.maximum(total[end] - total[start], 1)
