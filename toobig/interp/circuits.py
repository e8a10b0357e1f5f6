"""
Neuron circuits of a 1-layer arithmetic model: for each decision the answer needs (its
sign, whether it has a tens digit, its units digit), the fewest MLP neurons that make it
with every other neuron mean-ablated, and whether that set, chosen on the training
prompts, also makes the decision on the held-out ones. results/README.md's "Why"
section; tools/why.py reports it per run.
"""
import torch

from toobig.interp.interventions import EQUALS, ROLES, math_batch
from toobig.interp.mechanism import ablation, answer_logits, rows_of, training_reference
from toobig.study.tasks import OPERATORS

DECISIONS = ("sign", "carry", "units")


def _writes(logits, token):
    """(items,) margin of writing `token` (its logit minus the best other one) from (items, vocab)."""
    other = logits.clone()
    other[:, token] = float("-inf")
    return logits[:, token] - other.max(dim=1).values


@torch.no_grad()
def decision_margins(model, codec, batch, interventions=(), values=None):
    """(items, 3) teacher-forced margins of the DECISIONS, > 0 where the model makes it right, NaN
    where an item has none. sign: at `=`, `-` written for a negative answer and not written
    otherwise; carry: at `=`, for answers >= 0 other than 1 (whose first token is `1` either way),
    the tens `1` written for answers >= 10 and not written below; units: the units digit, at the
    position that predicts it. Both sides of each yes/no decision count, so a set of neurons that
    always writes `-` (or `1`) does not make it. values: the (items,) right answers, if known (a
    caller that intervenes many times computes them once)."""
    logits = answer_logits(model, batch, interventions).float()
    first = logits[:, EQUALS]
    values = torch.tensor([OPERATORS[op](a, b) for a, op, b in batch.expressions]) if values is None else values
    minus, one = _writes(first, codec.stoi["-"]), _writes(first, codec.stoi["1"])
    sign = torch.where(values < 0, minus, -minus)
    carry = torch.where(values >= 10, one, -one).masked_fill((values < 0) | (values == 1), float("nan"))
    k = ROLES.index("units")
    at_units = logits[torch.arange(len(values)), batch.positions[:, k]]
    right = at_units.gather(1, batch.targets[:, k, None])[:, 0]
    units = right - at_units.scatter(1, batch.targets[:, k, None], float("-inf")).max(dim=1).values
    return torch.stack([sign, carry, units], dim=1)


def neurons_needed(model, codec, held_out, share=0.95, controls=20, seed=0):
    """{decision: {"neurons": [ids], "necessary": c, "held_out_kept": k, "held_out_right": m,
    "random_held_out_kept": r}}.
    ids: MLP neurons that, with every other neuron mean-ablated (over the training prompts, position
    by position), still make `share` of the training instances of the decision the model makes
    right: added greedily (each step the neuron that most raises the summed margins, each capped
    at 5 so that fixing a wrong decision counts more than widening a right one), then pruned (a
    neuron whose removal keeps `share` is dropped), so len(ids) is an upper bound on the smallest
    such set, not the smallest. c: how many neurons are each necessary on their own (mean-ablating
    one, the rest kept, leaves fewer than `share`); were ablation effects monotone, every such set
    would hold them, so c would bound its size from below, but they need not be. k: how many of the
    m held-out instances the model makes right the set keeps right; r: the mean of that over
    `controls` seeded random sets of the same size (which fail on training instances too).
    Costs about width^2 forward passes of the 200 prompts per decision."""
    expressions, train, held = rows_of(held_out)
    batch = math_batch(codec, expressions)
    reference = training_reference(model, batch, train, ("mlp_hidden",))
    width = model.transformer.h[0].mlp.c_fc.out_features
    values = torch.tensor([OPERATORS[op](a, b) for a, op, b in expressions])
    base = decision_margins(model, codec, batch, values=values)
    generator = torch.Generator().manual_seed(seed)

    def margins(kept):
        ablated = [n for n in range(width) if n not in kept]
        return (decision_margins(model, codec, batch, [ablation("mean", "mlp_hidden", reference, ablated)], values)
                if ablated else base)
    needed = {}
    for d, decision in enumerate(DECISIONS):
        rows = [i for i in train if base[i, d] > 0]  # NaN compares False: items without the decision drop out
        held_rows = [i for i in held if base[i, d] > 0]

        def enough(kept):
            return bool((margins(kept)[rows, d] > 0).sum() >= share * len(rows))
        kept = []
        while not enough(kept):
            kept.append(max((n for n in range(width) if n not in kept),
                            key=lambda n: float(margins(kept + [n])[rows, d].clamp(max=5).sum())))
        for n in reversed(list(kept)):
            if enough([m for m in kept if m != n]):
                kept.remove(n)
        random_sets = [torch.randperm(width, generator=generator)[:len(kept)].tolist() for _ in range(controls)]
        needed[decision] = {"neurons": sorted(kept), "necessary": sum(not enough([m for m in range(width) if m != n])
                                                                      for n in range(width)),
                            "held_out_kept": int((margins(kept)[held_rows, d] > 0).sum()),
                            "held_out_right": len(held_rows),
                            "random_held_out_kept": sum(int((margins(r)[held_rows, d] > 0).sum())
                                                        for r in random_sets) / controls}
    return needed
