"""
A sweep's figures: phase.png (generalization and memorization against size),
inside.png (the inside measures against the held-out count), timing.png (the
held-out four among the training quadruples; fit against rule) and
held_out.png (held-out pairs) take summary rows (toobig/analysis/sweep_summary.py); norms.png
(the weight norm along training) reads the runs' norms.csv.
"""
import itertools
import math

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from model import GPT, GPTConfig
from toobig.analysis.long_training import SETTINGS, share_along
from toobig.analysis.sweep_summary import (
    by_size,
    init_scale,
    memorized_all_facts,
    variants,
    weight_norm,
)
from toobig.core.stats import format_p, spearman_test
from toobig.runs.reading import load_run, matrix_norm
from toobig.study.tasks import (
    PAPER_MODELS,
    CharCodec,
    held_out_label,
    parse_held_out,
    task_text,
)

PAPER_SIZES = [int(name[1:]) for name in PAPER_MODELS if name != "MLT"]  # 14, 28, 56


def phase_figure(rows, title):
    """Fraction of seeds that get the held-out four all right, and facts accuracy
    (mean, min-max band over seeds), against the parameter count."""
    fig = Figure(figsize=(8, 5), dpi=120)
    ax = fig.subplots()
    settings = variants(rows)
    for v, (decay, scale, norm, pair, tag) in enumerate(settings):
        groups = {k: g for k, g in by_size(rows).items() if k[2:] == (decay, scale, norm, pair)}
        params = np.array([k[0] for k in groups], dtype=float)
        if any(row["heldout_at_best"] is not None for row in rows):
            ever = [np.mean([r["first_iter_heldout_all_right"] is not None for r in g]) for g in groups.values()]
            chosen = [np.mean([r["heldout_at_train_best"] == r["heldout_total"] for r in g]) for g in groups.values()]
            final = [np.mean([r["final_heldout"] == r["heldout_total"] for r in g]) for g in groups.values()]
            colors = ("tab:red", "tab:brown", "tab:purple") if len(settings) == 1 else (f"C{v}",) * 3
            ax.plot(params, 100 * np.array(ever), "o-", color=colors[0],
                    label="held-out 40/40 at some evaluation (selected on them)" + tag)
            ax.plot(params, 100 * np.array(chosen), "D-.", color=colors[1],
                    label="held-out 40/40 at the evaluation the training items pick" + tag)
            ax.plot(params, 100 * np.array(final), "s--", color=colors[2], label="held-out 40/40 at the end" + tag)
        if any(row["facts_acc_at_best"] is not None for row in rows):
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
    """One point per run, coloured by its width, and in a box Spearman's correlation within
    each width (across widths a correlation is mostly width); returns (rho, permutation p)
    over all the runs."""
    for row in rows:
        ax.scatter(row[x], row[y], color=colors[row["n_embd"]], s=25, alpha=0.8)
    ax.grid(alpha=0.3)
    within = []
    for size in sorted({row["n_embd"] for row in rows}):
        group = [r for r in rows if r["n_embd"] == size]
        rho, p = spearman_test([r[x] for r in group], [r[y] for r in group])
        if not math.isnan(rho):
            within.append(f"n{size}: {rho:+.2f} ({format_p(p)}, {len(group)} runs)")
    ax.text(0.02, 0.97, "within one width:\n" + ("\n".join(within) or "–"), transform=ax.transAxes, va="top",
            fontsize=7, bbox=dict(facecolor="white", alpha=0.6, edgecolor="0.8"))
    if len(rows) < 3:
        return float("nan"), float("nan")
    return spearman_test([row[x] for row in rows], [row[y] for row in rows])


# what a summary column holds, as a figure's title names it
WORDS = {"first_iter_train_all_right": "first fit", "evals_heldout_all_right": "held-out evaluations",
         "heldout_at_best": "held-out count", "final_heldout": "held-out count",
         "number_line_at_best": "number-line score", "number_line_final": "number-line score",
         "probe_error_at_best": "probe error", "probe_error_final": "probe error"}


def no_spearman(rows, x, y):
    """Why a panel's Spearman correlation is undefined (spearman_test's nan), in words: a title
    never shows a nan."""
    if len(rows) < 3:
        return "too few runs for Spearman"
    constant = [WORDS.get(key, key) for key in (x, y) if len({row[key] for row in rows}) == 1]
    return f"no Spearman ({' and '.join(constant) or 'one axis'} constant)"


def no_data(ax, what):
    """A panel without a point says so, plainly, instead of drawing empty axes."""
    ax.text(0.5, 0.5, f"no data:\n{what}", transform=ax.transAxes, ha="center", va="center", fontsize=10, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def finish_by_size(fig, colors, title, bottom, shown=None):
    """The legend (of the widths in `shown`, by default all), the title and the layout."""
    sizes = [size for size in colors if shown is None or size in shown]
    if sizes:  # no point drawn, no legend: matplotlib refuses one of no columns
        fig.legend([Line2D([], [], color=colors[size], marker="o", ls="none") for size in sizes],
                   [f"n{size}" for size in sizes], loc="lower center", ncol=len(sizes), frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    return fig


def inside_figure(rows, title):
    """Does the inside predict generalization? Each measure of tools/inspect_model.py against the
    held-out samples right at the same evaluation, one point per run, with Spearman's
    correlation over the runs and within each width (correlational, not causal)."""
    fig = Figure(figsize=(10, 8), dpi=120)
    colors = size_colors(rows)
    panels = [("number_line_at_best", "heldout_at_best", "number-line score of the digits"),
              ("number_line_final", "final_heldout", "number-line score of the digits"),
              ("probe_error_at_best", "heldout_at_best", "answer probe: mean error on the held-out four"),
              ("probe_error_final", "final_heldout", "answer probe: mean error on the held-out four")]
    for ax, (measure, heldout, label) in zip(fig.subplots(2, 2).flat, panels):
        measured = [row for row in rows if row[measure] is not None]
        when = "best evaluation" if heldout == "heldout_at_best" else "end of training"
        if measured:
            rho, p = scatter_runs(ax, measured, measure, heldout, colors)
            correlation = no_spearman(measured, measure, heldout) if math.isnan(rho) \
                else f"Spearman {rho:+.2f} ({format_p(p)})"
            ax.set_title(f"at the {when}: {correlation} over {len(measured)} runs", fontsize=9)
        else:
            no_data(ax, f"no run has the {WORDS[measure]} measured")
            ax.set_title(f"at the {when}: no runs", fontsize=9)
        ax.set_xlabel(label)
        ax.set_ylabel("held-out samples right (of 40)")
    return finish_by_size(fig, colors, title, 0.04)


def timing_figure(rows, title):
    """Is the held-out rule found before the fit? Left: for each run that gets the held-out
    four all right, their place among the 45 quadruples c+d, d+c, c-d, d-c when each is
    first all right (reading.rule_before_fit; 1 = first, 23 = the middle, what a quadruple
    like any other would get on average). Right: per run, the first evaluation with every
    training expression right against how many evaluations had the held-out four right,
    with Spearman's rho over all runs and within each width (permutation p)."""
    fig = Figure(figsize=(11, 4.8), dpi=120)
    left, right = fig.subplots(1, 2)
    colors = size_colors(rows)
    ranked = [row for row in rows if row["heldout_quadruple_rank"] is not None]
    sizes = sorted({row["n_embd"] for row in ranked})
    jitter = np.random.default_rng(0)
    for row in ranked:
        left.scatter(sizes.index(row["n_embd"]) + jitter.uniform(-0.15, 0.15), row["heldout_quadruple_rank"],
                     color=colors[row["n_embd"]], s=25, alpha=0.8)
    if ranked:
        left.axhline(23, color="gray", lw=0.8, ls="--")
        left.set_xticks(range(len(sizes)), [f"n{s}" for s in sizes])
        left.set_xlim(-0.5, len(sizes) - 0.5)
        left.set_ylim(46, 0)
        left.set_ylabel("place among the 45 quadruples (1 = first all right)")
        median = np.median([row["heldout_quadruple_rank"] for row in ranked])
        left.set_title(f"when the held-out four are first all right, among the 45 quadruples\n"
                       f"median place {median:g} ({len(ranked)} runs); dashed: the middle", fontsize=9)
    else:
        no_data(left, "no run gets the held-out four all right")
        left.set_title("when the held-out four are first all right, among the 45 quadruples", fontsize=9)
    left.grid(alpha=0.3)
    fit = [row for row in rows if row["first_iter_train_all_right"] is not None]
    if fit:
        rho, p = scatter_runs(right, fit, "first_iter_train_all_right", "evals_heldout_all_right", colors)
        correlation = no_spearman(fit, "first_iter_train_all_right", "evals_heldout_all_right") if math.isnan(rho) \
            else f"Spearman {rho:+.2f} ({format_p(p)})"
        right.set_title(f"all {len(fit)} runs that fit: {correlation}", fontsize=9)
    else:
        no_data(right, "no run gets every training expression right")
        right.set_title("the runs that fit: none", fontsize=9)
    right.set_ylabel("evaluations with the held-out four right")
    right.set_xlabel("first iteration with all training expressions right")
    return finish_by_size(fig, colors, title, 0.06, shown={row["n_embd"] for row in ranked + fit})


def pairs_figure(rows, title):
    """A sweep over held-out pairs: per width, one row per pair, and in its cells at how
    many evaluations the four together and each of them are right (median over seeds),
    so that one sees which pairs generalize and which expression holds a pair back."""
    pairs = sorted({row["held_out"] for row in rows}, key=parse_held_out)
    def panel(row):
        return row["n_embd"], row["weight_decay"], init_scale(row), weight_norm(row)
    sizes = sorted({panel(row) for row in rows})  # one panel each
    several_decays, several_scales, several_norms = (len({size[k] for size in sizes}) > 1 for k in (1, 2, 3))
    columns = ["all four", "a+b", "b+a", "a-b", "b-a"]
    cells = np.full((len(sizes), len(pairs), len(columns)), np.nan)
    labels = [[] for _ in sizes]
    for (k, size), (i, pair) in itertools.product(enumerate(sizes), enumerate(pairs)):
        seeds = [r for r in rows if panel(r) == size and r["held_out"] == pair
                 and r["evals_each_heldout_right"]]
        if seeds:
            cells[k, i] = np.median([[r["evals_heldout_all_right"]] + r["evals_each_heldout_right"] for r in seeds], axis=0)
        ever = sum(r["first_iter_heldout_all_right"] is not None for r in seeds)
        labels[k].append(f"{held_out_label(pair)}  {ever}/{len(seeds)}")
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
        n_embd, decay, scale, norm = sizes[k]
        ax.set_title(f"n{n_embd}" + (f" wd {decay:g}" if several_decays else "")
                     + (f" init x{scale:g}" if several_scales else "") + (f" norm {norm:g}" if several_norms else "")
                     + ": pair, seeds ever 40/40", fontsize=9)
    fig.suptitle(title + "\nevaluations right, median over seeds (a < b: a-b is the negative difference)", fontsize=10)
    fig.tight_layout()
    return fig


def norms_figure(folders, title):
    """The norm of the weight matrices at every evaluation (reading.matrix_norm), one line per run,
    a panel per width, a colour per (init scale, weight decay, held norm); dots where the held-out four are
    all right: does the held-out rule come with a small norm (Liu et al. 2023, Omnigrok)?"""
    runs = [load_run(folder) for folder in folders]
    widths = sorted({run["config"]["n_embd"] for run in runs})
    def setting(run):
        return run["config"]["init_scale"], run["config"]["weight_decay"], weight_norm(run["config"])
    settings = sorted({setting(run) for run in runs})
    fig = Figure(figsize=(5.5 * len(widths), 4.5), dpi=120)
    for ax, width in zip(np.atleast_1d(fig.subplots(1, len(widths))), widths):
        for run in (r for r in runs if r["config"]["n_embd"] == width):
            iters, norm = matrix_norm(run["folder"])
            k = settings.index(setting(run))
            ax.plot(iters, norm, color=f"C{k}", lw=1, alpha=0.8)
            r = run["results"]
            right = np.isin(iters, r["iter"][(r["heldout_total"] > 0) & (r["heldout_correct"] == r["heldout_total"])])
            ax.plot(iters[right], norm[right], "o", color=f"C{k}", ms=3)
        ax.set_yscale("log")
        ax.set_title(f"n{width}", fontsize=10)
        ax.set_xlabel("iteration")
        ax.set_ylabel("norm of the weight matrices (log scale)")
        ax.grid(alpha=0.3)
    fig.legend([Line2D([], [], color=f"C{k}") for k in range(len(settings))] + [Line2D([], [], color="0.3", marker="o",
                                                                                         ls="none", ms=3)],
               [f"init x{scale:g}, wd {decay:g}" + (f", norm held at {norm:g}" if norm else "")
                for scale, decay, norm in settings] + ["held-out four all right"],
               loc="lower center", ncol=len(settings) + 1, frameon=False, fontsize=8)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def long_runs_figure(settings, baselines, title, same_decay=None):
    """Held-out share against iteration (log axis), a panel per width, a colour per setting:
    `settings` {setting: [run folders]}, `baselines` [run folders of the paper's length], drawn
    grey dashed, `same_decay` {setting: [run folders of the paper's length with its decay]}, drawn
    dashed in the setting's colour. Each curve is long_training.share_along (at each evaluation,
    the share over the second half of training so far); a setting keeps its colour (its place in
    long_training.SETTINGS)."""
    runs = [(name, folder, load_run(folder)["config"]["n_embd"]) for name, folders in settings.items()
            for folder in folders]
    colour = {name: f"C{k}" for k, name in enumerate(SETTINGS)}
    widths = sorted({width for _, _, width in runs})
    fig = Figure(figsize=(max(6.5, 5.5 * len(widths)), 5.5), dpi=120)
    for ax, width in zip(np.atleast_1d(fig.subplots(1, len(widths))), widths):
        for folder in baselines:
            if load_run(folder)["config"]["n_embd"] == width:
                iters, share = share_along(folder)
                ax.plot(iters, 100 * share, color="0.6", lw=1, ls="--")
        for setting, folders in (same_decay or {}).items():
            for folder in folders:
                if load_run(folder)["config"]["n_embd"] == width:
                    iters, share = share_along(folder)
                    ax.plot(iters, 100 * share, color=colour[setting], lw=1, ls="--", alpha=0.6)
        for setting, folder, w in runs:
            if w == width:
                iters, share = share_along(folder)
                ax.plot(iters, 100 * share, color=colour[setting], lw=1, alpha=0.8)
        ax.set_xscale("log")
        ax.set_ylim(-3, 103)
        ax.set_title(f"n{width}", fontsize=10)
        ax.set_xlabel("iteration (log scale)")
        ax.set_ylabel("held-out samples right, 2nd half so far (%)")
        ax.grid(alpha=0.3)
    same = [name for name in settings if (same_decay or {}).get(name)]
    fig.legend([Line2D([], [], color=colour[name]) for name in settings] + [Line2D([], [], color="0.6", ls="--")]
               + [Line2D([], [], color=colour[name], ls="--", alpha=0.6) for name in same],
               [f"{name}: {SETTINGS[name]}" for name in settings] + ["the paper's length (30,000), no decay"]
               + [f"the paper's length with {name}'s decay (sweeps/decay_all)" for name in same],
               loc="lower center", ncol=1, frameon=False, fontsize=8)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.01 + 0.035 * (len(settings) + 1 + len(same)), 1, 1))
    return fig
