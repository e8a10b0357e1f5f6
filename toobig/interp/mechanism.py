"""
The measures of results/README.md's "Why" section, built from toobig/interp/interventions.py, for one
1-layer arithmetic model: what each part does (component and neuron ablations), three
descriptions of its mechanism tested as reduced models, activation patching, and the
geometry of the attention stage (how a and b are averaged, where their order goes).

Every number is a teacher-forced logit margin of the right answer (> 0: greedy decoding
writes it), the smallest over the answer's tokens unless a role is named. Rows are the 200
expressions in math_expressions() order; "train" are the 196 a run trained on, "held_out"
its four.
"""
import numpy as np
import torch

from toobig.interp.interventions import (
    EQUALS,
    ROLES,
    activations,
    answer_margin,
    answer_token_margins,
    hooked,
    math_batch,
    mean_of,
    patch_from,
    uniform_pattern,
    zero_unit,
)
from toobig.interp.readout import READOUT_DEGREE, digit_readout
from toobig.study.tasks import OPERATORS, held_out_expressions, math_expressions


def check_arithmetic_model(model, codec, path):
    """Raise ValueError unless the model is a 1-layer model that knows the digits (an arithmetic
    or joint run), which these interventions are written for."""
    if any(str(d) not in codec.stoi for d in range(10)) or model.config.n_layer != 1:
        raise ValueError(f"{path} is not a 1-layer arithmetic model, which these interventions are written for")


def rows_of(held_out):
    """(all 200 expressions, the rows of the 196 trained on, the rows of the held-out four)."""
    expressions = math_expressions()
    withheld = held_out_expressions(held_out)
    return expressions, [i for i, e in enumerate(expressions) if e not in withheld], [expressions.index(e) for e in withheld]


def summary(margins, rows):
    """How many of the rows' answers greedy decoding still writes, their median answer margin and
    the mean margin per answer-token role; margins is (items, 4) from answer_token_margins."""
    m = margins[rows]
    by_role = {role: round(float(np.nanmean(m[:, k].numpy())), 3) for k, role in enumerate(ROLES)
               if not torch.isnan(m[:, k]).all()}
    return {"right": int((answer_margin(m) > 0).sum()), "of": len(rows),
            "median_margin": round(float(np.median(answer_margin(m).numpy())), 3), "mean_margin": by_role}


def train_and_held_out(margins, held_out, kept=None):
    """summary() of the training and the held-out rows (of those in `kept`, if given); the
    held-out part also names the expressions greedy decoding gets right ("right_expressions")."""
    expressions, train, held = rows_of(held_out)
    if kept is not None:
        train, held = [i for i in train if kept[i]], [i for i in held if kept[i]]
    right = answer_margin(margins) > 0
    return {"train": summary(margins, train),
            "held_out": {**summary(margins, held), "right_expressions": ["".join(map(str, expressions[i])) for i in held if right[i]]}}


def training_reference(model, batch, train, sites):
    """What a mean ablation averages: the sites over the training prompts, and where they hold tokens."""
    return {"acts": activations(model, batch.idx[train], [(s, 0) for s in sites]), "real": batch.real[train]}


def ablation(kind, site, reference, unit=None):
    """A zero or mean ablation (kind) of a site or one unit of it; reference: training_reference()."""
    if kind == "zero":
        return zero_unit(site, unit)
    return mean_of(site, reference["acts"][(site, 0)], unit=unit, real=reference["real"])


def component_ablations(model, codec, held_out, kind="mean"):
    """{component: train_and_held_out} with it ablated: the attention output, the attention pattern
    (uniform over earlier tokens, or its mean), the MLP output, each embedding direction."""
    expressions, train, _ = rows_of(held_out)
    batch = math_batch(codec, expressions)
    reference = training_reference(model, batch, train, ("attn_out", "attn_pattern", "mlp_out", "embed"))
    components = {"attention output": [ablation(kind, "attn_out", reference)],
                  "attention pattern, uniform": [uniform_pattern()],
                  "attention pattern, mean": [ablation("mean", "attn_pattern", reference)],
                  "MLP output": [ablation(kind, "mlp_out", reference)]}
    components.update({f"embedding direction {d}": [ablation(kind, "embed", reference, unit=d)]
                       for d in range(model.config.n_embd)})
    return {name: train_and_held_out(answer_token_margins(model, batch, interventions), held_out)
            for name, interventions in components.items()}


def neuron_ablations(model, codec, held_out, kind="mean"):
    """Per MLP neuron, ablated alone: how many of the answers the model gets right it breaks (of
    200, and of the held-out four), and the mean drop of their margins."""
    expressions, train, held = rows_of(held_out)
    batch = math_batch(codec, expressions)
    reference = training_reference(model, batch, train, ("mlp_hidden",))
    base = answer_margin(answer_token_margins(model, batch))
    right = base > 0
    report = []
    for unit in range(model.transformer.h[0].mlp.c_fc.out_features):
        m = answer_margin(answer_token_margins(model, batch, [ablation(kind, "mlp_hidden", reference, unit)]))
        broken = right & (m <= 0)
        report.append({"neuron": unit, "answers_it_breaks": int(broken.sum()), "held_out_it_breaks": int(broken[held].sum()),
                       "mean_margin_drop": round(float((base - m)[right].mean()), 3)})
    return report


# --- descriptions of the mechanism, as reduced models ---------------------------------------
def additive_fit(act, batch, rows, positions):
    """`act` (items, tokens, width) with its vectors at `positions` replaced by their least-squares
    fit, over those of `rows` that hold a token there (not padding), on one-hot features of the
    token at every position up to each one: what the site would carry if each token contributed
    its own vector and tokens did not interact."""
    fitted, idx = act.clone(), batch.idx
    for p in positions:
        fit_rows = [r for r in rows if batch.real[r, p]]
        features = [np.ones(len(idx))] + [(idx[:, j] == t).numpy().astype(float)
                                          for j in range(p + 1) for t in idx[fit_rows, j].unique()[1:]]
        x = np.stack(features, 1)
        coef, *_ = np.linalg.lstsq(x[fit_rows], act[fit_rows, p].double().numpy(), rcond=None)
        fitted[:, p] = torch.from_numpy(x @ coef).to(act.dtype)
    return fitted


def result_means(act, expressions, rows, positions):
    """(`act` with its vectors at `positions` replaced by their mean over the other `rows` with the
    same operator and result (a + b or a - b), a bool per item: whether it has such rows). What the
    site would carry if it held the operator and the result and nothing else about a and b. An
    item without such rows (0+0, 9+9, 0-9, 9-0 among the training items) is left as it is; it is
    not a test of the description and is left out of what uses this."""
    keys = [(op, OPERATORS[op](a, b)) for a, op, b in expressions]
    replaced, grouped = act.clone(), []
    for i, key in enumerate(keys):
        group = [j for j in rows if keys[j] == key and j != i]
        grouped.append(bool(group))
        if group:
            replaced[i, positions] = act[group][:, positions].mean(dim=0)
    return replaced, grouped


def order_parts(model, codec, expressions):
    """(batch, symmetric, antisymmetric): the attention output (items, tokens, width) of each
    prompt a op b split into its part symmetric in a and b, (A(a op b) + A(b op a)) / 2, and the
    rest, (A(a op b) - A(b op a)) / 2; b op a is run on a op b's answer tokens, so that the two
    runs differ only in the order of a and b."""
    batch = math_batch(codec, expressions)
    answers = [OPERATORS[op](a, b) for a, op, b in expressions]
    swapped = math_batch(codec, [(b, op, a) for a, op, b in expressions], answers)
    mine, theirs = (activations(model, x, [("attn_out", 0)])[("attn_out", 0)] for x in (batch, swapped))
    return batch, (mine + theirs) / 2, (mine - theirs) / 2


def order_directions(antisymmetric, batch, rows, positions, k=1):
    """{position: (k, width)}: the k directions that carry most of the antisymmetric part over
    `rows` (those that hold a token there), its top right singular vectors."""
    directions = {}
    for p in positions:
        fit_rows = [r for r in rows if batch.real[r, p]]
        directions[p] = torch.linalg.svd(antisymmetric[fit_rows, p].double(), full_matrices=False).Vh[:k].to(antisymmetric.dtype)
    return directions


def averaged_with_order(symmetric, antisymmetric, directions):
    """The attention output reduced to 'a and b averaged, their order in k directions': the
    symmetric part plus the antisymmetric part's projection on `directions` ({position: (k, width)})."""
    reduced = symmetric.clone()
    for p, d in directions.items():
        reduced[:, p] += antisymmetric[:, p] @ d.T @ d
    return reduced


def order_patches(model, codec, held_out):
    """Where the sign is decided. For each training subtraction a-b with a != b (88 with the
    paper's held-out pair: 90 less 5-7 and 7-5) whose first answer token the model writes right,
    at `=`: the attention output's coordinate on the order direction (order_directions, k = 1,
    fit on the training prompts) taken from b-a, and, as the control, everything else by which
    b-a's attention output differs. Returns how many of them ("of") then write b-a's first
    answer token ('-' for a digit or back), for each patch."""
    expressions, train, _ = rows_of(held_out)
    batch, symmetric, antisymmetric = order_parts(model, codec, expressions)
    d = order_directions(antisymmetric, batch, train, [EQUALS])[EQUALS]
    first = answer_logits(model, batch, [])[:, EQUALS].argmax(dim=1)
    rows = [i for i in train if expressions[i][1] == "-" and expressions[i][0] != expressions[i][2]
            and first[i] == batch.targets[i, int((batch.positions[i] == EQUALS).nonzero()[0])]]
    # b-a's own first answer token: its sign for a negative answer, else its (only) digit
    theirs = torch.tensor([codec.stoi[str(OPERATORS["-"](b, a))[0]] for a, _, b in (expressions[i] for i in rows)])
    change = -2 * antisymmetric  # b-a's attention output minus a-b's
    report = {"of": len(rows)}
    for name, part in (("order direction", change @ d.T @ d), ("everything else", change - change @ d.T @ d)):
        patched = symmetric + antisymmetric
        patched[:, EQUALS] += part[:, EQUALS]
        written = answer_logits(model, batch, [patch_from("attn_out", patched, positions=[EQUALS])])[rows, EQUALS].argmax(dim=1)
        report[name] = int((written == theirs).sum())
    return report


def chord_offset(model, codec):
    """The geometry of the averaging (a description, not a test: it holds by construction for
    uniform attention, or for a digit that writes the same value with the same score at a's and
    b's position): the symmetric state of a op b at `=`, a softmax-weighted mean, lies on the
    segment between those of a op a and b op b. The median, over the 45 pairs a < b of each
    operator (90 in all), of its distance from that segment over the segment's length."""
    expressions = math_expressions()
    _, symmetric, _ = order_parts(model, codec, expressions)
    state = {e: symmetric[i, EQUALS] for i, e in enumerate(expressions)}
    offsets = []
    for a, op, b in expressions:
        if a < b:
            start, end, point = state[(a, op, a)], state[(b, op, b)], state[(a, op, b)]
            t = ((point - start) @ (end - start) / (end - start).square().sum()).clamp(0, 1)
            offsets.append(float((point - start - t * (end - start)).norm() / (end - start).norm()))
    return round(float(np.median(offsets)), 4)


def digit_attention(model, codec):
    """(10,) the attention weight from `=` on a's position, by digit a (mean over the 200
    prompts): how much of a digit's value vector the average takes."""
    expressions = math_expressions()
    pattern = activations(model, math_batch(codec, expressions), [("attn_pattern", 0)])[("attn_pattern", 0)]
    weight = pattern[:, :, EQUALS, 1].mean(dim=1)  # over heads
    digit = torch.tensor([a for a, _, _ in expressions])
    return [round(float(weight[digit == d].mean()), 3) for d in range(10)]


def reduced_models(model, codec, held_out):
    """{description: train_and_held_out of the model reduced to it}, each fit on the training
    prompts only and applied at every answer position (`=` onward):
    - "attention: each token adds its own vector": the attention output replaced by additive_fit;
    - "MLP input: the operator and the result only": the MLP pre-activations replaced by result_means
      (counted over the items that have other training items of their result: 192 and the four);
    - "attention: a and b averaged, their order in one direction": the attention output replaced
      by averaged_with_order, k = 1;
    - "readout: each digit's output direction a polynomial in the digit": digit_readout's model;
    - its control, the same number of parameters on the top principal directions instead.
    A description that is the mechanism keeps the margins; one that leaves out what the model
    uses loses them."""
    expressions, train, _ = rows_of(held_out)
    batch, symmetric, antisymmetric = order_parts(model, codec, expressions)
    acts = activations(model, batch, [("attn_out", 0), ("mlp_pre", 0)])
    answer = list(range(EQUALS, batch.idx.shape[1]))
    by_result, grouped = result_means(acts[("mlp_pre", 0)], expressions, train, answer)
    averaged = averaged_with_order(symmetric, antisymmetric, order_directions(antisymmetric, batch, train, answer))
    (polynomial, _), (principal, _) = digit_readout(model, codec), digit_readout(model, codec, "principal")
    reduced = {"attention: each token adds its own vector":
               (model, [patch_from("attn_out", additive_fit(acts[("attn_out", 0)], batch, train, answer))], None),
               "MLP input: the operator and the result only": (model, [patch_from("mlp_pre", by_result)], grouped),
               "attention: a and b averaged, their order in one direction":
               (model, [patch_from("attn_out", averaged, positions=answer)], None),
               f"readout: each digit's output direction a degree-{READOUT_DEGREE} polynomial in the digit": (polynomial, [], None),
               f"readout, control: the digit output directions' mean and top {READOUT_DEGREE} principal directions":
               (principal, [], None)}
    return {name: train_and_held_out(answer_token_margins(m, batch, fns), held_out, kept)
            for name, (m, fns, kept) in reduced.items()}


def result_organization(model, codec, held_out):
    """Per MLP neuron, the share of its pre-activation's variance at `=` over the training prompts
    that the mean of the other prompts with the same operator and result predicts (R^2, leave one
    out, over the 192 that have such prompts): 1 if the neuron reads the result, about 0 (or
    below) if it reads a and b otherwise."""
    expressions, train, _ = rows_of(held_out)
    pre = activations(model, math_batch(codec, expressions), [("mlp_pre", 0)])[("mlp_pre", 0)]
    by_result, grouped = result_means(pre, expressions, train, [EQUALS])
    rows = [i for i in train if grouped[i]]
    predicted, actual = by_result[rows, EQUALS], pre[rows, EQUALS]
    residual = ((actual - predicted) ** 2).sum(dim=0)
    return [round(float(r), 3) for r in 1 - residual / ((actual - actual.mean(dim=0)) ** 2).sum(dim=0)]


# --- activation patching --------------------------------------------------------------------
def patch_report(model, codec, source, target, site="attn_out"):
    """Prompt `target` (a, op, b) with `site` at `=` and every answer position (for attn_pattern:
    the whole pattern) taken from prompt `source` run on the target's answer (both runs see the
    same answer tokens): the target's
    answer margin before and after, and the first token greedy decoding writes once patched."""
    value = OPERATORS[target[1]](target[0], target[2])
    src, tgt = math_batch(codec, [source], [value]), math_batch(codec, [target])
    source_act = activations(model, src, [(site, 0)])[(site, 0)]
    positions = slice(None) if site == "attn_pattern" else slice(EQUALS, None)
    patched = [patch_from(site, source_act, positions=positions)]
    logits = answer_logits(model, tgt, patched)
    return {"source": "".join(map(str, source)), "target": "".join(map(str, target)), "site": site,
            "source_answer": OPERATORS[source[1]](source[0], source[2]), "target_answer": value,
            "target_margin_before": round(float(answer_margin(answer_token_margins(model, tgt))), 3),
            "target_margin_patched": round(float(answer_margin(answer_token_margins(model, tgt, patched))), 3),
            "first_token_patched": codec.itos[int(logits[0, EQUALS].argmax())]}


@torch.no_grad()
def answer_logits(model, batch, interventions):
    """The logits (items, tokens, vocab) of a MathBatch with the interventions in place."""
    with hooked(model, interventions):
        logits, _ = model(batch.idx)
    return logits
