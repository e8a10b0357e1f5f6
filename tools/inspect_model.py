"""
Look inside a trained arithmetic model: where it puts the ten digits, what the
answer position attends to, whether the answer can be read off it linearly, and
which sums it gets right.

    python tools/inspect_model.py --out_dir=results/math_mini_14 --ckpt=model_best.pt
    python tools/inspect_model.py --out_dir=results/math_mini_28 --ckpt=model_best.pt --json

Writes <out_dir>/inspect_<ckpt name>.png, or with --json prints the same numbers
as one JSON object (the measures are toobig/interp/inside.py's):
- digits: the embeddings of the tokens 0-9 on their first two principal
  components, and the number-line score: over the directions of that plane, the
  largest |Spearman correlation| between a digit's position along it and its
  value (1.0: the ten digits lie in order along a line);
- attention: the attention of the last prompt position (`=`) over the prompt
  `<a+b=`, per layer and head, averaged over the 196 training prompts and over
  the held-out four;
- probe: a linear map from the residual stream at `=` (before the last
  LayerNorm) to the true result, fitted on the 196 training expressions and
  tried on the held-out four (mean absolute error; right if it rounds to the
  result);
- grids: per operation, the right samples of each a, b out of 10 (the
  training evaluation's sampling).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the root, for python tools/<tool>.py from anywhere

import toobig  # noqa: F401  first, before torch: it pins the CPU kernels every run uses (toobig/core/reproducible.py)
import json

import numpy as np
import torch

from configurator import exit_with_error, parse_args
from toobig.runs.checkpoints import load_paper_model
from toobig.runs.scoring import CLI_DEFAULTS, checkpoint_path, sampling_as_trained, scored, scored_line
from toobig.core.devices import MACHINE_ERRORS, autocast, pick_device

from toobig.interp.inside import POSITIONS, look_inside
from toobig.runs.reading import find_run_folder
from toobig.study.tasks import DIGITS
from toobig.study.training_config import saved_config

DEFAULTS = {key: CLI_DEFAULTS[key] for key in ("out_dir", "ckpt", "seed", "json", "device")}


# --- the figure ---------------------------------------------------------------
def figure(result, title):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(11, 9), dpi=120)
    (emb_ax, att_ax), (add_ax, sub_ax) = fig.subplots(2, 2)
    digits = result["digits"]
    pcs = np.array(digits["pcs"])
    emb_ax.plot(pcs[:, 0], pcs[:, 1], "-", color="0.75", lw=1)
    emb_ax.scatter(pcs[:, 0], pcs[:, 1], c=list(DIGITS), cmap="viridis", s=60, zorder=3)
    for d, (x, y) in zip(DIGITS, pcs):
        emb_ax.annotate(str(d), (x, y), xytext=(4, 4), textcoords="offset points", fontsize=10)
    var = digits["explained_variance"]
    emb_ax.set_xlabel(f"PC1 ({100 * var[0]:.0f}% of variance)")
    emb_ax.set_ylabel(f"PC2 ({100 * var[1]:.0f}%)")
    emb_ax.set_title(f"digit embeddings: number-line score {digits['number_line_score']:.2f}")
    rows, labels = [], []
    for name in ("train", "held_out"):
        for layer, heads in enumerate(result["attention"][name]):
            for head, weights in enumerate(heads):
                rows.append(weights)
                labels.append(f"{name.replace('_', '-')} L{layer} H{head}")
    image = att_ax.imshow(np.array(rows), cmap="Blues", vmin=0, vmax=1, aspect="auto")
    att_ax.set_xticks(range(len(POSITIONS)), POSITIONS)
    att_ax.set_yticks(range(len(labels)), labels, fontsize=7 if len(labels) > 12 else 9)
    probe = result["probe"]
    att_ax.set_title(f"attention of '=' over the prompt; probe error on held-out {probe['heldout_mae']:.2f}")
    fig.colorbar(image, ax=att_ax, fraction=0.04)
    for ax, name, op in ((add_ax, "addition", "+"), (sub_ax, "subtraction", "-")):
        grid = np.array(result["grids"][name])
        ax.imshow(grid, cmap="Greens", vmin=0, vmax=max(1, grid.max()))
        for a in DIGITS:
            for b in DIGITS:
                held = f"{a}{op}{b}" in result["heldout"]
                ax.text(b, a, str(grid[a, b]), ha="center", va="center", fontsize=7,
                        color="red" if held else ("white" if grid[a, b] > 5 else "black"),
                        fontweight="bold" if held else "normal")
        ax.set_xticks(list(DIGITS))
        ax.set_yticks(list(DIGITS))
        ax.set_xlabel("b")
        ax.set_ylabel("a")
        ax.set_title(f"a {op} b: right samples (held-out in red)")
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    return fig


def main(argv=None):
    try:
        config = parse_args(DEFAULTS, sys.argv[1:] if argv is None else argv, allow_config_files=False)
        device = pick_device(config["device"])
        # the figure goes into the run's folder: a committed one only where its path is named
        path = checkpoint_path(find_run_folder(config["out_dir"], writes=not config["json"]), config["ckpt"])
        model, codec, checkpoint = load_paper_model(path, device)
        missing = [str(d) for d in DIGITS if str(d) not in codec.stoi]
        if missing:
            raise ValueError(f"{path} is not an arithmetic model: its vocabulary has no digits")
        held_out = saved_config(checkpoint)["held_out"]
        # the grids sampled as training sampled them at this evaluation (unless --seed says otherwise)
        sampling, seed, _ = sampling_as_trained({**config, "num_samples": None, "temperature": None, "top_k": None,
                                                 "greedy": False}, checkpoint)
        with autocast(device):
            result = look_inside(model, codec, sampling, torch.Generator(device=device).manual_seed(seed), held_out)
    except (ValueError, *MACHINE_ERRORS) as e:
        exit_with_error(e)
    result = {**scored(path, checkpoint), "held_out": held_out, **result}
    if config["json"]:
        print(json.dumps(result))
        return
    print(scored_line(result))
    out = Path(path).parent / f"inspect_{Path(path).stem}.png"
    figure(result, f"{path} (iteration {result['iter']})").savefig(out)
    print(f"digits: number-line score {result['digits']['number_line_score']:.2f}; answer probe on the held-out "
          f"four: mean error {result['probe']['heldout_mae']:.2f}, {result['probe']['heldout_right']} of 4 right; "
          f"held-out samples right: {result['heldout']}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
