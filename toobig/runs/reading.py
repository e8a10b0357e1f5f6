"""
Reading finished or running runs, without torch: a run folder's results.csv,
run.json and per-item tables (items.csv, margins.csv, logprobs.csv), which
evaluation a protocol picks, and the measures the summaries and READMEs state.

Three protocols pick one evaluation of a run (ties: the earliest):

    best        the paper's: the best combined accuracy, the held-out four included (test-selected)
    train_best  the best accuracy on the training items alone (arithmetic: the 196 expressions,
                facts: the 50 facts, joint: both)
    last        the last evaluation

and `heldout_share_late` selects nothing: the share of held-out samples right over the
second half of training.
"""
import csv
import json
import math
from pathlib import Path

import numpy as np

from toobig import REPO
from toobig.core.files import finite_number
from toobig.study.tasks import (
    DIGITS,
    PAPER_HELD_OUT,
    check_paper_task,
    held_out_expressions,
    math_expressions,
    parse_held_out,
    task_operations,
)
from toobig.study.training_config import saved_config

TRAIN_LOG = "train.log"  # what a run trained by the pool (toobig/training/pool.py) printed; kept when --overwrite empties the folder
NEEDED = ("iter", "train_loss", "add_correct", "add_total", "sub_correct", "sub_total", "heldout_correct",
          "heldout_total", "facts_correct", "facts_total", "combined_acc")
PROTOCOLS = {"best": "best combined accuracy, held-out four included (the paper's)",
             "train_best": "best accuracy on the training items alone",
             "last": "last evaluation"}


# --- files --------------------------------------------------------------------
COMMITTED = REPO / "results"  # the committed runs, whatever the working directory


def shown(path):
    """A path as a message shows it: relative to the working directory where it lies inside it."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return Path(path)


def is_committed(folder):
    """Whether a folder lies in the repository's committed results/ (COMMITTED)."""
    resolved = Path(folder).resolve()
    return resolved == COMMITTED or COMMITTED in resolved.parents


def in_repository(path):
    """A relative path a tool was given, as given where it exists from the working directory, else
    the repository's where it exists there (results/... typed from another directory); as given
    otherwise, for the caller's own error."""
    path = Path(path)
    if path.exists() or path.is_absolute() or not (REPO / path).exists():
        return path
    return REPO / path


def find_run_folder(path, writes=False):
    """The run folder a tool was given: the path itself where it exists; else, for a bare name
    such as the paper README's (math_mini_14), the folder of that name under out/ (where
    training writes), then under the repository's committed results/ (COMMITTED). A tool that
    writes into the folder (`writes`) takes a committed run only where the user names its
    path, so that a bare name never rewrites committed files. Raises ValueError saying where
    it looked when there is no such folder."""
    path = Path(path)
    if path.exists():
        return path
    named, stand_in = [path], []
    if path.is_absolute() or path.parts[:1] == ("out",):
        pass  # a path of one's own runs: the committed runs are no stand-in for it
    elif path.parts[:1] == ("results",):
        named.append(REPO / path)  # results/... named from another working directory
    else:
        named.append(Path("out") / path)
        stand_in.append(COMMITTED / path)
    for place in named[1:] + ([] if writes else stand_in):
        if place.is_dir():
            return shown(place)
    looked = ", ".join(str(shown(p)) for p in named + ([] if writes else stand_in))
    committed = [p for p in stand_in if p.is_dir()]
    hint = (f"; this tool writes into the run's folder, so it takes the committed run {shown(committed[0])} only "
            f"where that path is given" if committed else "")
    raise ValueError(f"run folder {str(path)!r} does not exist (looked in {looked}){hint}")


# --- reading a run --------------------------------------------------------------
def read_results(path):
    """results.csv as {column: float array}; NaN where the task lacks the part. A part the task
    lacks is a column empty in every row; any other empty, non-numeric or non-finite cell is a
    damaged file (hand-edited, half-copied), and raises ValueError naming the file, line and column."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        missing = [c for c in NEEDED if c not in columns]
        if missing:
            raise ValueError(f"{path} lacks the column(s) {', '.join(missing)}")
        rows = list(reader)
    lacking = {c for c in columns if rows and all(row[c] in ("", None) for row in rows)}
    results = {c: np.full(len(rows), math.nan) for c in columns}
    for line, row in enumerate(rows, start=2):
        for c in columns:
            if c not in lacking:
                results[c][line - 2] = finite_number(row[c], path, line, c)
    return results


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
    """{'name', 'folder', 'results', 'info', 'config'} of a run folder, or None if it has no
    evaluation yet (no folder, no results.csv, or only its header): such a run is drawn as
    'not run'. 'config' is the saved config, keys it lacks at their defaults."""
    folder = Path(folder)
    if not (folder / "results.csv").is_file():
        return None
    results = read_results(folder / "results.csv")
    if len(results["iter"]) == 0:
        return None
    info = read_run_json(folder / "run.json")
    return {"name": folder.name, "folder": folder, "results": results, "info": info, "config": saved_config(info)}


def check_paper_run(folder):
    """Raise ValueError (tasks.check_paper_task) for a run folder trained on a random-answer task or
    a one-operation table, the run-folder twin of checkpoints.load_paper_model; a folder without run.json passes."""
    check_paper_task(saved_config(read_run_json(Path(folder) / "run.json"))["dataset"], str(folder))


def read_item_table(folder, name="items.csv"):
    """(iterations, item names, values (items x evaluations)) from a per-item table of a run
    (items.csv: right samples; margins.csv, logprobs.csv: floats), or None if it has none."""
    path = Path(folder) / name
    if not path.is_file():
        return None
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header or header[0] != "iter":
            raise ValueError(f"{path} does not start with a header whose first column is iter")
        rows = list(reader)
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ValueError(f"{path}, line {line}: {len(row)} cells where the header has {len(header)}; the file "
                             f"is damaged (restore it, or train the run again)")
    try:
        table = np.array(rows, dtype=float).reshape(-1, len(header))
        bad = not np.isfinite(table).all()
    except ValueError:
        bad = True
    if bad:  # find the cell, to name it
        for line, row in enumerate(rows, start=2):
            for text, column in zip(row, header):
                finite_number(text, path, line, column)
    values = table[:, 1:].T
    return table[:, 0].astype(int), header[1:], values.astype(int) if name == "items.csv" else values


def matrix_norm(folder):
    """(iterations, L2 norm of the matrices and embeddings: what weight decay acts on) from a run's
    norms.csv, or None. LayerNorm gains are left out: not decayed, they grow to make up for decayed
    matrices (weight decay 1.0: n28's gains end near 120, its matrices below 2)."""
    table = read_item_table(folder, "norms.csv")
    if table is None:
        return None
    iters, names, values = table
    rows = [i for i, name in enumerate(names) if name != "total" and ".ln_" not in f".{name}" and "bias" not in name]
    return iters, np.sqrt((values[rows] ** 2).sum(axis=0))


def read_items(folder):
    return read_item_table(folder, "items.csv")


def read_summary(path):
    """A sweep's summary.csv as a list of dicts, numbers as int or float, True/False as bool,
    empty cells as None. Raises ValueError for a file whose lines do not match its header."""
    def value(text):
        if text == "":
            return None
        if text in ("True", "False"):
            return text == "True"
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
        return text
    rows = []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        for row in reader:
            if None in row or None in row.values():  # more or fewer cells than the header: not a table of runs
                raise ValueError(f"{path} is not a sweep's summary.csv: line {reader.line_num} does not have the "
                                 f"{len(reader.fieldnames)} cells its header names")
            rows.append({key: value(text) for key, text in row.items()})
    return rows


def first_learned(counts, samples):
    """Per item, the index of the first evaluation with all samples right (len(row) if never)."""
    learned = counts == samples
    return np.where(learned.any(axis=1), learned.argmax(axis=1), counts.shape[1])


# --- which evaluation: the protocols ---------------------------------------------
def _filled(results, column):
    return np.nan_to_num(results[column])  # a part the task lacks counts as nothing


def train_accuracy(results):
    """Per evaluation, the share of right samples on the training items alone (the held-out
    four taken out of the arithmetic); NaN where there are none."""
    right = (_filled(results, "add_correct") + _filled(results, "sub_correct") - _filled(results, "heldout_correct")
             + _filled(results, "facts_correct"))
    total = (_filled(results, "add_total") + _filled(results, "sub_total") - _filled(results, "heldout_total")
             + _filled(results, "facts_total"))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, right / np.where(total > 0, total, 1), np.nan)


def best_row(results):
    """Index of the evaluation with the best combined accuracy (the paper's protocol), the
    earliest of equal ones; None if there is none."""
    return _first_max(results["combined_acc"])


def _first_max(values):
    return int(np.nanargmax(values)) if np.isfinite(values).any() else None  # the first of equal maxima


def selected_row(results, protocol):
    """Index of the evaluation a protocol (PROTOCOLS) picks; None if the run has none."""
    if protocol == "best":
        return best_row(results)
    if protocol == "train_best":
        return _first_max(train_accuracy(results))
    if protocol == "last":
        return len(results["iter"]) - 1 if len(results["iter"]) else None
    raise ValueError(f"protocol={protocol!r} is not allowed; choose one of {', '.join(PROTOCOLS)}")


def first_fit(results):
    """Index of the first evaluation with every arithmetic training sample right (the held-out
    four aside; for the joint task the facts do not count), or None."""
    right = _filled(results, "add_correct") + _filled(results, "sub_correct") - _filled(results, "heldout_correct")
    total = _filled(results, "add_total") + _filled(results, "sub_total") - _filled(results, "heldout_total")
    fit = np.flatnonzero((total > 0) & (right == total))
    return int(fit[0]) if len(fit) else None


def heldout_share_late(results, max_iters, fraction=0.5):
    """Share of held-out samples right over the evaluations of the last `fraction` of training
    (iteration >= (1 - fraction) * max_iters; 0.5: the second half): no evaluation is
    selected. NaN for a run without held-out items or not yet that far."""
    late = (results["iter"] >= (1 - fraction) * max_iters) & (np.nan_to_num(results["heldout_total"]) > 0)
    right, total = results["heldout_correct"][late].sum(), results["heldout_total"][late].sum()
    return float(right / total) if late.any() else math.nan


# --- item-level measures (items.csv) ------------------------------------------------
def strictly_between(counts, samples):
    """Share of (item, evaluation) cells with some but not all samples right: how often
    the ten samples at temperature 0.01 disagree at all."""
    counts = np.asarray(counts)
    return float(((counts > 0) & (counts < samples)).mean()) if counts.size else math.nan


def training_expressions(held_out=PAPER_HELD_OUT, operations="+-"):
    """The names of the 196 arithmetic items a run trains on (the 98 of one operation for a
    one-operation table: `operations`, tasks.task_operations)."""
    withheld = set(held_out_expressions(held_out))
    return [f"{a}{op}{b}" for a, op, b in math_expressions(operations) if (a, op, b) not in withheld]


def quadruples(held_out=PAPER_HELD_OUT):
    """The 45 quadruples c+d, d+c, c-d, d-c (c < d) as item names, the held-out pair's first."""
    held = parse_held_out(held_out)
    pairs = [held] + [(c, d) for c in DIGITS for d in DIGITS if c < d and (c, d) != held]
    return [[f"{a}{op}{b}" for a, op, b in held_out_expressions(f"{c}:{d}")] for c, d in pairs]


def rule_before_fit(iters, names, counts, samples, held_out=PAPER_HELD_OUT):
    """The fair "rule before fit": when the held-out four are first all right together,
    against when each of the 44 training quadruples of the same form (c+d, d+c, c-d, d-c)
    first is. Returns {first_iter (None if never), quadruples_before (of 44, strictly
    earlier), quadruples_tied, rank (1 = first of the 45, ties sharing the mean place;
    None if never), all_seen_before (every training expression all right at some
    evaluation by then)}."""
    index = {name: i for i, name in enumerate(names)}
    right = np.asarray(counts) == samples
    never = right.shape[1]

    def first(names_):
        together = right[[index[n] for n in names_]].all(axis=0)
        return int(together.argmax()) if together.any() else never
    held, *training = [first(q) for q in quadruples(held_out)]
    training = np.array(training)
    result = {"first_iter": None if held == never else int(iters[held]), "quadruples_before": None,
              "quadruples_tied": None, "rank": None, "all_seen_before": None}
    if held == never:
        return result
    before, tied = int((training < held).sum()), int((training == held).sum())
    others = [index[n] for n in training_expressions(held_out)]
    result.update(quadruples_before=before, quadruples_tied=tied, rank=1 + before + tied / 2,
                  all_seen_before=bool((first_learned(np.asarray(counts)[others], samples) <= held).all()))
    return result


def fit_and_keep(iters, names, counts, samples, held_out=PAPER_HELD_OUT, operations="+-"):
    """When a run first has every training expression all right (None if never), and the share
    of the later evaluations at which it has them all again: how firmly it holds its fit. The
    training expressions are those of `operations` (tasks.task_operations) only."""
    index = {name: i for i, name in enumerate(names)}
    rows = [index[n] for n in training_expressions(held_out, operations)]
    fit = (np.asarray(counts)[rows] == samples).all(axis=0)
    if not fit.any():
        return None, math.nan
    first = int(fit.argmax())
    later = fit[first + 1:]
    return int(iters[first]), float(later.mean()) if len(later) else math.nan


def heldout_values(table, held_out, column, operations="+-"):
    """From a per-item table (read_item_table), the held-out four's values at evaluation
    `column`, in the roles a+b, b+a, a-b, b-a (those of `operations` alone for a one-operation
    table, tasks.task_operations)."""
    _, names, values = table
    return [float(values[names.index(f"{a}{op}{b}"), column])
            for a, op, b in held_out_expressions(held_out, operations)]




# --- a run in a few numbers: what summary.csv and tools/claims.py report --------------------
# the held-out four without selecting on them (PROTOCOLS), and the fair rule-before-fit
PROTOCOL_MEASURES = ["train_best_iter", "heldout_at_train_best", "train_best_ties", "heldout_over_train_best_ties",
                     "heldout_share_late", "heldout_margins_at_best",
                     "heldout_margins_at_train_best", "heldout_margins_final", "heldout_quadruple_rank",
                     "quadruples_before_heldout", "all_training_seen_before_heldout", "train_fit_kept",
                     "samples_split"]


def protocol_measures(run):
    """{PROTOCOL_MEASURES: value} of a loaded run (load_run): the held-out four at the
    evaluation the training items pick and over the second half; their margins (margins.csv,
    roles a+b, b+a, a-b, b-a) at the best, train-best and last evaluation; from items.csv the
    fair rule-before-fit, the share of evaluations after the first fit that keep it, and
    the share of item cells whose samples disagree. A one-operation table (tasks.task_operations)
    has two held-out roles (a+b, b+a or a-b, b-a), so two margins, and no quadruples (its rank
    is None). None where a run lacks what a measure needs (no arithmetic, no margins.csv or
    items.csv, or a margin row for that evaluation)."""
    r, config = run["results"], run["config"]
    operations = task_operations(config["dataset"])  # a one-operation table has two held-out roles, no quadruples
    row = dict.fromkeys(PROTOCOL_MEASURES)
    j = selected_row(r, "train_best")
    row["train_best_iter"] = int(r["iter"][j])
    if not np.nan_to_num(r["heldout_total"]).any():  # no arithmetic
        return row
    row["heldout_at_train_best"] = int(r["heldout_correct"][j])
    # the best training accuracy is often reached at many evaluations (all training items right),
    # and train-best takes the earliest: how many, and the held-out count over all of them
    ties = train_accuracy(r) == train_accuracy(r)[j]
    row["train_best_ties"] = int(ties.sum())
    row["heldout_over_train_best_ties"] = round(float(r["heldout_correct"][ties].mean()), 2)
    share = heldout_share_late(r, config["max_iters"])
    row["heldout_share_late"] = None if math.isnan(share) else round(share, 4)
    margins = read_item_table(run["folder"], "margins.csv")
    for key, protocol in (("heldout_margins_at_best", "best"), ("heldout_margins_at_train_best", "train_best"),
                          ("heldout_margins_final", "last")):
        found = [] if margins is None else np.flatnonzero(margins[0] == r["iter"][selected_row(r, protocol)])
        if len(found):
            row[key] = heldout_values(margins, config["held_out"], found[0], operations)
    items = read_items(run["folder"])
    if items is not None:
        samples = config["eval_samples"]
        fair = rule_before_fit(*items, samples, config["held_out"]) if operations == "+-" else {"rank": None}
        if fair["rank"] is not None:
            row.update(heldout_quadruple_rank=fair["rank"], quadruples_before_heldout=fair["quadruples_before"],
                       all_training_seen_before_heldout=fair["all_seen_before"])
        _, kept = fit_and_keep(*items, samples, config["held_out"], operations)
        row["train_fit_kept"] = None if math.isnan(kept) else round(kept, 4)
        row["samples_split"] = round(strictly_between(items[2], samples), 4)
    return row


def digest(folder):
    """A run folder's numbers for tools/claims.py: its config and protocol_measures, plus whether and
    how often the held-out items (the four; two on a one-operation table) are all right, and the
    held-out count and facts accuracy at the best (the paper's) and the last evaluation. Raises
    ValueError for a folder without a run."""
    run = load_run(folder)
    if run is None:
        raise ValueError(f"{folder} holds no run (no results.csv with an evaluation)")
    r = run["results"]
    held = (np.nan_to_num(r["heldout_total"]) > 0) & (r["heldout_correct"] == r["heldout_total"])
    best = best_row(r)
    return {**run["config"], **protocol_measures(run), "folder": Path(folder), "ever": bool(held.any()),
            "evals_all_right": int(held.sum()), "evals": len(held), "best_iter": int(r["iter"][best]),
            "at_best": r["heldout_correct"][best], "at_last": r["heldout_correct"][-1], "total": r["heldout_total"][-1],
            "facts_at_best": r["facts_acc"][best], "facts_last": r["facts_acc"][-1]}
