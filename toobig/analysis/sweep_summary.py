"""
A sweep's summary: one row per run (summary.csv), the seeds of each width
counted (sizes.md), and for facts the knowledge-capacity report (capacity.md).
Missing values are None in the rows and empty cells in summary.csv.
"""
import csv
import io
import math
from collections import Counter
from pathlib import Path

import numpy as np

from toobig.core.files import write_atomically
from toobig.runs.reading import (
    PROTOCOL_MEASURES,
    best_row,
    first_fit,
    load_run,
    protocol_measures,
    read_items,
)
from toobig.study.tasks import CAPITALS, check_paper_task, get_task, held_out_expressions, held_out_label

MEASURE_COLUMNS = ["number_line_at_best", "number_line_final", "probe_error_at_best", "probe_error_final"]
SUMMARY_COLUMNS = ["task", "n_embd", "n_params", "seed", "weight_decay", "init_scale", "weight_norm", "held_out", "finished",
                   "best_iter", "best_combined_acc", "heldout_total", "heldout_at_best", "first_iter_heldout_all_right", "final_heldout",
                   "evals_heldout_all_right", "evals_each_heldout_right", "first_iter_train_all_right", "facts_acc_at_best",
                   *PROTOCOL_MEASURES, *MEASURE_COLUMNS]


def summarize_run(config):
    """One row of summary.csv (SUMMARY_COLUMNS) for the run of `config`, None if it has no
    evaluation yet; a value a run lacks (no arithmetic, no items) is None. Raises ValueError for a
    run of a random-answer task or a one-operation table (tasks.check_paper_task): their summaries are
    capacity_summary's and operation_summary's."""
    check_paper_task(config["dataset"], str(config["out_dir"]))
    run = load_run(config["out_dir"])
    if run is None:
        return None
    r, info = run["results"], run["info"]
    i = best_row(r)
    has_math = "math" in get_task(config["dataset"]).parts
    all_right = np.flatnonzero((r["heldout_total"] > 0) & (r["heldout_correct"] == r["heldout_total"]))
    fit = first_fit(r) if has_math else None

    def value(column, index):
        v = r[column][index]
        return None if index is None or math.isnan(v) else (int(v) if column != "facts_acc" else round(float(v), 4))

    return {"task": config["dataset"], "n_embd": config["n_embd"], "seed": config["seed"],
            "n_params": info.get("n_params"), "weight_decay": config["weight_decay"],
            "init_scale": init_scale(config), "weight_norm": weight_norm(config),
            "held_out": config["held_out"] if has_math else None,
            "finished": bool(info.get("finished")), "best_iter": value("iter", i),
            "best_combined_acc": None if i is None else round(float(r["combined_acc"][i]), 4),
            "heldout_total": value("heldout_total", -1), "heldout_at_best": value("heldout_correct", i),
            "first_iter_heldout_all_right": int(r["iter"][all_right[0]]) if len(all_right) else None,
            "final_heldout": value("heldout_correct", -1),
            "evals_heldout_all_right": len(all_right) if has_math else None,
            "evals_each_heldout_right": evals_each_heldout_right(run) if has_math else None,
            "first_iter_train_all_right": None if fit is None else int(r["iter"][fit]),
            "facts_acc_at_best": value("facts_acc", i),
            **protocol_measures(run), **inside_measures(config)}


def evals_each_heldout_right(run):
    """From items.csv: at how many evaluations each held-out expression has all its samples
    right, in the roles a+b, b+a, a-b, b-a (a < b, so a-b is the negative one); None for a
    run without items."""
    items = read_items(run["folder"])
    if items is None:
        return None
    _, names, counts = items
    held_out, samples = run["config"]["held_out"], run["config"]["eval_samples"]
    return [int((counts[names.index(f"{a}{op}{b}")] == samples).sum()) for a, op, b in held_out_expressions(held_out)]


def inside_measures(config):
    """What tools/inspect_model.py measures inside the run's saved models (model_best.pt, model_last.pt):
    the digits' number-line score and the answer probe's error on the held-out four. None
    for a run without them or without arithmetic."""
    from toobig.interp.inside import measures_of  # torch: only when a summary is made
    row = dict.fromkeys(MEASURE_COLUMNS)
    if "math" not in get_task(config["dataset"]).parts:
        return row
    for when, name in (("at_best", "model_best.pt"), ("final", "model_last.pt")):
        path = Path(config["out_dir"]) / name
        if path.is_file():
            measures = measures_of(path)
            row[f"number_line_{when}"] = measures["number_line_score"]
            row[f"probe_error_{when}"] = measures["probe_heldout_mae"]
    return row


def summary_cell(value):
    """How summary.csv writes a value: None empty, a list of margins or counts space-separated."""
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in value)
    return value


def write_summary(rows, path):
    """summary.csv; its weight_norm column only where some run held its norm, so that sweeps made
    before the setting existed read as they were."""
    held = any(weight_norm(row) for row in rows)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=[c for c in SUMMARY_COLUMNS if held or c != "weight_norm"])
    writer.writeheader()
    writer.writerows({key: summary_cell(value) for key, value in row.items() if held or key != "weight_norm"}
                     for row in rows)
    write_atomically(path, text.getvalue())


def memorized_all_facts(row):
    return row["facts_acc_at_best"] == 1.0


def init_scale(row):
    """A row's (or config's) init scale; 1, the paper's init, for those made before the setting existed."""
    return row.get("init_scale", 1.0)


def weight_norm(row):
    """A row's (or config's) held weight norm (training_config weight_norm); 0, free, for those made
    before the setting existed."""
    return row.get("weight_norm") or 0.0


def by_size(rows):
    """{(n_params, n_embd, weight_decay, init_scale, weight_norm, held_out): [rows of its seeds]}, sorted by size."""
    groups = {}
    for row in rows:
        key = (row["n_params"], row["n_embd"], row["weight_decay"], init_scale(row), weight_norm(row), row["held_out"])
        groups.setdefault(key, []).append(row)
    return dict(sorted(groups.items()))


def variants(rows):
    """The (weight decay, init scale, weight norm, held-out pair) settings of a sweep, each with the
    tag that tells it apart."""
    settings = sorted({(row["weight_decay"], init_scale(row), weight_norm(row), row["held_out"]) for row in rows})
    decays, scales, norms, pairs = ({s[k] for s in settings} for k in range(4))
    return [(decay, scale, norm, pair, "".join([f" (wd {decay:g})" if len(decays) > 1 else "",
                                                f" (init x{scale:g})" if len(scales) > 1 else "",
                                                f" (norm {norm:g})" if len(norms) > 1 else "",
                                                f" {held_out_label(pair)}" if len(pairs) > 1 else ""]))
            for decay, scale, norm, pair in settings]


def sizes_table(rows, n_seeds):
    """One markdown row per size, over its finished seeds: how many seeds get the
    held-out four all right (ever, at the best evaluation, at the end) and how
    well the training task is learned."""
    has_math = any(row["heldout_at_best"] is not None for row in rows)
    has_facts = any(row["facts_acc_at_best"] is not None for row in rows)
    several_pairs = len({row["held_out"] for row in rows}) > 1
    several_scales = len({init_scale(row) for row in rows}) > 1
    held = any(weight_norm(row) for row in rows)
    header = (["model", "params", "wd"] + (["init scale"] if several_scales else []) + (["weight norm held at"] if held else [])
              + (["held out"] if several_pairs else []) + ["seeds finished"])
    if has_math:
        # each count is of seeds; "any evaluation" counts a seed 40/40 once or more, the others at one
        # evaluation each (reading.PROTOCOLS), so that a seed can count in the first and in none of the others
        header += ["seeds with held-out 40/40 at any evaluation", "40/40 at the best-combined evaluation (test-selected)",
                   "40/40 at the train-best evaluation", "40/40 at the last evaluation",
                   "held-out share, 2nd half: mean (min-max)", "first 40/40 (median iter)"]
    has_items = any(row.get("evals_each_heldout_right") for row in rows)
    if has_items:
        header += ["evaluations each held-out expression is right, a+b / b+a / a-b / b-a (median)"]
    if has_facts:
        header += ["50/50 facts at best", "facts at best: mean (min-max)"]
    header += ["best combined accuracy (min-max)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (n_params, n_embd, decay, scale, norm, pair), group in by_size(rows).items():
        done = [r for r in group if r["finished"]]
        cells = ([f"n{n_embd}", f"{n_params:,}", f"{decay:g}"] + ([f"{scale:g}"] if several_scales else [])
                 + ([f"{norm:g}" if norm else "free"] if held else [])
                 + ([held_out_label(pair)] if several_pairs else [])
                 + [f"{len(done)} of {n_seeds}"])

        def count(test):
            return f"{sum(map(test, done))}/{len(done)}"
        if has_math:
            firsts = [r["first_iter_heldout_all_right"] for r in done if r["first_iter_heldout_all_right"] is not None]
            shares = [100 * r["heldout_share_late"] for r in done if r["heldout_share_late"] is not None]
            cells += [count(lambda r: r["first_iter_heldout_all_right"] is not None),
                      count(lambda r: r["heldout_at_best"] == r["heldout_total"]),
                      count(lambda r: r["heldout_at_train_best"] == r["heldout_total"]),
                      count(lambda r: r["final_heldout"] == r["heldout_total"]),
                      f"{np.mean(shares):.0f}% ({min(shares):.0f}-{max(shares):.0f})" if shares else "–",
                      f"{np.median(firsts):,.0f}" if firsts else "–"]
        if has_items:
            each = [r["evals_each_heldout_right"] for r in done if r.get("evals_each_heldout_right")]
            cells += [" / ".join(f"{m:g}" for m in np.median(each, axis=0)) if each else "–"]
        if has_facts:
            facts = [100 * r["facts_acc_at_best"] for r in done]
            cells += [count(memorized_all_facts),
                      f"{np.mean(facts):.1f}% ({min(facts):.1f}-{max(facts):.1f})" if done else "–"]
        combined = [100 * r["best_combined_acc"] for r in done]
        cells += [f"{min(combined):.1f}-{max(combined):.1f}%" if done else "–"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def facts_information_bits():
    """Two measures of what memorizing the 50 facts takes, in bits. A lower bound:
    the mapping alone, which of 50 known capitals goes with which country, log2(50!).
    An upper estimate: the answer strings spelled out character by character by a
    model that knows only the letter frequencies of the answers (their unigram
    entropy times their length), since a model trained from scratch knows no city."""
    mapping = math.lgamma(len(CAPITALS) + 1) / math.log(2)
    counts = Counter("".join(city for _, city in CAPITALS))
    total = sum(counts.values())
    strings = -sum(n * math.log2(n / total) for n in counts.values())
    return mapping, strings


def capacity_report(rows, n_seeds):
    """A size counts once all n_seeds runs of the grid have finished: a sweep still
    under way reports what it has without claiming a threshold it has not measured."""
    groups = by_size(rows)
    complete = {k: g for k, g in groups.items() if len(g) == n_seeds and all(r["finished"] for r in g)}
    memorized = [k for k, g in complete.items() if all(map(memorized_all_facts, g))]
    mapping, strings = facts_information_bits()
    lines = ["# Knowledge capacity from the facts sweep", ""]
    for key, g in groups.items():
        n_params, n_embd, decay = key[:3]
        accs = ", ".join(f"{100 * r['facts_acc_at_best']:.1f}%" + ("" if r["finished"] else " (unfinished)")
                         for r in g)
        pending = "" if key in complete else f" [{sum(r['finished'] for r in g)} of {n_seeds} seeds finished]"
        lines.append(f"- n{n_embd} ({n_params:,} params, wd {decay:g}): facts at best evaluation {accs}{pending}")
    smallest = min(memorized)[0] if memorized else None
    lines += ["", "Smallest size at which every seed memorizes all 50 facts: "
              + (f"**{smallest:,} parameters**." if smallest else "none among the finished sizes of this sweep.")]
    if smallest:
        larger_misses = [f"n{k[1]}" for k in complete if k[0] > smallest and k not in memorized]
        if larger_misses:
            lines[-1] += f" Not monotone: at larger {', '.join(larger_misses)} some seed falls short."
    lines += ["", f"Information in the 50 facts: the country-to-capital mapping alone is log2(50!) = {mapping:.0f} bits; "
              f"spelling out the 50 answers at their letter entropy takes {strings:.0f} bits. At the 2 bits per parameter of "
              f"Allen-Zhu and Li (2024) these need {mapping / 2:.0f} to {strings / 2:.0f} parameters"]
    if smallest:
        lines[-1] += (f"; the sweep's threshold stores {mapping / smallest:.3f} to {strings / smallest:.3f} "
                      f"bits per parameter.")
    return "\n".join(lines) + "\n"
