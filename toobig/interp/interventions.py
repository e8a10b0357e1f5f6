"""
Causal interventions on a trained arithmetic model (nanoGPT's GPT): read any
activation, replace it (ablation), or take it from another prompt (activation
patching), and measure what that does to the teacher-forced logit margin of the
right answer, token by token (sign, tens, units, end).

    batch = math_batch(codec, math_expressions())           # every `<a op b=answer>`, teacher-forced
    margins = answer_token_margins(model, batch)                    # (items, answer tokens): > 0, greedy writes it
    margins = answer_token_margins(model, batch, [zero_unit("mlp_hidden", 3)])        # neuron 3 ablated
    margins = answer_token_margins(model, batch, [mean_of("attn_out", train_acts)])   # mean ablation
    margins = answer_token_margins(model, target, [patch_from("resid_post", source_acts, position=4)])

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
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from toobig.study.tasks import OPERATORS, math_prompt

EQUALS = 4  # the position of `=` in `<a+b=`: its logits predict the answer's first token
SITES = ("embed", "attn_pattern", "attn_out", "resid_mid", "mlp_pre", "mlp_hidden", "mlp_out", "resid_post")
ROLES = ("sign", "tens", "units", "end")  # what each answer token is: `-12>` has all four


@dataclass
class MathBatch:
    """Teacher-forced `<a op b=answer>` lines, right-padded: idx (items, tokens); real (items,
    tokens), True where idx holds the line and not padding; positions (items, 4), the token
    position whose logits predict each answer token, in ROLES order (-1 where the answer has no
    such token); targets (items, 4), the right token there."""
    expressions: list
    idx: torch.Tensor
    real: torch.Tensor
    positions: torch.Tensor
    targets: torch.Tensor


def answer_roles(value):
    """The roles of the answer tokens of `value` followed by '>': -12 -> sign tens units end."""
    digits = str(abs(value))
    return (("sign",) if value < 0 else ()) + (("tens", "units") if len(digits) == 2 else ("units",)) + ("end",)


def math_batch(codec, expressions, answers=None):
    """A MathBatch of the expressions (a, op, b), their prompts and right answers (or, teacher-
    forced instead, `answers`: e.g. another prompt's, so that two batches align token by token)."""
    rows, positions, targets = [], [], []
    for item, (a, op, b) in enumerate(expressions):
        value = OPERATORS[op](a, b) if answers is None else answers[item]
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
    real = torch.zeros(len(rows), width, dtype=torch.bool)
    for i, r in enumerate(rows):
        idx[i, :len(r)] = torch.tensor(r)  # right-padded: causal attention never sees the padding
        real[i, :len(r)] = True
    return MathBatch(list(expressions), idx, real, torch.tensor(positions), torch.tensor(targets))


# --- hooks: where each site lives in model.py ---------------------------------------------
def _hook_point(model, site, layer):
    """The module whose output a site is (resid_mid aside: see hooked)."""
    block = model.transformer.h[layer]
    return {"embed": model.transformer.drop, "attn_pattern": block.attn.pattern, "attn_out": block.attn,
            "mlp_pre": block.mlp.c_fc, "mlp_hidden": block.mlp.gelu, "mlp_out": block.mlp, "resid_post": block}[site]


def check_site(model, site, layer):
    if site not in SITES:
        raise ValueError(f"site {site!r} is not allowed; choose one of {', '.join(SITES)}")
    if not 0 <= layer < len(model.transformer.h):
        raise ValueError(f"layer {layer} is not allowed; the model has layers 0-{len(model.transformer.h) - 1}")


@contextmanager
def hooked(model, interventions=(), record=()):
    """Within the context, every forward applies `interventions` [(site, layer, fn(activation) ->
    activation)] and stores each site of `record` [(site, layer)] in the yielded dict. Raises
    ValueError for a site or layer the model lacks; no hook outlives the context."""
    requests = [((site, layer), None) for site, layer in record] + [((s, l), fn) for s, l, fn in interventions]
    for (site, layer), _ in requests:
        check_site(model, site, layer)
    seen, handles = {}, []
    try:
        for (site, layer), fn in requests:
            handles += _register(model, site, layer, fn, seen)
        yield seen
    finally:
        for handle in handles:
            handle.remove()


def _register(model, site, layer, fn, seen):
    """The hook(s) that record (fn None) or replace one site; returns their handles."""
    if site != "resid_mid":
        module = _hook_point(model, site, layer)
        if fn is None:
            return [module.register_forward_hook(lambda m, args, out, key=(site, layer): seen.update({key: out}))]
        return [module.register_forward_hook(lambda m, args, out, fn=fn: fn(out))]
    # no module outputs the residual after attention, x + attn(ln_1(x)): it is read, or replaced,
    # through the attention's output, given the block's input x (kept under ("_in", layer))
    block, key = model.transformer.h[layer], ("_in", layer)
    handles = [block.register_forward_pre_hook(lambda m, args, key=key: seen.update({key: args[0]}))]
    if fn is None:
        hook = lambda m, args, out, key=key: seen.update({("resid_mid", layer): seen[key] + out})  # noqa: E731
    else:
        hook = lambda m, args, out, key=key, fn=fn: fn(seen[key] + out) - seen[key]  # noqa: E731
    return handles + [block.attn.register_forward_hook(hook)]


@torch.no_grad()
def activations(model, batch, sites):
    """{(site, layer): activation} for `batch` (a MathBatch or an idx tensor)."""
    idx = batch.idx if isinstance(batch, MathBatch) else batch
    with hooked(model, record=sites) as seen:
        model(idx)
    return {key: value.clone() for key, value in seen.items() if key[0] != "_in"}


@torch.no_grad()
def answer_token_margins(model, batch, interventions=()):
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
def _selection(site, positions, unit):
    """The index of `positions` (default all; query positions for attn_pattern) and `unit`."""
    at = slice(None) if positions is None else positions
    if site == "attn_pattern":
        if unit is not None:
            raise ValueError("attn_pattern has no units; intervene on all of it, at some query positions")
        return (slice(None), slice(None), at)
    return (slice(None), at) + (() if unit is None else (unit,))


def zero_unit(site, unit=None, layer=0, positions=None):
    """Zero ablation of one unit (the last axis) of a site, or of all of it, at all positions or some."""
    sel = _selection(site, positions, unit)

    def fn(act):
        act = act.clone()
        act[sel] = 0
        return act
    return (site, layer, fn)


def mean_of(site, reference, unit=None, layer=0, positions=None, real=None):
    """Mean ablation: a site (or one unit of it) replaced, position by position, by its mean over a
    reference batch's activation (e.g. the 196 training prompts): what it would be if it carried
    nothing that tells prompts apart. real (reference items, tokens): the positions that hold a
    token and not padding (MathBatch.real), the only ones averaged."""
    sel = _selection(site, positions, unit)
    weight = torch.ones(reference.shape[:2]) if real is None else real.to(reference.dtype)
    weight = weight[:, None, :, None] if site == "attn_pattern" else weight[..., None]
    mean = (reference * weight).sum(dim=0, keepdim=True) / weight.sum(dim=0, keepdim=True).clamp(min=1)

    def fn(act):
        act = act.clone()
        t = act.shape[-2]
        m = mean[..., :t, :t] if site == "attn_pattern" else mean[..., :t, :]
        act[sel] = m.expand_as(act)[sel]
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
    """Activation patching: a site (or one unit) at some positions (default all; query positions
    for attn_pattern) taken from the same site of another batch, item for item, or from one
    item for all (e.g. `<4-6=` into `<5-7=`)."""
    sel = _selection(site, positions, unit)

    def fn(act):
        act = act.clone()
        act[sel] = (source.expand_as(act) if source.shape[0] == 1 else source)[sel]
        return act
    return (site, layer, fn)
