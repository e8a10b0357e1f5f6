"""
Looking for a progress measure: quantities computed from the weights and the training
prompts only, at every evaluation of runs trained with --keep_evals, against the
held-out four's logit margins that each run logged at that evaluation (margins.csv).
Does any of them rise before the held-out answers turn right, within a width?

    python tools/sweep.py --task=math --sizes=14,28 --seeds=1,2,3,4,5 --keep_evals --out=out/sweep_progress
    python tools/progress.py --runs=out/sweep_progress --out=results/progress

Measures, per evaluation (toobig/interp/mechanism.py, toobig/interp/readout.py; none reads a held-out item):
  readout_r2     the output head's ten digit rows explained by a polynomial of degree
                 READOUT_DEGREE in the digit, R^2 (the weights alone)
  readout_kept   the share of the training answers greedy decoding gets right with the
                 digit readout reduced to that polynomial
  organization   the median MLP neuron's pre-activation at `=` explained by (operator,
                 result) over the training prompts, R^2
  train_right    the share of the training answers right as trained (for reference)
--runs: a folder of runs (a sweep's) or one run's folder.
Per run: the held-out first onset, the first evaluation at which all four held-out
answers have a positive margin (they need not stay so); each measure's rise time, the
first evaluation at which it has covered half its way from iteration 0 to its median
over the second half of training; and, over the second half, how each measure goes
with the held-out margin (Spearman within the run, a sign test across runs). Writes
progress.csv (every run and evaluation), progress.md and progress.png.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the root, for python tools/<tool>.py from anywhere

import toobig  # noqa: F401  first, before torch: it pins the CPU kernels every run uses (toobig/core/reproducible.py)

import numpy as np
import torch

from toobig.runs.checkpoints import load_paper_model
from configurator import exit_with_error, parse_args
from toobig.core.devices import MACHINE_ERRORS
from toobig.interp.interventions import answer_margin, answer_token_margins, math_batch
from toobig.interp.mechanism import check_arithmetic_model, result_organization, rows_of
from toobig.interp.readout import digit_readout
from toobig.core.files import write_atomically
from toobig.runs.reading import read_item_table
from toobig.core.stats import binomial_test, format_p, permutation_test, spearman, spearman_test
from toobig.study.training_config import saved_config

OPTIONS = dict(runs="out/sweep_progress", out="out/progress")
MEASURES = ("readout_r2", "readout_kept", "organization", "train_right")


def measures(path):
    """(iteration, width, held-out pair, {measure: value}) of one evals/iter_<n>.pt."""
    model, codec, checkpoint = load_paper_model(path)
    check_arithmetic_model(model, codec, path)
    held_out = saved_config(checkpoint)["held_out"]
    expressions, train, _ = rows_of(held_out)
    batch = math_batch(codec, expressions)
    reduced, r2 = digit_readout(model, codec)

    def right(m):
        return float((answer_margin(answer_token_margins(m, batch)[train]) > 0).float().mean())
    return checkpoint["iter_num"], model.config.n_embd, held_out, {
        "readout_r2": r2, "readout_kept": right(reduced),
        "organization": float(np.median(result_organization(model, codec, held_out))), "train_right": right(model)}


def run_trace(folder):
    """One run's measures at every kept evaluation, with the held-out four's smallest margin then:
    {'run', 'width', 'iters', measure: array, 'held_out_margin': array}. Raises ValueError for a
    folder without evals/ or margins.csv."""
    paths = sorted((folder / "evals").glob("iter_*.pt"))
    table = read_item_table(folder, "margins.csv")
    if not paths or table is None:
        raise ValueError(f"{folder} has no evals/ or no margins.csv: train it with --keep_evals")
    rows = [measures(p) for p in paths]
    iters = np.array([r[0] for r in rows])
    if iters[0] != 0:
        raise ValueError(f"{folder}/evals starts at iteration {iters[0]}, not 0: rise times are measured from "
                         f"iteration 0; train the run with --keep_evals from the start")
    logged, names, values = table
    # a gap would shift rise times silently; an end without kept weights is a run resumed with keep_evals off
    missing = sorted(i for i in set(logged.tolist()) - set(iters.tolist()) if i < iters[-1])
    if missing:
        raise ValueError(f"{folder}/evals lacks the weights of {len(missing)} evaluation(s) that margins.csv has "
                         f"(iteration {', '.join(map(str, missing[:3]))}{', ...' if len(missing) > 3 else ''}); "
                         f"train the run again with --keep_evals")
    expressions, _, held = rows_of(rows[0][2])
    held_names = ["".join(map(str, expressions[i])) for i in held]
    columns = [logged.tolist().index(i) for i in iters]
    margins = values[[names.index(n) for n in held_names]][:, columns]
    return {"run": folder.name, "width": rows[0][1], "iters": iters, "held_out_margin": margins.min(axis=0),
            **{m: np.array([r[3][m] for r in rows]) for m in MEASURES}}


def onset(trace):
    """The first onset: the first iteration at which all four held-out answers are right (None:
    never). They need not stay right."""
    right = np.flatnonzero(trace["held_out_margin"] > 0)
    return int(trace["iters"][right[0]]) if len(right) else None


def rise_time(trace, measure):
    """The first iteration at which `measure` has covered half its way from iteration 0 to its median
    over the second half of training (None if it ends where it began)."""
    values, iters = trace[measure], trace["iters"]
    start, end = values[0], np.median(values[iters >= iters[-1] / 2])
    if end == start:
        return None
    covered = (values - start) / (end - start)
    return int(iters[np.flatnonzero(covered >= 0.5)[0]])


def late(trace, key):
    """The median of trace[key] over the second half of training."""
    return float(np.median(trace[key][trace["iters"] >= trace["iters"][-1] / 2]))


def peak(trace, measure):
    """(the iteration where `measure` is highest, its value there)."""
    k = int(np.argmax(trace[measure]))
    return int(trace["iters"][k]), float(trace[measure][k])


def report(traces):
    lines = ["| run | held-out first onset (iter) | " + " | ".join(f"{m}: rise time / 2nd-half median" for m in MEASURES)
             + " | readout_r2: peak (iter) / 2nd-half median | held-out smallest margin: at that peak / 2nd-half median |",
             "|---|---|" + "---|" * (len(MEASURES) + 2)]
    for t in traces:
        at, top = peak(t, "readout_r2")
        lines.append(f"| {t['run']} | {onset(t) if onset(t) is not None else 'never'} | "
                     + " | ".join(f"{rise_time(t, m)} / {late(t, m):.2f}" for m in MEASURES)
                     + f" | {top:.2f} ({at}) / {late(t, 'readout_r2'):.2f} | "
                     f"{t['held_out_margin'][list(t['iters']).index(at)]:+.1f} / {late(t, 'held_out_margin'):+.1f} |")
    lines.append("")
    widths = sorted({t["width"] for t in traces})
    if len(widths) == 2:
        drops = [[peak(t, "readout_r2")[1] - late(t, "readout_r2") for t in traces if t["width"] == w] for w in widths]
        lines.append(f"- readout_r2's fall from its peak to the second half: n{widths[0]} {np.mean(drops[0]):.2f}, "
                     f"n{widths[1]} {np.mean(drops[1]):.2f} (means over {len(drops[0])} and {len(drops[1])} runs; "
                     f"permutation test {format_p(permutation_test(drops[0], drops[1]))})")
    for m in MEASURES:
        timed = [(rise_time(t, m), onset(t), t["width"]) for t in traces if onset(t) is not None and rise_time(t, m) is not None]
        before = sum(r < o for r, o, _ in timed)
        after = sum(r > o for r, o, _ in timed)
        line = (f"- {m}: rises before the held-out first onset in {before} of {len(timed)} runs with one, after it in "
                f"{after} (sign test {format_p(binomial_test(before, before + after)) if before + after else 'p = 1'})")
        for width in sorted({w for _, _, w in timed}):
            pairs = [(r, o) for r, o, w in timed if w == width]
            if len(pairs) >= 4:
                rho, p = spearman_test([r for r, _ in pairs], [o for _, o in pairs])
                line += f"; n{width}: rise time against onset, Spearman {rho:+.2f} ({format_p(p)}, {len(pairs)} runs)"
        lines.append(line)
    lines.append("")
    for m in MEASURES:
        parts = []
        for width in sorted({t["width"] for t in traces}):
            rhos = [covariation(t, m) for t in traces if t["width"] == width]
            up, down = sum(r > 0 for r in rhos), sum(r < 0 for r in rhos)
            parts.append(f"n{width}: {', '.join('n/a' if np.isnan(r) else f'{r:+.2f}' for r in rhos)} "
                         f"({up} of {sum(not np.isnan(r) for r in rhos)} with a value positive, sign test "
                         f"{format_p(binomial_test(up, up + down)) if up + down else 'p = 1'})")
        lines.append(f"- {m} against the held-out smallest margin over the second half, Spearman within each run: "
                     + "; ".join(parts))
    return "\n".join(lines) + "\n"


def covariation(trace, measure):
    """Spearman, over the evaluations of the second half of training, between `measure` and the
    held-out four's smallest margin: does the measure follow the held-out answers as they drift?
    (Evaluations of one run are not independent; runs are, hence the sign test across them.)"""
    late = trace["iters"] >= trace["iters"][-1] / 2
    if late.sum() < 5:
        return float("nan")  # too few evaluations to say
    return spearman(trace[measure][late], trace["held_out_margin"][late])


def figure(traces):
    from matplotlib.figure import Figure
    widths = sorted({t["width"] for t in traces})
    fig = Figure(figsize=(5 * len(widths), 7), dpi=110)
    axes = fig.subplots(2, len(widths), squeeze=False, sharex=True)
    for k, width in enumerate(widths):
        for n, t in enumerate(t for t in traces if t["width"] == width):
            axes[0, k].plot(t["iters"], t["held_out_margin"], lw=1, label=t["run"])
            for j, m in enumerate(MEASURES):
                axes[1, k].plot(t["iters"], t[m], lw=0.8, color=f"C{j}", label=None if n else m)
        axes[0, k].axhline(0, color="0.5", lw=1)
        axes[0, k].set_title(f"n{width}", fontsize=10)
        axes[0, k].set_ylabel("held-out four: smallest margin", fontsize=8)
        axes[1, k].set_ylabel("measure (training data only)", fontsize=8)
        axes[1, k].set_xlabel("iteration")
        axes[0, k].legend(fontsize=6)
        axes[1, k].legend(fontsize=6)
        axes[0, k].set_ylim(-30, 15)
    fig.tight_layout()
    return fig


def main(argv=None):
    try:
        options = parse_args(OPTIONS, sys.argv[1:] if argv is None else argv, allow_config_files=False)
        root = Path(options["runs"])
        if (root / "evals").is_dir():  # one run's folder
            folders = [root]
        else:
            folders = sorted(p for p in root.iterdir() if (p / "evals").is_dir()) if root.is_dir() else []
        if not folders:
            raise ValueError(f"--runs={root}: no run folder there has evals/ (train with --keep_evals)")
        torch.set_num_threads(1)
        traces = [run_trace(f) for f in folders]
        out = Path(options["out"])
        out.mkdir(parents=True, exist_ok=True)
        header = ["run", "width", "iter", "held_out_margin", *MEASURES]
        rows = [",".join(map(str, [t["run"], t["width"], int(i), round(float(t["held_out_margin"][n]), 3),
                                   *(round(float(t[m][n]), 4) for m in MEASURES)]))
                for t in traces for n, i in enumerate(t["iters"])]
        write_atomically(out / "progress.csv", "\n".join([",".join(header), *rows]) + "\n")
        command = "python tools/progress.py " + " ".join(f"--{k}={v}" for k, v in options.items())
        text = f"# Looking for a progress measure: {len(traces)} runs\n\nMade by `{command}`.\n\n" + report(traces)
        write_atomically(out / "progress.md", text)
        figure(traces).savefig(out / "progress.png")
    except (ValueError, OSError, *MACHINE_ERRORS) as e:
        exit_with_error(e)
    print(text)
    print(f"wrote {out / 'progress.csv'}, {out / 'progress.md'}, {out / 'progress.png'}")


if __name__ == "__main__":
    main()
