"""
Train a grid of runs built from a task's small-model config, varying the width
(n_embd) and the seed, then summarize them: is n14's generalization a property
of its size or the luck of one seed, and where do the transitions lie?

    python sweep.py --task=math --sizes=8,10,12,14,16,20,28 --seeds=1,2,3,4,5 --out=out/sweep_math
    python sweep.py --task=facts --sizes=10,12,14,16,18,20,24,28 --seeds=1,2,3 --out=out/sweep_facts
    python sweep.py --task=math --sizes=14 --seeds=1,2 --weight_decays=0.0,0.1 --max_iters=5000
    python sweep.py --task=math --sizes=14,28 --seeds=1,2,3 --held_outs=1:2,0:9,3:8 --out=out/sweep_held_out
    python sweep.py ... --shard=3/8     # only the 4th of 8 interleaved parts (e.g. a Slurm array task)
    python sweep.py ... --summarize_only

Each run is an ordinary run folder <out>/<task>_n<size>_s<seed>[_wd<wd>][_ho<ab>] with
results.csv and run.json; finished runs are skipped, partial ones resume. On
CPU the runs go through a process pool (--jobs processes, --threads each); on
CUDA, runs of one shape are trained together as one stacked model (stacked.py).
Afterwards the sweep folder gets summary.csv, phase.png, sizes.md (the seeds
of each size, counted), for arithmetic inside.png (inspect_model.py's measures
against the held-out count) and timing.png (is the held-out rule found before or
after the training sums are fit?), and for facts capacity.md, computed from every
run folder of the grid that exists; figures and counts use finished runs only.
"""
import csv
import io
import itertools
import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D

from configurator import exit_with_error, load_config_file, parse_args
from evaluation import pick_device
from model import GPT, GPTConfig
from plot_results import best_row, load_run, read_items
from run_configs import run_state, train_all
from run_folder import write_atomically
from tasks import (CAPITALS, PAPER_MODELS, CharCodec, get_task, held_out_expressions, parse_held_out, task_named,
                   task_text)
from train_with_eval import DEFAULTS, resolve

OPTIONS = dict(
    task="math",          # math, facts or both: the base config is config/train_<task>_mini_14.py
    sizes="8,10,12,14,16,20,28",
    seeds="1,2,3,4,5",
    weight_decays="",     # e.g. 0.0,0.1; empty: the config's
    held_outs="",         # held-out pairs, e.g. 5:7,1:2 (run names get _ho57, _ho12); empty: the config's, 5:7
    max_iters=30000,
    out="",               # default: out/sweep_<task>
    jobs=2,               # CPU: processes in the pool
    threads=1,            # CPU: threads per process
    stack=64,             # CUDA: most models trained together in one stack
    shard="0/1",          # i/N: run only runs i, i+N, i+2N, ... of the grid (0 <= i < N)
    device="auto",
    compile=True,         # torch.compile each run (off for very short runs)
    summarize_only=False,
)
MEASURE_COLUMNS = ["number_line_at_best", "number_line_final", "probe_error_at_best", "probe_error_final"]
SUMMARY_COLUMNS = ["task", "n_embd", "n_params", "seed", "weight_decay", "held_out", "finished", "best_iter",
                   "best_combined_acc", "heldout_total", "heldout_at_best", "first_iter_heldout_all_right", "final_heldout",
                   "evals_heldout_all_right", "evals_each_heldout_right", "first_iter_train_all_right", "facts_acc_at_best",
                   *MEASURE_COLUMNS]
PAPER_SIZES = [int(name[1:]) for name in PAPER_MODELS if name != "MLT"]  # 14, 28, 56


def parse_list(name, text, kind):
    try:
        return [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--{name}={text}: expected a comma-separated list of {kind.__name__}s") from None


def parse_shard(text):
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit() and 0 <= int(index) < int(count)):
        raise ValueError(f"--shard={text}: expected i/N with 0 <= i < N, e.g. --shard=0/4")
    return int(index), int(count)


def grid(options):
    """[(label, train_with_eval args, config)] for every run of the sweep, in a fixed order."""
    try:
        task_named(options["task"])
    except ValueError:
        raise ValueError(f"--task={options['task']} is not allowed; choose one of math, facts, both") from None
    base = f"config/train_{options['task']}_mini_14.py"
    base_config = resolve({**DEFAULTS, **load_config_file(base, DEFAULTS)})
    out = options["out"] or f"out/sweep_{options['task']}"
    decays = parse_list("weight_decays", options["weight_decays"], float) or [None]
    pairs = [parse_held_out(p) for p in parse_list("held_outs", options["held_outs"], str)] or [None]
    runs = []
    for pair in pairs:
        for size in parse_list("sizes", options["sizes"], int):
            for decay in decays:
                for seed in parse_list("seeds", options["seeds"], int):
                    name = (f"{options['task']}_n{size}_s{seed}" + ("" if decay is None else f"_wd{decay:g}")
                            + ("" if pair is None else f"_ho{pair[0]}{pair[1]}"))
                    overrides = {"n_embd": size, "seed": seed, "out_dir": f"{out}/{name}",
                                 "max_iters": options["max_iters"], "device": options["device"],
                                 "compile": options["compile"]}
                    if decay is not None:
                        overrides["weight_decay"] = decay
                    if pair is not None:
                        overrides["held_out"] = f"{pair[0]}:{pair[1]}"
                    args = [base] + [f"--{k}={v}" for k, v in overrides.items()]
                    runs.append((name, args, {**base_config, **overrides}))
    return runs, Path(out)


def train_stacks(runs, device, stack):
    """CUDA: train runs of one shape and one text together (same width, weight decay and held-out pair)."""
    from stacked import train_stack
    groups = {}
    for _, _, config in runs:
        if run_state(config) != "finished":
            groups.setdefault((config["n_embd"], config["weight_decay"], config["held_out"]), []).append(config)
    failed = 0
    for configs in groups.values():
        for i in range(0, len(configs), stack):
            failed += len(train_stack(configs[i:i + stack], device))  # runs that diverged
    return failed


# --- summary -----------------------------------------------------------------
def summarize_run(config):
    run = load_run(config["out_dir"])
    if run is None:
        return None
    r, info = run["results"], run["info"]
    i = best_row(r)
    all_right = np.flatnonzero((r["heldout_total"] > 0) & (r["heldout_correct"] == r["heldout_total"]))
    # the training expressions are the arithmetic less the held-out four
    train_right = r["add_correct"] + r["sub_correct"] - r["heldout_correct"]
    train_total = r["add_total"] + r["sub_total"] - r["heldout_total"]
    train_fit = np.flatnonzero((train_total > 0) & (train_right == train_total))

    def value(column, index):
        v = r[column][index]
        return "" if index is None or math.isnan(v) else (int(v) if column != "facts_acc" else round(float(v), 4))

    return {"task": config["dataset"], "n_embd": config["n_embd"], "seed": config["seed"],
            "n_params": info.get("n_params", ""), "weight_decay": config["weight_decay"],
            "held_out": config["held_out"] if "math" in get_task(config["dataset"]).parts else "",
            "finished": bool(info.get("finished")), "best_iter": value("iter", i),
            "best_combined_acc": "" if i is None else round(float(r["combined_acc"][i]), 4),
            "heldout_total": value("heldout_total", -1), "heldout_at_best": value("heldout_correct", i),
            "first_iter_heldout_all_right": int(r["iter"][all_right[0]]) if len(all_right) else "",
            "final_heldout": value("heldout_correct", -1),
            "evals_heldout_all_right": len(all_right) if r["heldout_total"][-1] > 0 else "",
            "evals_each_heldout_right": evals_each_heldout_right(config, info),
            "first_iter_train_all_right": int(r["iter"][train_fit[0]]) if len(train_fit) else "",
            "facts_acc_at_best": value("facts_acc", i),
            **inside_measures(config)}


def evals_each_heldout_right(config, info):
    """From items.csv: at how many evaluations each held-out expression has all its samples
    right, as 'n n n n' in the roles a+b, b+a, a-b, b-a (a < b, so a-b is the negative one);
    empty for a run without items or without arithmetic."""
    items = read_items(config["out_dir"])
    if items is None or "math" not in get_task(config["dataset"]).parts:
        return ""
    _, names, counts = items
    samples = info.get("config", {}).get("eval_samples", DEFAULTS["eval_samples"])
    rows = [names.index(f"{a}{op}{b}") for a, op, b in held_out_expressions(config["held_out"])]
    return " ".join(str(int((counts[i] == samples).sum())) for i in rows)


def inside_measures(config):
    """What inspect_model.py measures inside the run's saved models (model_best.pt, model_last.pt):
    the digits' number-line score and the answer probe's error on the held-out four. Empty
    for a run without them or without arithmetic."""
    from inspect_model import measures_of
    row = dict.fromkeys(MEASURE_COLUMNS, "")
    if "math" not in get_task(config["dataset"]).parts:
        return row
    for when, name in (("at_best", "model_best.pt"), ("final", "model_last.pt")):
        path = Path(config["out_dir"]) / name
        if path.is_file():
            measures = measures_of(path)
            row[f"number_line_{when}"] = measures["number_line_score"]
            row[f"probe_error_{when}"] = measures["probe_heldout_mae"]
    return row


def write_summary(rows, path):
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=SUMMARY_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    write_atomically(path, text.getvalue())


def memorized_all_facts(row):
    return row["facts_acc_at_best"] == 1.0


def by_size(rows):
    """{(n_params, n_embd, weight_decay, held_out): [rows of its seeds]}, sorted by size."""
    groups = {}
    for row in rows:
        groups.setdefault((row["n_params"], row["n_embd"], row["weight_decay"], row["held_out"]), []).append(row)
    return dict(sorted(groups.items()))


def variants(rows):
    """The (weight decay, held-out pair) settings of a sweep, each with the tag that tells it apart."""
    settings = sorted({(row["weight_decay"], row["held_out"]) for row in rows})
    decays, pairs = {d for d, _ in settings}, {p for _, p in settings}
    return [(decay, pair, "".join([f" (wd {decay:g})" if len(decays) > 1 else "",
                                   f" ({pair.replace(':', ',')})" if len(pairs) > 1 else ""]))
            for decay, pair in settings]


def phase_figure(rows, title):
    """Fraction of seeds that get the held-out four all right, and facts accuracy
    (mean, min-max band over seeds), against the parameter count."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(8, 5), dpi=120)
    ax = fig.subplots()
    settings = variants(rows)
    for v, (decay, pair, tag) in enumerate(settings):
        groups = {k: g for k, g in by_size(rows).items() if k[2:] == (decay, pair)}
        params = np.array([k[0] for k in groups], dtype=float)
        if any(row["heldout_at_best"] != "" for row in rows):
            ever = [np.mean([r["first_iter_heldout_all_right"] != "" for r in g]) for g in groups.values()]
            final = [np.mean([r["final_heldout"] == r["heldout_total"] for r in g]) for g in groups.values()]
            colors = ("tab:red", "tab:purple") if len(settings) == 1 else (f"C{v}", f"C{v}")
            ax.plot(params, 100 * np.array(ever), "o-", color=colors[0], label="held-out 40/40 at some evaluation" + tag)
            ax.plot(params, 100 * np.array(final), "s--", color=colors[1], label="held-out 40/40 at the end" + tag)
        if any(row["facts_acc_at_best"] != "" for row in rows):
            facts = [[100 * r["facts_acc_at_best"] for r in g] for g in groups.values()]
            ax.plot(params, [np.mean(f) for f in facts], "o-", color="tab:green", label="facts accuracy (mean)" + tag)
            ax.fill_between(params, [min(f) for f in facts], [max(f) for f in facts], color="tab:green", alpha=0.2,
                            label="facts accuracy (min-max over seeds)" + tag)
            every_fact = [100 * np.mean([memorized_all_facts(r) for r in g]) for g in groups.values()]
            ax.plot(params, every_fact, "^:", color="tab:olive", label="% of seeds with 50/50 facts" + tag)
    vocab_size = CharCodec.from_text(task_text(rows[0]["task"])).vocab_size
    for size in PAPER_SIZES:
        n = GPT(GPTConfig(block_size=1, vocab_size=vocab_size, n_layer=1, n_head=1, n_embd=size, bias=False,
                          mlp_expansion=1)).get_num_params()
        ax.axvline(n, color="0.6", ls=":", lw=1)
        ax.text(n, 102, f"paper n{size}", ha="center", fontsize=8, color="0.4")
    ax.set_xscale("log")
    ax.set_ylim(-3, 108)
    ax.set_xlabel("parameters (log scale)")
    ax.set_ylabel("% of seeds, or accuracy %")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center right")
    fig.tight_layout()
    return fig


def size_colors(rows):
    """One colour per width of the whole sweep, so that a width has the same colour in every figure."""
    return {size: f"C{i}" for i, size in enumerate(sorted({row["n_embd"] for row in rows}))}


def scatter_runs(ax, rows, x, y, colors):
    """One point per run, coloured by its width; returns Spearman's correlation over them."""
    from inspect_model import spearman
    for row in rows:
        ax.scatter(row[x], row[y], color=colors[row["n_embd"]], s=25, alpha=0.8)
    ax.grid(alpha=0.3)
    return spearman([row[x] for row in rows], [row[y] for row in rows]) if len(rows) > 2 else float("nan")


def finish_by_size(fig, colors, title, bottom, shown=None):
    """The legend (of the widths in `shown`, by default all), the title and the layout."""
    sizes = [size for size in colors if shown is None or size in shown]
    fig.legend([Line2D([], [], color=colors[size], marker="o", ls="none") for size in sizes],
               [f"n{size}" for size in sizes], loc="lower center", ncol=len(sizes), frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    return fig


def inside_figure(rows, title):
    """Does the inside predict generalization? Each measure of inspect_model.py against the
    held-out samples right at the same evaluation, one point per run, with Spearman's
    correlation over the runs."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(10, 8), dpi=120)
    colors = size_colors(rows)
    panels = [("number_line_at_best", "heldout_at_best", "number-line score of the digits"),
              ("number_line_final", "final_heldout", "number-line score of the digits"),
              ("probe_error_at_best", "heldout_at_best", "answer probe: mean error on the held-out four"),
              ("probe_error_final", "final_heldout", "answer probe: mean error on the held-out four")]
    for ax, (measure, heldout, label) in zip(fig.subplots(2, 2).flat, panels):
        measured = [row for row in rows if row[measure] != ""]
        rho = scatter_runs(ax, measured, measure, heldout, colors)
        when = "best evaluation" if heldout == "heldout_at_best" else "end of training"
        ax.set_title(f"at the {when}: Spearman {rho:+.2f} over {len(measured)} runs", fontsize=10)
        ax.set_xlabel(label)
        ax.set_ylabel("held-out samples right (of 40)")
    return finish_by_size(fig, colors, title, 0.04)


def timing_figure(rows, title):
    """Is the held-out rule found before or after the training sums are fit? Left: per run,
    the first evaluation with all training expressions right against the first with the
    held-out four right (under the diagonal: the rule came first). Right: that fitting
    iteration against how many evaluations had the held-out four right."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(11, 4.8), dpi=120)
    left, right = fig.subplots(1, 2)
    fit = [row for row in rows if row["first_iter_train_all_right"] != ""]
    colors = size_colors(rows)
    both = [row for row in fit if row["first_iter_heldout_all_right"] != ""]
    scatter_runs(left, both, "first_iter_train_all_right", "first_iter_heldout_all_right", colors)
    top = max([row["first_iter_train_all_right"] for row in fit] + [1000])
    left.plot([0, top], [0, top], color="gray", lw=0.8, ls="--")
    first = sum(row["first_iter_heldout_all_right"] < row["first_iter_train_all_right"] for row in both)
    left.set_title(f"rule before fit in {first} of {len(both)} runs that do both", fontsize=10)
    left.set_ylabel("first iteration with the held-out four right")
    rho = scatter_runs(right, fit, "first_iter_train_all_right", "evals_heldout_all_right", colors)
    right.set_title(f"Spearman {rho:+.2f} over the {len(fit)} runs that fit", fontsize=10)
    right.set_ylabel("evaluations with the held-out four right")
    for ax in (left, right):
        ax.set_xlabel("first iteration with all training expressions right")
    return finish_by_size(fig, colors, title, 0.06, shown={row["n_embd"] for row in fit})


def each_heldout(row):
    """The summary's 'n n n n' as ints: evaluations each held-out expression is right (a+b, b+a, a-b, b-a)."""
    return [int(n) for n in row["evals_each_heldout_right"].split()]


def pairs_figure(rows, title):
    """A sweep over held-out pairs: per width, one row per pair, and in its cells at how
    many evaluations the four together and each of them are right (median over seeds),
    so that one sees which pairs generalize and which expression holds a pair back."""
    from matplotlib.figure import Figure
    pairs = sorted({row["held_out"] for row in rows}, key=parse_held_out)
    sizes = sorted({(row["n_embd"], row["weight_decay"]) for row in rows})  # one panel each
    several_decays = len({decay for _, decay in sizes}) > 1
    columns = ["all four", "a+b", "b+a", "a-b", "b-a"]
    cells = np.full((len(sizes), len(pairs), len(columns)), np.nan)
    labels = [[] for _ in sizes]
    for (k, size), (i, pair) in itertools.product(enumerate(sizes), enumerate(pairs)):
        seeds = [r for r in rows if (r["n_embd"], r["weight_decay"]) == size and r["held_out"] == pair
                 and r["evals_each_heldout_right"]]
        if seeds:
            cells[k, i] = np.median([[r["evals_heldout_all_right"]] + each_heldout(r) for r in seeds], axis=0)
        ever = sum(r["first_iter_heldout_all_right"] != "" for r in seeds)
        labels[k].append(f"({pair.replace(':', ',')})  {ever}/{len(seeds)}")
    top = np.nanmax(cells) if np.isfinite(cells).any() else 1  # one colour scale for every width
    fig = Figure(figsize=(3.6 * len(sizes) + 1, 0.45 * len(pairs) + 2), dpi=120)
    for k, ax in enumerate(np.atleast_1d(fig.subplots(1, len(sizes)))):
        ax.imshow(cells[k], cmap="Greens", vmin=0, vmax=top, aspect="auto")
        for (i, j), value in np.ndenumerate(cells[k]):
            if not np.isnan(value):
                ax.text(j, i, f"{value:g}", ha="center", va="center", fontsize=8,
                        color="white" if value > 0.6 * top else "black")
        ax.set_xticks(range(len(columns)), columns, fontsize=8)
        ax.set_yticks(range(len(pairs)), labels[k], fontsize=8)
        n_embd, decay = sizes[k]
        ax.set_title(f"n{n_embd}" + (f" wd {decay:g}" if several_decays else "") + ": pair, seeds ever 40/40", fontsize=9)
    fig.suptitle(title + "\nevaluations right, median over seeds (a < b: a-b is the negative difference)", fontsize=10)
    fig.tight_layout()
    return fig


def sizes_table(rows, n_seeds):
    """One markdown row per size, over its finished seeds: how many seeds get the
    held-out four all right (ever, at the best evaluation, at the end) and how
    well the training task is learned."""
    has_math = any(row["heldout_at_best"] != "" for row in rows)
    has_facts = any(row["facts_acc_at_best"] != "" for row in rows)
    several_pairs = len({row["held_out"] for row in rows}) > 1
    header = ["model", "params", "wd"] + (["held out"] if several_pairs else []) + ["seeds finished"]
    if has_math:
        header += ["held-out 40/40 at some evaluation", "40/40 at best", "40/40 at end", "first 40/40 (median iter)"]
    has_items = any(row.get("evals_each_heldout_right") for row in rows)
    if has_items:
        header += ["evaluations each held-out expression is right, a+b / b+a / a-b / b-a (median)"]
    if has_facts:
        header += ["50/50 facts at best", "facts at best: mean (min-max)"]
    header += ["best combined accuracy (min-max)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (n_params, n_embd, decay, pair), group in by_size(rows).items():
        done = [r for r in group if r["finished"]]
        cells = ([f"n{n_embd}", f"{n_params:,}", f"{decay:g}"] + ([f"({pair.replace(':', ',')})"] if several_pairs else [])
                 + [f"{len(done)} of {n_seeds}"])

        def count(test):
            return f"{sum(map(test, done))}/{len(done)}"
        if has_math:
            firsts = [r["first_iter_heldout_all_right"] for r in done if r["first_iter_heldout_all_right"] != ""]
            cells += [count(lambda r: r["first_iter_heldout_all_right"] != ""), count(lambda r: r["heldout_at_best"] == r["heldout_total"]),
                      count(lambda r: r["final_heldout"] == r["heldout_total"]), f"{np.median(firsts):,.0f}" if firsts else "–"]
        if has_items:
            each = [each_heldout(r) for r in done if r.get("evals_each_heldout_right")]
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
        n_params, n_embd, decay, _ = key
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


def main(argv=None):
    try:
        options = parse_args(OPTIONS, sys.argv[1:] if argv is None else argv, allow_config_files=False)
        shard = parse_shard(options["shard"])
        runs, out = grid(options)
        n_seeds = len(parse_list("seeds", options["seeds"], int))
        device = pick_device(options["device"])
    except ValueError as e:
        exit_with_error(e)
    failed = 0
    if not options["summarize_only"]:
        mine = runs[shard[0]::shard[1]]
        if device.startswith("cuda"):
            failed = train_stacks(mine, device, options["stack"])
        else:
            failed = sum(code != 0 for code in train_all(mine, options["jobs"], options["threads"]))
    rows = [row for row in (summarize_run(config) for _, _, config in runs) if row is not None]
    if not rows:
        print(f"no run of this sweep has results yet under {out}")
        return
    out.mkdir(parents=True, exist_ok=True)
    write_summary(rows, out / "summary.csv")
    written = ["summary.csv"]
    finished = [row for row in rows if row["finished"]]  # a partial run is not a result yet
    if finished:
        phase_figure(finished, f"{options['task']} sweep: {len(finished)} of {len(runs)} runs finished"
                     ).savefig(out / "phase.png")
        written.append("phase.png")
    write_atomically(out / "sizes.md", sizes_table(rows, n_seeds))
    written.append("sizes.md")
    measured = [row for row in finished if row["number_line_final"] != ""]
    if measured:
        inside_figure(measured, f"{options['task']} sweep: inside the models against the held-out four"
                      ).savefig(out / "inside.png")
        written.append("inside.png")
    if any(row["first_iter_train_all_right"] != "" for row in finished):
        timing_figure(finished, f"{options['task']} sweep: the held-out rule and the fit of the training sums"
                      ).savefig(out / "timing.png")
        written.append("timing.png")
    if len({row["held_out"] for row in finished}) > 1 and any(row["evals_each_heldout_right"] for row in finished):
        pairs_figure(finished, f"{options['task']} sweep: the held-out pairs").savefig(out / "held_out.png")
        written.append("held_out.png")
    if rows[0]["facts_acc_at_best"] != "":
        write_atomically(out / "capacity.md", capacity_report(rows, n_seeds))
        written.append("capacity.md")
    print(f"wrote {', '.join(str(out / w) for w in written)} from {len(rows)} of {len(runs)} runs"
          f" ({len(finished)} finished)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
