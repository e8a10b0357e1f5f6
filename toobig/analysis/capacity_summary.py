"""
Capacity from runs on random-answer tables (issue 39), measured as Morris et al. (2025, "How much
do language models memorize?", arXiv 2505.24832) measure it: the bits a model stores of a table
(toobig/study/memorization.py) grow with the table while the model can hold it, then stop
growing; where they stop is the width's capacity, in bits and per parameter, to set beside
Morris et al.'s 3.6 bits per parameter and Allen-Zhu & Li's 2 ("Physics of Language Models:
Part 3.3", arXiv 2404.05405). Here: one row per run (CAPACITY_COLUMNS, capacity.csv), a table
per width over its table sizes with a 95% t interval over seeds, each width's capacity, and
the bits the paper's real tasks ask (task_bits).
"""
import csv
import math
from collections import Counter
from pathlib import Path

from toobig.analysis.sweep_summary import facts_information_bits
from toobig.core.stats import t_interval
from toobig.runs.reading import read_run_json
from toobig.study.tasks import (CAPITALS, PAPER_HELD_OUT, RANDOM_TASKS, held_out_expressions, math_table,
                                random_lines, random_table)
from toobig.study.training_config import CHANGEABLE_ON_RESUME, saved_config

MORRIS_BITS_PER_PARAM = 3.6         # Morris et al. 2025: GPT-style models on uniformly random data
ALLEN_ZHU_LI_BITS_PER_PARAM = 2.0   # Allen-Zhu & Li 2024: knowledge at 1,000 exposures
CAPACITY_COLUMNS = ["run", "task", "n_embd", "n_params", "seed", "table_size", "table_seed", "iter", "finished",
                    "answers", "entropy_bits", "code_length_bits", "bits_stored", "entropy_minus_code_length_bits",
                    "bits_per_param", "answers_right", "exposures"]
# what may differ between the runs one (width, table size) pools: the seeds, and how a run ran, not
# what it trained (a longer run, another weight decay: another experiment, refused)
POOLED = {"seed", "table_seed", "overwrite", *CHANGEABLE_ON_RESUME} - {"max_iters"}


def capacity_folders(paths):
    """The run folders among `paths` and in the sweep folders among them (folders whose
    sub-folders hold runs), each once, in order. Raises ValueError for a path that is neither."""
    folders = []
    for path in map(Path, paths):
        if (path / "results.csv").is_file():
            found = [path]
        else:
            found = sorted(p for p in path.iterdir() if (p / "results.csv").is_file()) if path.is_dir() else []
        if not found:
            what = "does not exist" if not path.exists() else "is neither a run folder nor a sweep folder of runs"
            raise ValueError(f"{path} {what} (a run folder holds results.csv)")
        folders += [folder for folder in found if folder not in folders]
    return folders


def capacity_row(folder, ckpt="model_last.pt", device="cpu"):
    """One run's row (CAPACITY_COLUMNS, and its 'config'): the bits its weights in `ckpt` store of the
    table it was trained on. Raises ValueError for a run not on a random-answer table."""
    # torch only here: the tables and the prediction (capacity_prediction) read capacity.csv without it
    from toobig.runs.checkpoints import load_model
    from toobig.study.memorization import bits_stored
    folder = Path(folder)
    model, codec, checkpoint = load_model(folder / ckpt, device)
    config = saved_config(checkpoint)
    if config["dataset"] not in RANDOM_TASKS:
        raise ValueError(f"{folder} was trained on {config['dataset']}, whose answers follow a rule; capacity is "
                         f"measured on runs of {' or '.join(RANDOM_TASKS)}")
    table = random_table(config["dataset"], config["table_size"], config["table_seed"])
    stored = bits_stored(model, codec, config["dataset"], table)
    n_params = model.get_num_params()
    return {"run": str(folder), "task": config["dataset"], "n_embd": config["n_embd"], "n_params": n_params,
            "seed": config["seed"], "table_size": config["table_size"], "table_seed": config["table_seed"],
            "iter": checkpoint.get("iter_num"), "finished": bool(read_run_json(folder / "run.json").get("finished")),
            "answers": stored.answers, "entropy_bits": round(stored.entropy_bits, 2),
            "code_length_bits": round(stored.code_length_bits, 2), "bits_stored": round(stored.bits_stored, 2),
            "entropy_minus_code_length_bits": round(stored.entropy_minus_code_length_bits, 2),
            "bits_per_param": round(stored.bits_stored / n_params, 4), "answers_right": stored.answers_right,
            "exposures": round(exposures(config, table)), "config": config}


def read_capacity_csv(path):
    """The rows of a capacity.csv (capacity_report.capacity_csv), typed as capacity_row makes them, with
    an empty 'config': the report that wrote the file pooled only runs by_width allows. Raises
    ValueError for a file without CAPACITY_COLUMNS."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != CAPACITY_COLUMNS:
            raise ValueError(f"{path} is not a capacity.csv (columns {', '.join(CAPACITY_COLUMNS)})")
        rows = list(reader)
    numbers = {"n_embd": int, "n_params": int, "seed": int, "table_size": int, "table_seed": int, "answers": int,
               "answers_right": int, "exposures": int}
    return [{**row, **{k: cast(row[k]) for k, cast in numbers.items()},
             **{k: float(row[k]) for k in ("entropy_bits", "code_length_bits", "bits_stored",
                                           "entropy_minus_code_length_bits", "bits_per_param")},
             "iter": int(row["iter"]) if row["iter"] else None,
             "finished": row["finished"] == "True", "config": {}} for row in rows]


def exposures(config, table):
    """How often training shows each answer after its whole line so far: the windows that start at any
    one place of the text over the run, batch_size x max_iters over the text's places. A fixed schedule
    shows a large table's answers less often (Allen-Zhu & Li 2024 find 2 bits per parameter at 1,000
    exposures, about 1 at 100), so a width's plateau can be one of exposures, not only of capacity."""
    text_length = sum(map(len, random_lines(config["dataset"], table)))
    return config["batch_size"] * config["max_iters"] / (text_length - config["block_size"])


def by_width(rows):
    """{(task, n_embd, n_params): {table_size: [finished rows]}}, sorted; a partial run is no result
    yet. Raises ValueError where the runs of one cell differ in more than their seeds (POOLED)."""
    groups = {}
    for row in sorted((r for r in rows if r["finished"]), key=lambda r: (r["task"], r["n_params"], r["table_size"])):
        cell = groups.setdefault((row["task"], row["n_embd"], row["n_params"]), {}).setdefault(row["table_size"], [])
        if cell:
            first = cell[0]["config"]
            differ = sorted(k for k in {**first, **row["config"]} if k not in POOLED
                            and first.get(k) != row["config"].get(k))
            if differ:
                key = differ[0]
                raise ValueError(f"{cell[0]['run']} and {row['run']} (n{row['n_embd']}, table {row['table_size']}) "
                                 f"differ in {key} ({first.get(key)!r}, {row['config'].get(key)!r}); give the runs "
                                 f"of one setting, which may differ only in their seeds")
        cell.append(row)
    return groups


def width_capacity(tables):
    """A width's capacity from {table_size: [rows]}: the table whose mean bits stored is largest, and
    {'table_size', 'bits', 'low', 'high' (its 95% t interval over seeds), 'reached'}: reached is
    False where that table is the largest measured (the bits may still grow: a lower bound)."""
    means = {size: t_interval([r["bits_stored"] for r in rows]) for size, rows in tables.items()}
    size = max(means, key=lambda s: means[s][0])
    bits, low, high = means[size]
    return {"table_size": size, "bits": bits, "low": low, "high": high, "reached": size != max(tables)}


def interval(mean, low, high, fmt="{:,.0f}"):
    """'1,234 [1,100-1,350]', or the mean alone where one seed gives no interval."""
    shown = fmt.format(mean)
    return shown if math.isnan(low) else f"{shown} [{fmt.format(low)}-{fmt.format(high)}]"


def capacity_tables(rows, facts_rows=()):
    """capacity.md: the widths' capacities, then per width its table sizes, over finished runs, and
    where a facts width sweep's summary rows are given, facts_against_capacity."""
    groups = by_width(rows)
    lines = ["# Capacity in bits", "",
             "Bits stored: per answer max(0, H - L), H its information, L the model's teacher-forced code length, "
             "summed over the table (Morris et al. 2025; toobig/study/memorization.py), of each run's weights at "
             "the end of training. Mean over finished seeds [95% t interval]. A width's capacity is its largest "
             "mean over the table sizes; where that is the largest table measured it is a lower bound. Exposures: "
             "how often training shows each answer after its whole line so far (capacity_summary.exposures).", "",
             "| task | width | params | capacity, bits | bits per parameter | at table | plateau |", "|---|---|---|---|---|---|---|"]
    details = []
    for (task, n_embd, n_params), tables in groups.items():
        best = width_capacity(tables)
        lines.append(f"| {task} | n{n_embd} | {n_params:,} | {interval(best['bits'], best['low'], best['high'])} | "
                     f"{interval(*(v / n_params for v in (best['bits'], best['low'], best['high'])), fmt='{:.2f}')} | "
                     f"{best['table_size']:,} | {'reached' if best['reached'] else 'not reached: a lower bound'} |")
        details += ["", f"## {task}, n{n_embd} ({n_params:,} parameters)", "",
                    "| table | answers' bits | exposures | seeds | bits stored | bits per parameter | "
                    "answers right (greedy) |", "|---|---|---|---|---|---|---|"]
        for size, group in tables.items():
            stored = t_interval([r["bits_stored"] for r in group])
            right = sum(r["answers_right"] for r in group) / len(group)
            details.append(f"| {size:,} | {group[0]['entropy_bits']:,.0f} | {group[0]['exposures']:,} | {len(group)} | "
                           f"{interval(*stored)} | "
                           f"{interval(*(v / n_params for v in stored), fmt='{:.2f}')} | {right:,.0f} of {size:,} |")
    if not groups:
        lines.append("| – | no finished run yet | | | | | |")
    lines += ["", "What the paper's tasks ask, in bits: " + "; ".join(
        f"{name} {low:,.0f} to {high:,.0f}" for name, (low, high) in task_bits().items()) + "."]
    return "\n".join(lines + details) + "\n" + (facts_against_capacity(rows, facts_rows) if facts_rows else "")


WINDOW_SHARE = 0.25  # a width is in the generalization window where its seeds' mean held-out share reaches this


def generalization_window(summary_rows):
    """(smallest, largest) parameter count of the widths whose finished seeds answer the held-out
    four over the second half at a mean share of WINDOW_SHARE or more, from the rows of an arithmetic
    width sweep's summary.csv (runs of the paper's held-out pair, no weight decay; the window on
    results/sweeps/math: n8 to n20). Raises ValueError for rows that are not such a sweep's (a column
    missing, runs of another task) and where no width is in it."""
    needed = {"finished", "held_out", "weight_decay", "heldout_share_late", "n_params", "task"}
    if summary_rows and not needed <= set(summary_rows[0]):
        raise ValueError(f"the summary has no {', '.join(sorted(needed - set(summary_rows[0])))}: give an arithmetic "
                         f"width sweep's summary.csv (tools/sweep.py --task=math)")
    tasks = sorted({str(r["task"]) for r in summary_rows} - {"as_math"})
    if tasks:
        raise ValueError(f"the summary holds runs of {', '.join(tasks)}: give an arithmetic width sweep's summary.csv, "
                         f"the paper's table (tools/sweep.py --task=math)")
    shares = {}
    for r in summary_rows:
        if r["finished"] and r["held_out"] == "5:7" and not r["weight_decay"] and r["heldout_share_late"] is not None:
            shares.setdefault(r["n_params"], []).append(r["heldout_share_late"])
    inside = [n for n, values in shares.items() if sum(values) / len(values) >= WINDOW_SHARE]
    if not inside:
        raise ValueError(f"no width of the sweep answers the held-out four at a mean share of {WINDOW_SHARE:.0%} or "
                         f"more over the second half; give an arithmetic width sweep's summary.csv")
    return min(inside), max(inside)


def math_lookup_bits(held_out=PAPER_HELD_OUT, operations="+-"):
    """Two measures of what the arithmetic table's training answers take stored as a lookup, with no
    rule, in bits (facts_information_bits' counterpart): each answer coded by its operation's answers
    and their frequencies in the table (the letter-frequency estimate's analogue), and each coded
    uniformly over the table's distinct answers (28 for the paper's, as the random table codes them:
    log2(28) each). `operations`: "+" or "-" for a one-operation table (tasks.OPERATION_TASKS)."""
    withheld = set(held_out_expressions(held_out))
    training = [(op, answer) for a, op, b, answer in math_table(operations) if (a, op, b) not in withheld]
    counts, per_op = Counter(training), Counter(op for op, _ in training)
    frequencies = -sum(n * math.log2(n / per_op[op]) for (op, _), n in counts.items())
    return frequencies, len(training) * math.log2(len({answer for _, answer in training}))


def task_bits():
    """{what: (low, high)} the bits the paper's tasks ask: the arithmetic answers as a lookup
    (math_lookup_bits) and the 50 facts (sweep_summary.facts_information_bits)."""
    return {"the arithmetic answers as a lookup": math_lookup_bits(), "the 50 facts": facts_information_bits()}


def facts_accuracies(facts_rows):
    """{n_embd: [facts_acc_at_best per run]} of a facts width sweep's summary rows (read_summary), its
    finished runs of the paper's setting (no weight decay, initial scale 1): the share of the real
    facts' samples right at the best evaluation, the facts being the training items. Raises
    ValueError for rows of another task."""
    tasks = sorted({str(r.get("task")) for r in facts_rows} - {"facts_char"})
    if tasks:
        raise ValueError(f"the summary holds runs of {', '.join(tasks)}: give a facts width sweep's summary.csv "
                         f"(tools/sweep.py --task=facts)")
    real = {}
    for r in facts_rows:
        if r["finished"] and not r["weight_decay"] and r.get("init_scale", 1.0) == 1.0 and r["facts_acc_at_best"] is not None:
            real.setdefault(r["n_embd"], []).append(r["facts_acc_at_best"])
    return real


def facts_against_capacity(rows, facts_rows):
    """capacity.md's answer to issue 39's facts question: per width with runs on random capitals
    (random_facts), what it stores of the random table the size of the paper's (the 50 countries,
    each with a random capital: the real facts' format and exposures), its capacity, that capacity
    over the bits the 50 real facts ask (facts_information_bits: the string estimate, then the
    mapping alone), and the share of the real facts the same width answers, from the rows of a facts
    width sweep's summary.csv (facts_accuracies). Markdown, means over seeds; "" where no
    random_facts run has finished."""
    mapping, strings = facts_information_bits()
    real = facts_accuracies(facts_rows)
    lines = []
    for (task, n_embd, n_params), tables in by_width(rows).items():
        if task != "random_facts":
            continue
        best = width_capacity(tables)
        paper_size = tables.get(len(CAPITALS), [])
        stored = "not run"
        if paper_size:
            asked = sum(r["entropy_bits"] for r in paper_size) / len(paper_size)
            right = sorted(r["answers_right"] for r in paper_size)
            shown = f"{right[0]}" if right[0] == right[-1] else f"{right[0]}-{right[-1]}"
            stored = (f"{interval(*t_interval([r['bits_stored'] for r in paper_size]))} of {asked:,.0f}, "
                      f"{shown} of {len(CAPITALS)} answered whole (by seed)")
        accuracy = real.get(n_embd)
        lines.append(f"| n{n_embd} | {n_params:,} | {stored} | {interval(best['bits'], best['low'], best['high'])} "
                     f"at {best['table_size']:,}{'' if best['reached'] else ' (a lower bound)'} | "
                     f"{best['bits'] / strings:.2f} / {best['bits'] / mapping:.2f} | "
                     + (f"{100 * sum(accuracy) / len(accuracy):.0f}% ({len(accuracy)} seeds, "
                        f"{100 * min(accuracy):.0f}-{100 * max(accuracy):.0f}%) |" if accuracy else "no run |"))
    if not lines:
        return ""
    return "\n".join(["", "## The 50 facts against capacity", "",
                      f"Random capitals on the paper's {len(CAPITALS)} countries are the real facts' format and length with "
                      f"nothing to infer. Capacity over the facts' bits: over {strings:,.0f} (the answers spelled "
                      f"out by their letter frequencies) / over {mapping:,.0f} (which capital goes with which country, "
                      "the mapping alone); 1 or more: the width could store all 50 as a lookup. The paper's facts: "
                      "the same width's share of the 50 real facts right at its best evaluation (mean over its seeds, "
                      "their range).", "",
                      f"| width | params | random capitals, the {len(CAPITALS)} countries: bits stored | capacity, bits "
                      "(at table) | capacity / the facts' bits | the paper's facts, accuracy |",
                      "|---|---|---|---|---|---|", *lines]) + "\n"
