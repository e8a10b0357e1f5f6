"""
Look inside a trained arithmetic model: where it puts the ten digits, what the
answer position attends to, whether the answer can be read off it linearly, and
which sums it gets right.

    python inspect_model.py --out_dir=results/math_mini_14 --ckpt=model_best.pt
    python inspect_model.py --out_dir=results/math_mini_28 --ckpt=model_best.pt --json

Writes <out_dir>/inspect_<ckpt name>.png, or with --json prints the same numbers
as one JSON object:
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
import reproducible  # first, before torch: the CPU kernels every run uses (reproducible.py)
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

from configurator import exit_with_error, parse_args
from evaluation import (CLI_DEFAULTS, autocast, evaluate_math, load_model, math_grids, pick_device, Sampling)
from run_folder import find_run_folder
from tasks import DIGITS, OPERATIONS, PAPER_HELD_OUT, held_out_expressions, math_expressions, math_prompt

DEFAULTS = {key: CLI_DEFAULTS[key] for key in ("out_dir", "ckpt", "seed", "json", "device")}
POSITIONS = ["<", "a", "op", "b", "="]


# --- measures -----------------------------------------------------------------
def ranks(values):
    """Ranks from 0, tied values sharing their mean rank: breaking ties by position would
    correlate any two lists that share an order, e.g. facts and the evaluation they are learned at."""
    values = np.asarray(values, dtype=float)
    order = np.empty(len(values))
    order[np.argsort(values, kind="stable")] = np.arange(len(values))
    _, tie_group = np.unique(values, return_inverse=True)
    return (np.bincount(tie_group, weights=order) / np.bincount(tie_group))[tie_group]


def spearman(x, y):
    """Spearman's rank correlation; nan where either list is constant (no order to compare)."""
    x, y = ranks(np.asarray(x)), ranks(np.asarray(y))
    if len(x) < 2 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def number_line(embeddings):
    """The digits' first two principal components and how well one direction of that
    plane orders them (the number-line score)."""
    centred = embeddings - embeddings.mean(axis=0)
    _, singular, directions = np.linalg.svd(centred, full_matrices=False)
    pcs = centred @ directions[:2].T
    angles = np.linspace(0, math.pi, 180, endpoint=False)
    scores = [abs(spearman(pcs @ np.array([math.cos(t), math.sin(t)]), list(DIGITS))) for t in angles]
    variance = singular ** 2 / (singular ** 2).sum()
    return {"pcs": pcs.round(4).tolist(), "explained_variance": variance[:2].round(4).tolist(),
            "number_line_score": round(max(scores), 4), "pc1_spearman": round(spearman(pcs[:, 0], list(DIGITS)), 4)}


def digit_embeddings(model, codec):
    ids = torch.tensor([codec.stoi[str(d)] for d in DIGITS])
    return model.transformer.wte.weight[ids].detach().double().cpu().numpy()


@torch.no_grad()
def inside_prompts(model, codec, expressions):
    """For prompts `<a op b=`: each layer's attention of the last position over the
    prompt (n_layer, n_prompts, n_head, 5), and the residual stream there (n_prompts, n_embd)."""
    device = next(model.parameters()).device
    idx = torch.tensor([codec.encode(math_prompt(*e)) for e in expressions], device=device)
    seen = {}

    def keep_input(name):  # a hook that returns None, so the forward is left as it is
        return lambda module, inputs, output: seen.update({name: inputs[0]})
    hooks = [block.attn.register_forward_hook(keep_input(i)) for i, block in enumerate(model.transformer.h)]
    hooks.append(model.transformer.ln_f.register_forward_hook(keep_input("residual")))
    model(idx)
    for hook in hooks:
        hook.remove()
    attention = []
    for i, block in enumerate(model.transformer.h):  # model.CausalSelfAttention's weights, from its input
        attn, x = block.attn, seen[i]
        B, T, C = x.size()
        q, k, _ = attn.c_attn(x).split(attn.n_embd, dim=2)
        q = q.view(B, T, attn.n_head, C // attn.n_head).transpose(1, 2)
        k = k.view(B, T, attn.n_head, C // attn.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(~torch.ones(T, T, dtype=torch.bool, device=x.device).tril(), float("-inf"))
        attention.append(att.softmax(dim=-1)[:, :, -1, :].double().cpu().numpy())
    return np.stack(attention), seen["residual"][:, -1, :].double().cpu().numpy()


def answer_probe(train_states, train_values, held_states, held_values, ridge=1e-3):
    """Least squares (with a bias and a little ridge) from states to values, fitted on the
    training expressions and tried on the held-out ones."""
    def with_bias(states):
        return np.hstack([states, np.ones((len(states), 1))])
    X, y = with_bias(train_states), np.asarray(train_values, dtype=float)
    weights = np.linalg.solve(X.T @ X + ridge * np.eye(X.shape[1]), X.T @ y)
    held = with_bias(held_states) @ weights
    return {"train_mae": round(float(np.abs(X @ weights - y).mean()), 4),
            "heldout_mae": round(float(np.abs(held - np.asarray(held_values)).mean()), 4),
            "heldout_predictions": held.round(3).tolist(),
            "heldout_right": int((np.rint(held) == np.asarray(held_values)).sum())}


def split_expressions(held_out):
    """(the 196 training expressions, the held-out four), in the evaluation's order."""
    withheld = held_out_expressions(held_out)
    return [e for e in math_expressions() if e not in withheld], [e for e in math_expressions() if e in withheld]


def inspect(model, codec, sampling=Sampling(), generator=None, held_out=PAPER_HELD_OUT):
    """Every measure of the module docstring, as one dict of plain numbers."""
    train, held = split_expressions(held_out)
    attention, residual = inside_prompts(model, codec, train + held)
    values = [OPERATIONS[op](a, b) for a, op, b in train + held]
    items = evaluate_math(model, codec, sampling, generator)
    grids = math_grids(items)
    n = len(train)
    return {
        "digits": number_line(digit_embeddings(model, codec)),
        "attention": {"positions": POSITIONS,
                      "train": attention[:, :n].mean(axis=1).round(4).tolist(),    # (layer, head, position)
                      "held_out": attention[:, n:].mean(axis=1).round(4).tolist()},
        "probe": {"held_out": [f"{a}{op}{b}" for a, op, b in held],
                  **answer_probe(residual[:n], values[:n], residual[n:], values[n:])},
        "grids": {"addition": grids["+"], "subtraction": grids["-"]},
        "heldout": {item.name: item.correct for item in items if item.key in held},
    }


def measures_of(path, device="cpu"):
    """The representation measures of one saved model (sweep.py's summary): its number-line
    score and the held-out error of the answer probe."""
    model, codec, checkpoint = load_model(path, device)
    train, held = split_expressions(checkpoint.get("config", {}).get("held_out", PAPER_HELD_OUT))
    _, residual = inside_prompts(model, codec, train + held)
    values = [OPERATIONS[op](a, b) for a, op, b in train + held]
    probe = answer_probe(residual[:len(train)], values[:len(train)], residual[len(train):], values[len(train):])
    return {"number_line_score": number_line(digit_embeddings(model, codec))["number_line_score"],
            "probe_heldout_mae": probe["heldout_mae"]}


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
        path = find_run_folder(config["out_dir"]) / config["ckpt"]
        model, codec, checkpoint = load_model(path, device)
        missing = [str(d) for d in DIGITS if str(d) not in codec.stoi]
        if missing:
            raise ValueError(f"{path} is not an arithmetic model: its vocabulary has no digits")
        with autocast(device):
            held_out = checkpoint.get("config", {}).get("held_out", PAPER_HELD_OUT)
            result = inspect(model, codec, Sampling(), torch.Generator(device=device).manual_seed(config["seed"]),
                             held_out)
    except ValueError as e:
        exit_with_error(e)
    result = {"checkpoint": str(path), "iter": checkpoint.get("iter_num"), "held_out": held_out, **result}
    if config["json"]:
        print(json.dumps(result))
        return
    out = Path(path).parent / f"inspect_{Path(path).stem}.png"
    figure(result, f"{path} (iteration {result['iter']})").savefig(out)
    print(f"digits: number-line score {result['digits']['number_line_score']:.2f}; answer probe on the held-out "
          f"four: mean error {result['probe']['heldout_mae']:.2f}, {result['probe']['heldout_right']} of 4 right; "
          f"held-out samples right: {result['heldout']}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
