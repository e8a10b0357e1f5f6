"""
Inside a trained arithmetic model, the measures tools/inspect_model.py shows and the
sweeps' summaries report (correlational: they describe, they do not test
causes):

- the number-line score: the ten digit embeddings on their first two principal
  components and, over the directions of that plane, the largest |Spearman
  correlation| between a digit's position along it and its value (1.0: the
  digits lie in order along a line);
- the attention of the last prompt position (`=`) over the prompt `<a+b=`;
- a linear answer probe: least squares from the residual stream at `=`
  (before the last LayerNorm) to the true result, fitted on the 196 training
  expressions and tried on the held-out four.
"""
import math

import numpy as np
import torch

from toobig.core.stats import spearman
from toobig.runs.checkpoints import load_model
from toobig.study.evaluation import Sampling, evaluate_math, math_grids
from toobig.study.tasks import (
    DIGITS,
    OPERATORS,
    PAPER_HELD_OUT,
    held_out_expressions,
    math_expressions,
    math_prompt,
)
from toobig.study.training_config import saved_config

POSITIONS = ["<", "a", "op", "b", "="]


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
    prompt (n_layer, n_prompts, n_head, 5), and the residual stream there before the
    last LayerNorm (n_prompts, n_embd), read by forward hooks."""
    device = next(model.parameters()).device
    idx = torch.tensor([codec.encode(math_prompt(*e)) for e in expressions], device=device)
    seen = {}

    def keep(name, of_input=False):  # a hook that returns None, so the forward is left as it is
        return lambda module, inputs, output: seen.update({name: inputs[0] if of_input else output})
    hooks = [block.attn.pattern.register_forward_hook(keep(i)) for i, block in enumerate(model.transformer.h)]
    hooks.append(model.transformer.ln_f.register_forward_hook(keep("residual", of_input=True)))
    try:
        model(idx)
    finally:
        for hook in hooks:
            hook.remove()
    attention = np.stack([seen[i][:, :, -1, :].double().cpu().numpy() for i in range(len(model.transformer.h))])
    return attention, seen["residual"][:, -1, :].double().cpu().numpy()


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


def look_inside(model, codec, sampling=Sampling(), generator=None, held_out=PAPER_HELD_OUT):
    """Every measure of the module docstring, as one dict of plain numbers."""
    train, held = split_expressions(held_out)
    attention, residual = inside_prompts(model, codec, train + held)
    values = [OPERATORS[op](a, b) for a, op, b in train + held]
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
    """The representation measures of one saved model (tools/sweep.py's summary): its number-line
    score and the held-out error of the answer probe."""
    model, codec, checkpoint = load_model(path, device)
    train, held = split_expressions(saved_config(checkpoint)["held_out"])
    _, residual = inside_prompts(model, codec, train + held)
    values = [OPERATORS[op](a, b) for a, op, b in train + held]
    probe = answer_probe(residual[:len(train)], values[:len(train)], residual[len(train):], values[len(train):])
    return {"number_line_score": number_line(digit_embeddings(model, codec))["number_line_score"],
            "probe_heldout_mae": probe["heldout_mae"]}
