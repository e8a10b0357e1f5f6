"""
Why the small model generalizes, causally: the interventions of toobig/interp/mechanism.py, toobig/interp/readout.py
and toobig/interp/circuits.py over many 1-layer arithmetic runs, grouped by width, and the wrong answers
of a held-out sweep, in one report (results/README.md's "Why" section is written from it).

    python tools/why.py --runs=results/sweeps/math --out=results/why
    python tools/why.py --runs=results/math_mini_14,results/math_mini_28 --ckpt=model_best.pt --out=out/why

--runs: run folders, or folders of run folders (a sweep), comma-separated; each run's --ckpt is
intervened on, and its held-out a-b (a < b) patched (attention output at `=` onward) from prompts
with the same difference and with a difference one away. --errors: a sweep over held-out pairs
whose final answers are tallied and tested against what the mechanism predicts. Writes why.json
(every run's report), why.md and why.png.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the root, for python tools/<tool>.py from anywhere

import toobig  # noqa: F401  first, before torch: it pins the CPU kernels every run uses (toobig/core/reproducible.py)
import json

import numpy as np
import torch

from toobig.runs.checkpoints import load_paper_model
from configurator import exit_with_error, parse_args
from toobig.core.devices import MACHINE_ERRORS
from toobig.interp.interventions import answer_token_margins, math_batch
from toobig.interp.circuits import DECISIONS, neurons_needed
from toobig.interp.mechanism import (check_arithmetic_model, chord_offset, component_ablations, digit_attention, neuron_ablations,
                       order_patches, patch_report, reduced_models, result_organization, rows_of,
                       train_and_held_out)
from toobig.interp.readout import digit_readout, segment_walks
from toobig.core.files import write_atomically
from toobig.runs.reading import heldout_share_late, in_repository, load_run
from toobig.core.stats import (binomial_test, format_p, median_or_none, median_range, permutation_test, spearman_test,
                   stratified_spearman_test)
from toobig.study.tasks import parse_held_out
from toobig.study.training_config import saved_config
from toobig.analysis.wrong_answers import errors_section, held_out_answers

OPTIONS = dict(runs="results/sweeps/math", ckpt="model_last.pt", errors="results/sweeps/held_out", out="out/why", kind="mean")
COMPONENTS = ("attention output", "attention pattern, uniform", "MLP output")


def run_folders(paths, ckpt):
    """Every folder under the comma-separated paths that holds `ckpt`, a sweep's runs in name order."""
    folders = []
    for path in (in_repository(p) for p in paths.split(",") if p):
        if not path.is_dir():
            raise ValueError(f"--runs={path} is not a folder")
        folders += [path] if (path / ckpt).is_file() else sorted(p for p in path.iterdir() if (p / ckpt).is_file())
    if not folders:
        raise ValueError(f"--runs={paths}: no run folder there holds {ckpt}")
    return folders


def patch_pairs(held_out):
    """(target, same-difference sources, sources one difference away) for the held-out a-b, a < b."""
    a, b = parse_held_out(held_out)
    same = [(a + k, "-", b + k) for k in (-2, -1, 1, 2) if 0 <= a + k and b + k <= 9]
    near = [(a + 1, "-", b), (a, "-", b + 1), (a - 1, "-", b), (a, "-", b - 1)]
    return (a, "-", b), same, [e for e in near if 0 <= min(e[0], e[2]) and max(e[0], e[2]) <= 9]


def run_report(folder, ckpt, kind):
    """One run's interventions (toobig/interp/mechanism.py) and patches, as a dict."""
    model, codec, checkpoint = load_paper_model(folder / ckpt)
    check_arithmetic_model(model, codec, folder / ckpt)
    config = saved_config(checkpoint)
    held_out = config["held_out"]
    target, same, near = patch_pairs(held_out)
    expressions, _, _ = rows_of(held_out)
    run = load_run(folder)
    share = heldout_share_late(run["results"], config["max_iters"]) if run else float("nan")
    return {"run": str(folder), "ckpt": ckpt, "iter": checkpoint.get("iter_num"), "n_embd": config["n_embd"],
            "seed": config["seed"], "held_out": held_out, "heldout_share_late": None if np.isnan(share) else share,
            "baseline": train_and_held_out(answer_token_margins(model, math_batch(codec, expressions)), held_out),
            "components": {k: v for k, v in component_ablations(model, codec, held_out, kind).items() if k in COMPONENTS},
            "neurons": neuron_ablations(model, codec, held_out, kind), "neurons_needed": neurons_needed(model, codec, held_out),
            "reduced_models": reduced_models(model, codec, held_out),
            "result_organization": result_organization(model, codec, held_out),
            "digit_readout_r2": digit_readout(model, codec)[1], "segment_walks": segment_walks(model, codec),
            "digit_attention": digit_attention(model, codec), "chord_offset": chord_offset(model, codec),
            "order_patches": order_patches(model, codec, held_out),
            "patches": {"same difference": [patch_report(model, codec, s, target) for s in same],
                        "difference one away": [patch_report(model, codec, s, target) for s in near]}}


def neuron_share(report):
    """Per neuron, the share of the answers the model gets right that ablating it breaks."""
    right = report["baseline"]["train"]["right"] + report["baseline"]["held_out"]["right"]
    return [n["answers_it_breaks"] / max(right, 1) for n in report["neurons"]]


def held_out_margin(part, role):
    """The held-out answers' mean margin of one answer token (a train_and_held_out part); NaN where
    no held-out answer has that token (no two-digit sum: no tens)."""
    return part["held_out"]["mean_margin"].get(role, float("nan"))


def walked(report, kind=None):
    """The share of the steered segments with both ends right (readout.segment_walks) that are
    walked in order: of one kind, or of all."""
    parts = [report["segment_walks"][kind]] if kind else list(report["segment_walks"].values())
    return sum(w["in order"] for w in parts) / max(sum(w["of"] for w in parts), 1)


def gap(part):
    """The share of held-out answers right minus that of training answers (a train_and_held_out)."""
    return part["held_out"]["right"] / part["held_out"]["of"] - part["train"]["right"] / part["train"]["of"]


POLYNOMIAL, CONTROL = "readout:", "readout, control"  # how the two digit-readout reductions' names begin


def readout_reduced(report, kind=POLYNOMIAL):
    """The train_and_held_out of a run reduced to its polynomial digit readout (or the control)."""
    return next(v for k, v in report["reduced_models"].items() if k.startswith(kind))


def units_change(report, kind=POLYNOMIAL):
    """How much the held-out answers' mean units margin rises with the digit readout reduced."""
    return held_out_margin(readout_reduced(report, kind), "units") - held_out_margin(report["baseline"], "units")


RUN_MEASURES = {  # a number per run, compared between widths (width_contrast) and within them (within_widths)
    "median neuron's share of answers broken": lambda r: np.median(neuron_share(r)),
    "median neuron's share x neurons": lambda r: np.median(neuron_share(r)) * len(r["neurons"]),
    "median neuron's result organization R^2": lambda r: np.median(r["result_organization"]),
    "digit readout's polynomial R^2": lambda r: r["digit_readout_r2"],
    "share of segments walked in order": lambda r: walked(r),
    "the units digit's greedy neuron set, share of the width": lambda r: len(r["neurons_needed"]["units"]["neurons"]) / len(r["neurons"])}


def width_table(reports):
    """One markdown row per width, medians over its runs."""
    names = list(reports[0]["reduced_models"])
    header = (["width", "runs", "held-out 4/4 at this checkpoint",
               "held-out answers' mean margin by token: sign / tens / units (median run)"] + [f"training right, {c} ablated" for c in COMPONENTS]
              + [f"reduced to '{n}': training / held-out right" for n in names]
              + ["neuron ablation: share of right answers each breaks (median neuron)",
                 "... times the number of neurons (corrects for more neurons sharing the answers)",
                 "fewest MLP neurons found that make 95% of the training decisions, the rest mean-ablated: sign / carry / units (median run, range)",
                 "... neurons each necessary alone: sign / carry / units (median run, range)",
                 "... the held-out decisions the model makes that they keep: sign / carry / units (all runs; random sets of that size)",
                 "neurons' pre-activation at `=` explained by (op, result), R^2 (median neuron)",
                 "digit output directions explained by a polynomial in the digit, R^2 (median run)",
                 "a+a -> c+c steered: share of segments walked in order, one digit / two digits / across ten (median run)",
                 "attention from `=` on a, for a = 0 / 5 / 9 (median run)",
                 "a op b's state at `=` off the segment from a op a to b op b, over its length (median pair)",
                 "training a-b whose first answer token becomes b-a's, patched from b-a at `=`: order direction / everything else",
                 "patch into held-out a-b restores its answer: same difference / one away"])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for width in sorted({r["n_embd"] for r in reports}):
        group = [r for r in reports if r["n_embd"] == width]

        def median(values):
            return float(np.median(values))

        def restored(patches):
            return sum(p["target_margin_patched"] > 0 for p in patches), len(patches)
        same = np.sum([restored(r["patches"]["same difference"]) for r in group], axis=0)
        near = np.sum([restored(r["patches"]["difference one away"]) for r in group], axis=0)
        lines.append("| " + " | ".join(
            [f"n{width}", str(len(group)), f"{sum(r['baseline']['held_out']['right'] == 4 for r in group)}/{len(group)}",
             " / ".join(median_or_none([held_out_margin(r['baseline'], k) for r in group])
                        for k in ("sign", "tens", "units"))]
            + [f"{median([r['components'][c]['train']['right'] for r in group]):.0f}/196" for c in COMPONENTS]
            + [f"{median([r['reduced_models'][n]['train']['right'] for r in group]):.0f}/"
               f"{group[0]['reduced_models'][n]['train']['of']} / "
               f"{median([r['reduced_models'][n]['held_out']['right'] for r in group]):.0f}/4" for n in names]
            + [f"{median([median(neuron_share(r)) for r in group]):.2f}",
               f"{median([median(neuron_share(r)) * len(r['neurons']) for r in group]):.1f}",
               " / ".join(median_range([len(r['neurons_needed'][d]['neurons']) for r in group]) for d in DECISIONS)
               + f" of {len(group[0]['neurons'])}",
               " / ".join(median_range([r['neurons_needed'][d]['necessary'] for r in group]) for d in DECISIONS),
               " / ".join(f"{sum(r['neurons_needed'][d]['held_out_kept'] for r in group)}/"
                          f"{sum(r['neurons_needed'][d]['held_out_right'] for r in group)} "
                          f"({sum(r['neurons_needed'][d]['random_held_out_kept'] for r in group):.1f})" for d in DECISIONS),
               f"{median([median(r['result_organization']) for r in group]):.2f}",
               f"{median([r['digit_readout_r2'] for r in group]):.2f}",
               " / ".join(f"{median([walked(r, k) for r in group]):.2f}" for k in ("one digit", "two digits", "across ten")),
               " / ".join(f"{median([r['digit_attention'][d] for r in group]):.2f}" for d in (0, 5, 9)),
               f"{median([r['chord_offset'] for r in group]):.4f}",
               f"{median([r['order_patches']['order direction'] for r in group]):.0f} / "
               f"{median([r['order_patches']['everything else'] for r in group]):.0f} of {group[0]['order_patches']['of']}",
               f"{same[0]}/{same[1]} / {near[0]}/{near[1]}"]) + " |")
    return "\n".join(lines) + "\n"


def label(reports, widths):
    """'n12/n14' for the widths of `widths` that the reports hold."""
    return "n" + "/n".join(str(w) for w in sorted({r["n_embd"] for r in reports if r["n_embd"] in widths}))


def width_contrast(reports, small, large):
    """Run-level permutation tests, widths `small` against `large`, of RUN_MEASURES (the neuron
    share also times the number of neurons: a wider MLP divides the same answers among more
    neurons), the held-out gaps and margins, and what the digit-readout reductions change."""
    lines = []
    measures = {**RUN_MEASURES,
                "held-out minus training share right": lambda r: gap(r["baseline"]),
                "... with the digit readout reduced to its polynomial": lambda r: gap(readout_reduced(r)),
                "... to its principal directions instead (control)": lambda r: gap(readout_reduced(r, CONTROL)),
                "held-out units margin's change with the polynomial digit readout": units_change,
                "... with the principal-directions digit readout (control)": lambda r: units_change(r, CONTROL),
                **{f"held-out answers' mean {k} margin": lambda r, k=k: held_out_margin(r["baseline"], k)
                   for k in ("sign", "tens", "units")}}
    for name, measure in measures.items():
        x = [v for v in (measure(r) for r in reports if r["n_embd"] in small) if not np.isnan(v)]
        y = [v for v in (measure(r) for r in reports if r["n_embd"] in large) if not np.isnan(v)]
        if x and y:
            p = permutation_test(x, y)
            lines.append(f"- {name}: {label(reports, small)} {np.mean(x):.2f} (runs {len(x)}) against "
                         f"{label(reports, large)} {np.mean(y):.2f} (runs {len(y)}), mean difference "
                         f"{np.mean(x) - np.mean(y):+.2f}, permutation test {format_p(p)}")
    return lines


def readout_changes(reports, widths):
    """Held-out answers gained and lost when the digit readout is reduced (polynomial, and the
    principal control), over the runs of `widths`; tested per run, the independent unit (a run's
    four answers move together): a sign test on the runs whose count of right held-out answers
    rises or falls, and the polynomial against the control the same way."""
    lines = []
    group = [r for r in reports if r["n_embd"] in widths]
    if not group:
        return lines
    before = [set(r["baseline"]["held_out"]["right_expressions"]) for r in group]
    counts = {}
    for name, kind in (("polynomial", POLYNOMIAL), ("principal directions (control)", CONTROL)):
        after = [set(readout_reduced(r, kind)["held_out"]["right_expressions"]) for r in group]
        counts[kind] = [len(a) for a in after]
        gained, lost = sum(len(a - b) for a, b in zip(after, before)), sum(len(b - a) for a, b in zip(after, before))
        up = sum(len(a) > len(b) for a, b in zip(after, before))
        down = sum(len(a) < len(b) for a, b in zip(after, before))
        lines.append(f"- {label(reports, widths)}, digit readout reduced to its {name}: held-out answers right "
                     f"{sum(map(len, before))} -> {sum(map(len, after))} of {4 * len(group)} ({gained} gained, {lost} lost); "
                     f"per run, {up} of {len(group)} runs gain on net, {down} lose (sign test "
                     f"{format_p(binomial_test(up, up + down)) if up + down else 'p = 1'})")
    for name, kind in (("polynomial", POLYNOMIAL), ("principal (control)", CONTROL)):
        units = [units_change(r, kind) for r in group]
        rise = sum(u > 0 for u in units)
        lines.append(f"- {label(reports, widths)}, {name} digit readout: the held-out answers' mean units margin "
                     f"rises in {rise} of {len(group)} runs (median change {np.median(units):+.1f}; sign test "
                     f"{format_p(binomial_test(rise, sum(u != 0 for u in units)))})")
    flips = [r["order_patches"]["order direction"] - r["order_patches"]["everything else"] for r in group]
    more = sum(f > 0 for f in flips)
    lines.append(f"- {label(reports, widths)}: the order direction at `=` flips more first tokens than everything "
                 f"else in {more} of {len(group)} runs (sign test {format_p(binomial_test(more, sum(f != 0 for f in flips)))})")
    better = sum(a > b for a, b in zip(counts[POLYNOMIAL], counts[CONTROL]))
    worse = sum(a < b for a, b in zip(counts[POLYNOMIAL], counts[CONTROL]))
    lines.append(f"- {label(reports, widths)}, polynomial against its control: more held-out answers right in "
                 f"{better} runs, fewer in {worse} (sign test {format_p(binomial_test(better, better + worse)) if better + worse else 'p = 1'})")
    return lines


def within_widths(reports):
    """Do the run-level measures tell apart the runs that generalize (held-out share over the 2nd
    half of training, no selection)? Spearman across all runs, and its mean within each width
    with y shuffled inside the widths (stats.stratified_spearman_test)."""
    runs = [r for r in reports if r["heldout_share_late"] is not None]
    if len({r["n_embd"] for r in runs}) < 2 or len(runs) < 6:
        return []
    lines = []
    for name in ("median neuron's result organization R^2", "median neuron's share x neurons",
                 "digit readout's polynomial R^2", "share of segments walked in order"):
        measure = RUN_MEASURES[name]
        x, y = [measure(r) for r in runs], [r["heldout_share_late"] for r in runs]
        rho, p = spearman_test(x, y)
        within, p_within = stratified_spearman_test(x, y, [r["n_embd"] for r in runs])
        lines.append(f"- {name} against the held-out share over the 2nd half ({len(runs)} runs): Spearman "
                     f"{rho:+.2f} across widths ({format_p(p)}), mean {within:+.2f} within a width ({format_p(p_within)})")
    return lines


def figure(reports, title):
    """Three panels over widths, a dot per run: how much of the training set each description keeps
    as a reduced model; the held-out minus training share right, as trained and with the digit
    readout reduced; the held-out answers' margin per answer token."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(14, 6), dpi=120)
    axes = fig.subplots(1, 3)
    widths = sorted({r["n_embd"] for r in reports})
    names = list(reports[0]["reduced_models"])
    variants = {"as trained": lambda r: r["baseline"], "digit readout: polynomial": readout_reduced,
                "digit readout: principal (control)": lambda r: readout_reduced(r, CONTROL)}

    def dots(ax, k, j, count, values, label, color):
        ax.scatter([k + 0.7 * ((j + 0.5) / count - 0.5)] * len(values), values, s=12, color=color, label=label if k == 0 else None)
    for k, width in enumerate(widths):
        group = [r for r in reports if r["n_embd"] == width]
        for j, name in enumerate(names):
            dots(axes[0], k, j, len(names), [r["reduced_models"][name]["train"]["right"] / r["reduced_models"][name]["train"]["of"]
                                             for r in group], name, f"C{j}")
        for j, (name, part) in enumerate(variants.items()):
            dots(axes[1], k, j, len(variants), [gap(part(r)) for r in group], name, ("0.3", "C3", "C4")[j])
        for j, role in enumerate(("sign", "tens", "units")):
            dots(axes[2], k, j, 3, [held_out_margin(r["baseline"], role) for r in group], role, ("C0", "C1", "C2")[j])
    for ax, label in zip(axes, ("reduced model: share of training answers right",
                                "held-out share right minus training share right",
                                "held-out answers' mean margin, per answer token")):
        ax.set_xticks(range(len(widths)), [f"n{w}" for w in widths])
        ax.set_ylabel(label, fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.08))
    for ax in axes[1:]:
        ax.axhline(0, color="0.5", lw=1)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def main(argv=None):
    try:
        options = parse_args(OPTIONS, sys.argv[1:] if argv is None else argv, allow_config_files=False)
        if options["kind"] not in ("mean", "zero"):
            raise ValueError(f"--kind={options['kind']} is not allowed; choose mean or zero")
        folders = run_folders(options["runs"], options["ckpt"])
        options["errors"] = options["errors"] and str(in_repository(options["errors"]))
        if options["errors"] and not Path(options["errors"]).is_dir():
            raise ValueError(f"--errors={options['errors']} is not a folder")
        torch.set_num_threads(1)
        reports = [run_report(folder, options["ckpt"], options["kind"]) for folder in folders]
        answers = held_out_answers(options["errors"]) if options["errors"] else []
        out = Path(options["out"])
        out.mkdir(parents=True, exist_ok=True)
        command = "python tools/why.py " + " ".join(f"--{k}={v}" for k, v in options.items())
        text = "\n".join([f"# Interventions over {len(reports)} runs", "", f"Made by `{command}`.", "",
                          width_table(reports), *width_contrast(reports, (12, 14, 16), (20, 28)),
                          *readout_changes(reports, (12, 14, 16)), *readout_changes(reports, (20, 28)), *within_widths(reports), "",
                          *([f"## Wrong answers of the runs in {options['errors']}", "", *errors_section(answers, (12, 14, 16)),
                             *errors_section(answers, (20, 28))] if answers else [])])
        write_atomically(out / "why.json", json.dumps({"command": command, "runs": reports, "held_out_answers": answers}, indent=1))
        write_atomically(out / "why.md", text + "\n")
        figure(reports, f"interventions on {options['ckpt']} of {len(reports)} runs ({options['kind']} ablation)").savefig(
            out / "why.png")
    except (ValueError, OSError, *MACHINE_ERRORS) as e:
        exit_with_error(e)
    print(text)
    print(f"wrote {out / 'why.json'}, {out / 'why.md'}, {out / 'why.png'}")


if __name__ == "__main__":
    main()
