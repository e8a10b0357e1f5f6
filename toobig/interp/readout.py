"""
The digit readout of a 1-layer arithmetic model (nanoGPT's GPT): the output head's ten
digit rows reduced to a five-dimensional core (a polynomial in the digit, or the top
principal directions), and activation steering along the attention's segments (does
the readout walk the units digit through every value in order, as a number line does?).
results/README.md's "Why" section; toobig/interp/mechanism.py uses the reduction as a reduced model.
"""
import copy

import numpy as np
import torch

from toobig.interp.interventions import (
    EQUALS,
    activations,
    hooked,
    math_batch,
    patch_from,
)
from toobig.study.tasks import math_expressions

READOUT_DEGREE = 4  # digit_readout's polynomial: 5 coefficients for the 10 digits


def digit_readout(model, codec, basis="polynomial"):
    """(a copy of the model whose output head's ten digit rows are replaced by their least-squares
    fit, the R^2 of that fit) with READOUT_DEGREE + 1 coefficients per output dimension: on the
    powers 0..READOUT_DEGREE of the digit (basis "polynomial": the rows as a smooth curve in the
    digit, so that an answer position's digit logits are a bump around the digit its state points
    at), or on the mean and the top READOUT_DEGREE principal directions of the rows ("principal":
    the same number of parameters, the most variance kept; the control). The input embedding,
    tied to the head in training, is left as it is. Raises ValueError for another basis."""
    digits = [codec.stoi[str(d)] for d in range(10)]
    weight = model.lm_head.weight.detach()
    rows = weight[digits].double()
    if basis == "polynomial":
        features = torch.tensor(np.vander(np.arange(10), READOUT_DEGREE + 1, increasing=True), dtype=torch.float64)
    elif basis == "principal":
        left = torch.linalg.svd(rows - rows.mean(dim=0), full_matrices=False).U[:, :READOUT_DEGREE]
        features = torch.cat([torch.ones(10, 1, dtype=torch.float64), left], dim=1)
    else:
        raise ValueError(f"basis={basis!r} is not allowed; choose polynomial or principal")
    fit = features @ torch.linalg.lstsq(features, rows).solution
    r2 = 1 - (rows - fit).square().sum() / (rows - rows.mean(dim=0)).square().sum()
    reduced = copy.deepcopy(model)
    reduced.lm_head = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)  # untied
    with torch.no_grad():
        reduced.lm_head.weight.copy_(weight)
        reduced.lm_head.weight[digits] = fit.to(weight.dtype)
    return reduced, round(float(r2), 4)


def dedup(values):
    """The values without repeats in a row: [1, 1, 2, 2, 1] -> [1, 2, 1]."""
    return [v for n, v in enumerate(values) if n == 0 or v != values[n - 1]]


@torch.no_grad()
def segment_walks(model, codec, steps=41):
    """Activation steering along the averaging's segments: for additions a+a and c+c (a < c) with
    sums of one digit (0 <= a < c <= 4) or two (5 <= a < c <= 9), the attention output where the
    units digit is predicted (`=`, or after the tens `1`) moved in `steps` steps from a+a's to
    c+c's (training states only; in one layer nothing else reaches the logits there), and the token
    greedy decoding writes along the way. A readout that is monotone along the segment, as a number
    line is, walks through every value from 2a to 2c in order; one that is not skips values, goes
    back, or writes something else. "across ten" (a <= 4 < c) walks the first token at `=`: the
    tens `1` once the sum passes 9. Segments whose ends the model answers wrong are left out.
    Returns, per kind ("one digit", "two digits": 10 segments each; "across ten": 25),
    {"in order": segments walked in order, "of": segments with both ends right}."""
    expressions = math_expressions()
    batch = math_batch(codec, expressions)
    act = activations(model, batch, [("attn_out", 0)])[("attn_out", 0)]
    t = torch.linspace(0, 1, steps)[:, None]
    walks = {}
    kinds = {"one digit": ([(a, c) for a in range(5) for c in range(a + 1, 5)], EQUALS),
             "two digits": ([(a, c) for a in range(5, 10) for c in range(a + 1, 10)], EQUALS + 1),
             "across ten": ([(a, c) for a in range(5) for c in range(5, 10)], EQUALS)}
    for kind, (pairs, p) in kinds.items():
        walked = ends_right = 0
        for a, c in pairs:
            start, end, k = (expressions.index(e) for e in ((a, "+", a), (c, "+", c), (a, "+", c)))
            moved = act[[k] * steps].clone()
            moved[:, p] = (1 - t) * act[start, p] + t * act[end, p]
            with hooked(model, [patch_from("attn_out", moved, positions=[p])]):
                logits, _ = model(batch.idx[[k] * steps])
            written = [codec.itos[i] for i in logits[:, p].argmax(dim=1).tolist()]
            values = [str(v)[0] if p == EQUALS else str(v % 10) for v in range(2 * a, 2 * c + 1)]
            if written[0] == values[0] and written[-1] == values[-1]:
                ends_right += 1
                walked += dedup(written) == dedup(values)
        walks[kind] = {"in order": walked, "of": ends_right}
    return walks
