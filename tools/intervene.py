"""
What the parts of a trained arithmetic model do, by intervening on them
(toobig/interp/interventions.py, toobig/interp/mechanism.py): ablate each component and each MLP neuron and see
which answers break, test descriptions of the mechanism as reduced models, and
patch activations from one prompt into another (toobig/interp/mechanism.py's order_patches: where the
sign is decided).

    python tools/intervene.py --out_dir=results/math_mini_14 --ckpt=model_best.pt        # intervene_model_best.png, a summary
    python tools/intervene.py --out_dir=results/math_mini_28 --ckpt=model_last.pt --json # the same as one JSON object
    python tools/intervene.py --out_dir=results/math_mini_14 --ckpt=model_best.pt --patch=4-6:5-7,4-7:5-7 --site=mlp_hidden

Every number is a teacher-forced logit margin of the right answer (> 0: greedy
decoding writes it), per answer token (sign, tens, units, end) or the smallest
over the answer. Ablations replace a site by its mean over the run's 196
training prompts (--kind=mean) or by zero (--kind=zero); the components are the
attention output, the attention pattern (uniform, or its mean), the MLP output and
each coordinate ("embedding direction") of the residual stream's input. A patch `s:t` runs
prompt t with --site (default attn_out) at `=` and the answer positions taken
from prompt s run on t's answer. In a 1-layer model attention is the only path
by which a, b and the operator reach the answer, so an attention-output patch
asks whether s's a, op, b give t's answer.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the root, for python tools/<tool>.py from anywhere

import toobig  # noqa: F401  first, before torch: it pins the CPU kernels every run uses (toobig/core/reproducible.py)
import json
import re

import numpy as np
import torch

from toobig.runs.checkpoints import load_paper_model
from toobig.runs.scoring import CLI_DEFAULTS, checkpoint_path, scored, scored_line
from configurator import exit_with_error, parse_args
from toobig.core.devices import MACHINE_ERRORS
from toobig.interp.interventions import SITES, answer_margin, answer_token_margins, math_batch
from toobig.interp.mechanism import (check_arithmetic_model, chord_offset, component_ablations, neuron_ablations, order_patches, patch_report,
                       reduced_models, result_organization, rows_of, train_and_held_out)
from toobig.interp.readout import segment_walks
from toobig.runs.reading import find_run_folder
from toobig.study.training_config import saved_config

DEFAULTS = {**{key: CLI_DEFAULTS[key] for key in ("out_dir", "ckpt", "json")}, "kind": "mean", "patch": "",
            "site": "attn_out"}
PATCH_SITES = tuple(s for s in SITES if s != "embed")  # the embedding is the prompt itself


def parse_expression(text):
    match = re.fullmatch(r"(\d)([+-])(\d)", text.strip())
    if not match:
        raise ValueError(f"--patch: {text!r} is not an expression like 4-6")
    return int(match.group(1)), match.group(2), int(match.group(3))


def parse_patches(text):
    """'4-6:5-7,4-7:5-7' -> [((4, '-', 6), (5, '-', 7)), ...]."""
    patches = [tuple(parse_expression(e) for e in pair.split(":")) for pair in text.split(",") if pair]
    if any(len(p) != 2 for p in patches):
        raise ValueError(f"--patch={text}: give source:target pairs, e.g. 4-6:5-7")
    return patches


def intervene(model, codec, held_out, kind="mean", patches=(), site="attn_out"):
    """The report of the module docstring, as one dict."""
    expressions, _, held = rows_of(held_out)
    base = answer_token_margins(model, math_batch(codec, expressions))
    return {"baseline": {**train_and_held_out(base, held_out),
                         "held_out_margins": {"".join(map(str, expressions[i])): round(float(answer_margin(base[[i]])), 3)
                                              for i in held}},
            "components": component_ablations(model, codec, held_out, kind),
            "neurons": neuron_ablations(model, codec, held_out, kind),
            "reduced_models": reduced_models(model, codec, held_out),
            "result_organization": result_organization(model, codec, held_out),
            "chord_offset": chord_offset(model, codec), "order_patches": order_patches(model, codec, held_out),
            "segment_walks": segment_walks(model, codec),
            "patches": [patch_report(model, codec, source, target, site) for source, target in patches]}


def figure(report, title):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(11, 4.5), dpi=120)
    left, right = fig.subplots(1, 2)
    parts = {**{k: v for k, v in report["components"].items() if not k.startswith("embedding")},
             **{"reduced: " + k: v for k, v in report["reduced_models"].items()}}
    names = list(parts)
    for k, part in enumerate(("train", "held_out")):
        kept = [parts[n][part]["right"] / parts[n][part]["of"] for n in names]
        left.barh(np.arange(len(names)) + 0.2 * (1 - 2 * k), kept, height=0.4, label=part.replace("_", "-"))
    left.set_yticks(range(len(names)), names, fontsize=7)
    left.set_xlabel("share of answers still right")
    left.legend(fontsize=8)
    neurons = report["neurons"]
    right.bar([n["neuron"] for n in neurons], [n["answers_it_breaks"] for n in neurons], color="tab:purple")
    right.set_xlabel("MLP neuron")
    right.set_ylabel("right answers it breaks, ablated (of 200)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def print_report(report):
    def right(part):
        return f"{part['train']['right']}/{part['train']['of']} training, {part['held_out']['right']}/{part['held_out']['of']} held-out"
    print(f"baseline: {right(report['baseline'])} answers right; held-out margins {report['baseline']['held_out_margins']}")
    for name, part in {**report["components"], **report["reduced_models"]}.items():
        print(f"{name} {'(reduced model)' if name in report['reduced_models'] else 'ablated'}: {right(part)} right, "
              f"median margin {part['train']['median_margin']:+.2f}")
    print("neurons (answers each breaks when ablated): "
          + ", ".join(f"{n['neuron']}: {n['answers_it_breaks']}" for n in report["neurons"]))
    print(f"neurons' pre-activation at '=' predicted by (operator, result), R^2: {report['result_organization']}")
    print(f"a op b's attention state at '=' off the segment from a op a to b op b: {report['chord_offset']} of its length (median)")
    flips = report["order_patches"]
    print(f"training a-b whose first answer token becomes b-a's when patched from b-a at '=': {flips['order direction']} of "
          f"{flips['of']} along the order direction, {flips['everything else']} with everything else patched")
    walked = report["segment_walks"]
    print("attention output steered from a+a to c+c, segments (with both ends right) walked through every value in "
          "order: " + ", ".join(f"{kind} {w['in order']} of {w['of']}" for kind, w in walked.items()))
    for p in report["patches"]:
        print(f"patch {p['site']} {p['source']} -> {p['target']}: target's margin {p['target_margin_before']:+.2f} -> "
              f"{p['target_margin_patched']:+.2f}; first token now {p['first_token_patched']!r} "
              f"(the target's right one: {str(p['target_answer'])[0]!r})")


def main(argv=None):
    try:
        config = parse_args(DEFAULTS, sys.argv[1:] if argv is None else argv, allow_config_files=False)
        if config["kind"] not in ("mean", "zero"):
            raise ValueError(f"--kind={config['kind']} is not allowed; choose mean or zero")
        if config["site"] not in PATCH_SITES:
            raise ValueError(f"--site={config['site']} is not allowed; choose one of {', '.join(PATCH_SITES)}")
        patches = parse_patches(config["patch"])
        if config["site"] != DEFAULTS["site"] and not patches:
            raise ValueError(f"--site={config['site']} applies to --patch, and no --patch was given")
        # the figure goes into the run's folder: a committed one only where its path is named
        path = checkpoint_path(find_run_folder(config["out_dir"], writes=not config["json"]), config["ckpt"])
        model, codec, checkpoint = load_paper_model(path)
        check_arithmetic_model(model, codec, path)
        torch.set_num_threads(1)
        report = intervene(model, codec, saved_config(checkpoint)["held_out"], config["kind"], patches, config["site"])
        report = {**scored(path, checkpoint), "kind": config["kind"], **report}
        out = Path(path).parent / f"intervene_{Path(path).stem}.png"
        if not config["json"]:
            figure(report, f"{path} (iteration {report['iter']}): {config['kind']} ablations").savefig(out)
    except (ValueError, OSError, *MACHINE_ERRORS) as e:
        exit_with_error(e)
    if config["json"]:
        print(json.dumps(report))
        return
    print(scored_line(report))
    print_report(report)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
