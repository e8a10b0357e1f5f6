"""
Why the small model generalizes, causally: mechanism.py's interventions over many
1-layer arithmetic runs, grouped by width, and the wrong answers of the held-out
sweep, in one report (results/README.md's "Why" section is written from it).

    python why.py --runs=results/sweeps/math --out=results/why
    python why.py --runs=results/math_mini_14,results/math_mini_28 --ckpt=model_best.pt --out=out/why

--runs: run folders, or folders of run folders (a sweep), comma-separated; each run's
--ckpt is intervened on (mechanism.py: component and neuron ablations, the two reduced
models, result organization) and its held-out subtraction a-b (a < b) is patched
(attention output at `=` onward) from prompts with the same difference and from prompts
with a difference one away. --errors: a sweep over held-out pairs whose final wrong
answers are tallied. Writes why.json (every run's report), why.md and why.png.
"""
import reproducible  # first, before torch: the CPU kernels every run uses (reproducible.py)
import json
import sys
from pathlib import Path

import numpy as np
import torch

from checkpoints import load_model
from configurator import exit_with_error, parse_args
from devices import MACHINE_ERRORS
from mechanism import (check_arithmetic_model, component_ablations, neuron_ablations, patch_report, reduced_models, result_organization,
                       rows_of, train_and_held_out)
from interventions import answer_margins, math_batch
from runs import heldout_share_late, load_run, read_run_json, write_atomically
from stats import format_p, permutation_test, spearman_test, stratified_spearman_test
from tasks import OPERATORS, held_out_expressions, parse_held_out
from training_config import saved_config

OPTIONS = dict(runs="results/sweeps/math", ckpt="model_last.pt", errors="results/sweeps/held_out", out="out/why",
               kind="mean")
COMPONENTS = ("attention output", "attention pattern, uniform", "MLP output")


def run_folders(paths, ckpt):
    """Every folder under the comma-separated paths that holds `ckpt`, a sweep's runs in name order."""
    folders = []
    for path in (Path(p) for p in paths.split(",") if p):
        if not path.is_dir():
            raise ValueError(f"--runs: {path} is not a folder")
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
    """One run's interventions (mechanism.py) and patches, as a dict."""
    model, codec, checkpoint = load_model(folder / ckpt)
    check_arithmetic_model(model, codec, folder / ckpt)
    config = saved_config(checkpoint)
    held_out = config["held_out"]
    target, same, near = patch_pairs(held_out)
    expressions, _, _ = rows_of(held_out)
    run = load_run(folder)
    share = heldout_share_late(run["results"], config["max_iters"]) if run else float("nan")
    return {"run": str(folder), "ckpt": ckpt, "iter": checkpoint.get("iter_num"), "n_embd": config["n_embd"],
            "seed": config["seed"], "held_out": held_out, "heldout_share_late": None if np.isnan(share) else share,
            "baseline": train_and_held_out(answer_margins(model, math_batch(codec, expressions)), held_out),
            "components": {k: v for k, v in component_ablations(model, codec, held_out, kind).items() if k in COMPONENTS},
            "neurons": neuron_ablations(model, codec, held_out, kind),
            "reduced_models": reduced_models(model, codec, held_out),
            "result_organization": result_organization(model, codec, held_out),
            "patches": {"same difference": [patch_report(model, codec, s, target) for s in same],
                        "difference one away": [patch_report(model, codec, s, target) for s in near]}}


def neuron_share(report):
    """Per neuron, the share of the answers the model gets right that ablating it breaks."""
    right = report["baseline"]["train"]["right"] + report["baseline"]["held_out"]["right"]
    return [n["answers_it_breaks"] / max(right, 1) for n in report["neurons"]]


def restored(patches):
    return sum(p["target_margin_patched"] > 0 for p in patches), len(patches)


def width_table(reports):
    """One markdown row per width, medians over its runs."""
    names = list(reports[0]["reduced_models"])
    header = (["width", "runs", "held-out 4/4 at this checkpoint"] + [f"training right, {c} ablated" for c in COMPONENTS]
              + [f"reduced to '{n}': training / held-out right" for n in names]
              + ["neuron ablation: share of right answers each breaks (median neuron)",
                 "... times the number of neurons (corrects for more neurons sharing the answers)",
                 "neurons' pre-activation at `=` explained by (op, result), R^2 (median neuron)",
                 "patch into held-out a-b restores its answer: same difference / one away"])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for width in sorted({r["n_embd"] for r in reports}):
        group = [r for r in reports if r["n_embd"] == width]

        def median(values):
            return float(np.median(values))
        same = np.sum([restored(r["patches"]["same difference"]) for r in group], axis=0)
        near = np.sum([restored(r["patches"]["difference one away"]) for r in group], axis=0)
        lines.append("| " + " | ".join(
            [f"n{width}", str(len(group)), f"{sum(r['baseline']['held_out']['right'] == 4 for r in group)}/{len(group)}"]
            + [f"{median([r['components'][c]['train']['right'] for r in group]):.0f}/196" for c in COMPONENTS]
            + [f"{median([r['reduced_models'][n]['train']['right'] for r in group]):.0f}/"
               f"{group[0]['reduced_models'][n]['train']['of']} / "
               f"{median([r['reduced_models'][n]['held_out']['right'] for r in group]):.0f}/4" for n in names]
            + [f"{median([median(neuron_share(r)) for r in group]):.2f}",
               f"{median([median(neuron_share(r)) * len(r['neurons']) for r in group]):.1f}",
               f"{median([median(r['result_organization']) for r in group]):.2f}",
               f"{same[0]}/{same[1]} / {near[0]}/{near[1]}"]) + " |")
    return "\n".join(lines) + "\n"


def contrast(reports, small, large):
    """Run-level permutation tests, widths `small` against `large`: each run's median neuron
    share (raw, and times its number of neurons: a wider MLP divides the same answers among more
    neurons) and median result organization."""
    lines = []
    for name, measure in (("median neuron's share of answers broken", lambda r: np.median(neuron_share(r))),
                          ("... times the number of neurons", lambda r: np.median(neuron_share(r)) * len(r["neurons"])),
                          ("median neuron's result organization R^2", lambda r: np.median(r["result_organization"]))):
        x = [measure(r) for r in reports if r["n_embd"] in small]
        y = [measure(r) for r in reports if r["n_embd"] in large]
        if x and y:
            p = permutation_test(x, y)
            lines.append(f"- {name}: n{'/n'.join(map(str, small))} {np.mean(x):.2f} (runs {len(x)}) against "
                         f"n{'/n'.join(map(str, large))} {np.mean(y):.2f} (runs {len(y)}), mean difference "
                         f"{np.mean(x) - np.mean(y):+.2f}, permutation test {format_p(p)}")
    return lines


def within_widths(reports):
    """Do the run-level measures tell apart the runs that generalize (held-out share over the 2nd
    half of training, no selection)? Spearman across all runs, and its mean within each width
    with y shuffled inside the widths (stats.stratified_spearman_test)."""
    runs = [r for r in reports if r["heldout_share_late"] is not None]
    if len({r["n_embd"] for r in runs}) < 2 or len(runs) < 6:
        return []
    lines = []
    for name, measure in (("median neuron's result organization R^2", lambda r: np.median(r["result_organization"])),
                          ("median neuron's share x neurons", lambda r: np.median(neuron_share(r)) * len(r["neurons"]))):
        x, y = [measure(r) for r in runs], [r["heldout_share_late"] for r in runs]
        rho, p = spearman_test(x, y)
        within, p_within = stratified_spearman_test(x, y, [r["n_embd"] for r in runs])
        lines.append(f"- {name} against the held-out share over the 2nd half ({len(runs)} runs): Spearman "
                     f"{rho:+.2f} across widths ({format_p(p)}), mean {within:+.2f} within a width ({format_p(p_within)})")
    return lines


def error_tally(sweep):
    """The held-out expressions the n <= 16 runs of a held-out sweep do not get all right at their
    last evaluation, with their most common wrong answer (answers.json):
    [(run, expression, right answer, wrong answer)]."""
    tally = []
    for folder in sorted(p for p in Path(sweep).iterdir() if (p / "answers.json").is_file()):
        config = saved_config(read_run_json(folder / "run.json"))
        if config["n_embd"] > 16:
            continue
        try:
            wrong = json.loads((folder / "answers.json").read_text())["last"]["wrong"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise ValueError(f"{folder / 'answers.json'} is not an answers file (a 'last' entry with 'wrong')") from None
        for a, op, b in held_out_expressions(config["held_out"]):
            given = wrong.get(f"{a}{op}{b}")
            if given is not None:
                tally.append((folder.name, f"{a}{op}{b}", OPERATORS[op](a, b), given))
    return tally


def errors_section(tally):
    near = [t for t in tally if t[3].lstrip("-").isdigit() and abs(int(t[3]) - t[2]) == 1]
    sign = [t for t in tally if t[1][1] == "-" and t[3].lstrip("-").isdigit() and (int(t[3]) < 0) != (t[2] < 0)]
    return [f"- {len(tally)} held-out expressions not all right at the last evaluation of the n <= 16 runs; "
            f"their most common wrong answer is one away from the right one in {len(near)}, and for "
            f"{len(sign)} subtractions it has the wrong sign (or is 0 for a negative result).",
            "- " + "; ".join(f"{run}: {e} = {right}, answered {given}" for run, e, right, given in tally)]


def figure(reports, title):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(13, 4.5), dpi=120)
    axes = fig.subplots(1, 3)
    widths = sorted({r["n_embd"] for r in reports})
    for k, width in enumerate(widths):
        group = [r for r in reports if r["n_embd"] == width]
        shares = np.concatenate([neuron_share(r) for r in group])
        axes[0].scatter(k + np.random.default_rng(k).uniform(-0.25, 0.25, len(shares)), shares, s=6, alpha=0.5)
        for j, name in enumerate(group[0]["reduced_models"]):
            kept = [r["reduced_models"][name]["train"]["right"] / r["reduced_models"][name]["train"]["of"]
                    for r in group]
            axes[1].scatter([k + 0.15 * (2 * j - 1)] * len(kept), kept, color=f"C{j}", s=14,
                            label=name if k == 0 else None)
        for j, kind in enumerate(("same difference", "difference one away")):
            m = [p["target_margin_patched"] for r in group for p in r["patches"][kind]]
            axes[2].scatter([k + 0.15 * (2 * j - 1)] * len(m), m, color=("tab:green", "tab:red")[j], s=10,
                            label=kind if k == 0 else None)
    for ax, label in zip(axes, ("share of right answers one neuron's ablation breaks",
                                "reduced model: share of training answers right",
                                "held-out a-b's margin, attention output patched")):
        ax.set_xticks(range(len(widths)), [f"n{w}" for w in widths])
        ax.set_ylabel(label, fontsize=8)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    axes[2].axhline(0, color="0.5", lw=1)
    axes[2].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def main(argv=None):
    try:
        options = parse_args(OPTIONS, sys.argv[1:] if argv is None else argv, allow_config_files=False)
        if options["kind"] not in ("mean", "zero"):
            raise ValueError(f"--kind={options['kind']} is not allowed; choose mean or zero")
        folders = run_folders(options["runs"], options["ckpt"])
        if options["errors"] and not Path(options["errors"]).is_dir():
            raise ValueError(f"--errors={options['errors']} is not a folder")
        torch.set_num_threads(1)
        reports = [run_report(folder, options["ckpt"], options["kind"]) for folder in folders]
        tally = error_tally(options["errors"]) if options["errors"] else []
        out = Path(options["out"])
        out.mkdir(parents=True, exist_ok=True)
        command = "python why.py " + " ".join(f"--{k}={v}" for k, v in options.items())
        text = "\n".join([f"# Interventions over {len(reports)} runs", "", f"Made by `{command}`.", "",
                          width_table(reports), *contrast(reports, (12, 14, 16), (20, 28)), *within_widths(reports), "",
                          *(["## Wrong answers of the held-out sweep", "", *errors_section(tally)] if tally else [])])
        write_atomically(out / "why.json", json.dumps({"command": command, "runs": reports, "errors": tally}, indent=1))
        write_atomically(out / "why.md", text + "\n")
        figure(reports, f"{options['kind']} ablations and patches, {options['ckpt']} of {len(reports)} runs").savefig(
            out / "why.png")
    except (ValueError, OSError, *MACHINE_ERRORS) as e:
        exit_with_error(e)
    print(text)
    print(f"wrote {out / 'why.json'}, {out / 'why.md'}, {out / 'why.png'}")


if __name__ == "__main__":
    main()
