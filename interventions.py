"""
Causal interventions on a trained arithmetic model (nanoGPT's GPT): read any
activation, replace it (ablation), or take it from another prompt (activation
patching), and measure what that does to the teacher-forced logit margin of the
right answer, token by token (sign, tens, units, end).

    batch = math_batch(codec, math_expressions())           # every `<a op b=answer>`, teacher-forced
    margins = answer_margins(model, batch)                    # (items, answer tokens): > 0, greedy writes it
    margins = answer_margins(model, batch, [zero_unit("mlp_hidden", 3)])        # neuron 3 ablated
    margins = answer_margins(model, batch, [mean_of("attn_out", train_acts)])   # mean ablation
    margins = answer_margins(model, target, [patch_from("resid_post", source_acts, position=4)])

Sites, per layer (activations are (batch, tokens, width) unless said):
  embed        token + position embedding, the residual stream before layer 0 (layer ignored)
  attn_pattern the attention weights (batch, heads, tokens, tokens), after the softmax
  attn_out     what attention adds to the residual stream
  resid_mid    the residual stream after attention (attention's input + its output)
  mlp_pre      the MLP's hidden units before GELU (batch, tokens, mlp width)
  mlp_hidden   the MLP's hidden units after GELU (batch, tokens, mlp width)
  mlp_out      what the MLP adds to the residual stream
  resid_post   the residual stream after the layer
Method names are the interpretability literature's: zero and mean ablation, activation
patching (Meng et al. 2022; Heimersheim and Nanda 2024), logit margin.
"""
import reproducible  # first, before torch: the CPU kernels every run uses (reproducible.py)
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from tasks import OPERATORS, math_prompt

SITES = ("embed", "attn_pattern", "attn_out", "resid_mid", "mlp_pre", "mlp_hidden", "mlp_out", "resid_post")
ROLES = ("sign", "tens", "units", "end")  # what each answer token is: `-12>` has all four


@dataclass
class MathBatch:
    """Teacher-forced `<a op b=answer>` lines: idx (items, tokens), the token positions whose
    logits predict each answer token (items, 4; -1 where absent), the right tokens there, and
    each answer token's role (ROLES), aligned on the answer's last digit."""
    expressions: list
    idx: torch.Tensor
    positions: torch.Tensor
    targets: torch.Tensor

    @property
    def prompt_length(self):
        return len(math_prompt(0, "+", 0))


def answer_roles(value):
    """The roles of the answer tokens of `value` followed by '>': -12 -> sign tens units end."""
    digits = str(abs(value))
    return (("sign",) if value < 0 else ()) + (("tens", "units") if len(digits) == 2 else ("units",)) + ("end",)


def math_batch(codec, expressions, answers=None):
    """A MathBatch of the expressions (a, op, b), their prompts and right answers (or, teacher-
    forced instead, `answers`: e.g. another prompt's, so that two batches align token by token)."""
    rows, positions, targets = [], [], []
    for k, (a, op, b) in enumerate(expressions):
        value = OPERATORS[op](a, b) if answers is None else answers[k]
        prompt, answer = math_prompt(a, op, b), f"{value}>"
        ids = codec.encode(prompt + answer)
        pos, tgt = [-1] * len(ROLES), [0] * len(ROLES)
        for k, role in enumerate(answer_roles(value)):
            pos[ROLES.index(role)] = len(prompt) - 1 + k
            tgt[ROLES.index(role)] = ids[len(prompt) + k]
        rows.append(ids[:-1])  # the last token is only predicted
        positions.append(pos)
        targets.append(tgt)
    width = max(len(r) for r in rows)
    idx = torch.zeros(len(rows), width, dtype=torch.long)
    for i, r in enumerate(rows):
        idx[i, :len(r)] = torch.tensor(r)  # right-padded: causal attention never sees the padding
    return MathBatch(list(expressions), idx, torch.tensor(positions), torch.tensor(targets))


# --- hooks: where each site lives in model.py ---------------------------------------------
def _hook_point(model, site, layer):
    """The module whose output a site is (resid_mid aside: see hooked)."""
    block = model.transformer.h[layer]
    return {"embed": model.transformer.drop, "attn_pattern": block.attn.pattern, "attn_out": block.attn,
            "mlp_pre": block.mlp.c_fc, "mlp_hidden": block.mlp.gelu, "mlp_out": block.mlp, "resid_post": block}[site]


@contextmanager
def hooked(model, interventions=(), record=()):
    """Within the context, every forward applies `interventions` [(site, layer, fn(activation) ->
    activation)] and stores each site of `record` [(site, layer)] in the yielded dict."""
    seen, handles = {}, []

    def keep(key):
        return lambda module, args, out: seen.update({key: out})

    def replace(fn):
        return lambda module, args, out: fn(out)

    for (site, layer), fn in [(key, None) for key in record] + [((s, l), fn) for s, l, fn in interventions]:
        if site == "resid_mid":
            # no module outputs the residual after attention, x + attn(ln_1(x)): it is read, or
            # replaced, through the attention's output, given the block's input x
            block = model.transformer.h[layer]
            handles.append(block.register_forward_pre_hook(lambda m, args, k=layer: seen.update({("_in", k): args[0]})))
            x_in = lambda k=layer: seen[("_in", k)]  # noqa: E731
            handles.append(block.attn.register_forward_hook(
                (lambda m, args, out, k=(site, layer): seen.update({k: x_in() + out})) if fn is None else
                (lambda m, args, out, fn=fn: fn(x_in() + out) - x_in())))
        else:
            module = _hook_point(model, site, layer)
            handles.append(module.register_forward_hook(keep((site, layer)) if fn is None else replace(fn)))
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def activations(model, batch, sites):
    """{(site, layer): activation} for `batch` (a MathBatch or an idx tensor)."""
    idx = batch.idx if isinstance(batch, MathBatch) else batch
    with hooked(model, record=sites) as seen:
        model(idx)
    return {key: value.clone() for key, value in seen.items() if key[0] != "_in"}


@torch.no_grad()
def answer_margins(model, batch, interventions=()):
    """(items, 4) logit margins of the right answer tokens (ROLES order; NaN where an answer has
    no such token): the right token's logit minus the largest other one, at the position that
    predicts it, with the interventions in place. > 0 everywhere: greedy decoding writes it."""
    with hooked(model, interventions):
        logits, _ = model(batch.idx)
    rows = torch.arange(len(batch.idx))[:, None].expand_as(batch.positions)
    picked = logits[rows, batch.positions.clamp(min=0)].float()  # (items, 4, vocab)
    right = picked.gather(2, batch.targets[..., None])[..., 0]
    other = picked.scatter(2, batch.targets[..., None], float("-inf")).max(dim=2).values
    margins = right - other
    return margins.masked_fill(batch.positions < 0, float("nan"))


def answer_margin(margins):
    """The smallest over each answer's tokens: > 0, greedy decoding writes the whole answer."""
    return torch.nan_to_num(margins, nan=float("inf")).min(dim=1).values


# --- the interventions ----------------------------------------------------------------------
def zero_unit(site, unit=None, layer=0, positions=None):
    """Zero ablation of one unit (the last axis) of a site, or of all of it, at all positions or some."""
    def fn(act):
        act = act.clone()
        sel = (slice(None), slice(None) if positions is None else positions)
        if unit is None:
            act[sel] = 0
        else:
            act[sel + (unit,)] = 0
        return act
    return (site, layer, fn)


def mean_of(site, reference, unit=None, layer=0, positions=None):
    """Mean ablation: a site (or one unit of it) replaced, position by position, by its mean over a
    reference batch's activation (e.g. the 196 training prompts): what it would be if it carried
    nothing that tells prompts apart."""
    mean = reference.mean(dim=0, keepdim=True)

    def fn(act):
        act = act.clone()
        t = act.shape[-2] if site != "attn_pattern" else act.shape[-1]
        m = mean[..., :t, :] if site != "attn_pattern" else mean[..., :t, :t]
        sel = (slice(None), slice(None) if positions is None else positions)
        if site == "attn_pattern":
            act[:] = m.expand_as(act)
        elif unit is None:
            act[sel] = m.expand_as(act)[sel]
        else:
            act[sel + (unit,)] = m.expand_as(act)[sel + (unit,)]
        return act
    return (site, layer, fn)


def uniform_pattern(layer=0):
    """The attention pattern replaced by uniform attention over the allowed (earlier) positions."""
    def fn(att):
        t = att.shape[-1]
        causal = torch.ones(t, t, device=att.device).tril()
        return (causal / causal.sum(dim=1, keepdim=True)).expand_as(att).to(att.dtype)
    return ("attn_pattern", layer, fn)


def patch_from(site, source, layer=0, positions=None, unit=None):
    """Activation patching: a site (or one unit) at some positions (default all) taken from the
    same site of another batch, item for item (e.g. `<4-6=` into `<5-7=`)."""
    def fn(act):
        act = act.clone()
        sel = (slice(None), slice(None) if positions is None else positions)
        if site == "attn_pattern":
            sel = (slice(None), slice(None), slice(None) if positions is None else positions)
        src = source.expand_as(act) if source.shape[0] == 1 else source
        if unit is None:
            act[sel] = src[sel]
        else:
            act[sel + (unit,)] = src[sel + (unit,)]
        return act
    return (site, layer, fn)
