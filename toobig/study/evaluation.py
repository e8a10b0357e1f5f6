"""
The one evaluation module (docs/STUDY.md §4), used by training and by every CLI.

Every prompt of a task goes through one batched decoding: all prompts, of any
length, and all their samples share one `sample_ragged` call, in which rows
that are identical so far share one forward. Identical completions are decoded
and judged once (at temperature 0.01 nearly all ten samples of a prompt agree),
so Python only ever loops over distinct answers, never over samples.
"""
import math
import re
from collections import Counter
from dataclasses import dataclass, field

import torch
from torch.nn import functional as F

from toobig.study.tasks import (
    CAPITALS,
    EVAL_SAMPLING,
    FACT_ANSWER_TOKENS,
    MATH_ANSWER_TOKENS,
    PAPER_HELD_OUT,
    check_sampling,
    fact_prompt,
    held_out_expressions,
    math_prompt,
    math_table,
)

# Below this, logits / temperature can overflow float32 (a logit of 10 over 1e-38); sample_ragged
# then samples the limit: uniformly among the largest logits (greedy decoding, ties shared). At and above it, the division is the plain one
# every committed evaluation made.
SMALLEST_SAFE_TEMPERATURE = 1e-6


@dataclass
class Sampling:
    """How evaluations sample; the defaults are the study's (docs/STUDY.md §4)."""
    num_samples: int = EVAL_SAMPLING["num_samples"]
    temperature: float = EVAL_SAMPLING["temperature"]
    top_k: int = EVAL_SAMPLING["top_k"]
    greedy: bool = False  # argmax decoding; every sample of a prompt is then the same

    def __post_init__(self):
        check_sampling(self.num_samples, self.temperature, self.top_k)


@dataclass
class Item:
    """One prompt's score: `correct` of `total` samples, and what the model wrote."""
    name: str            # "5+7", or the country: the item's column in a run's items.csv
    prompt: str
    expected: object
    correct: int
    total: int
    completions: Counter = field(default_factory=Counter)
    key: tuple = ()
    wrong: Counter = field(default_factory=Counter)  # the wrong answers, as judged, and their samples


# --- generation ---------------------------------------------------------------
@torch.no_grad()
def sample_ragged(model, idx, lengths, max_new_tokens, temperature, top_k, generator=None, stop_token=None):
    """
    Extend every row of idx (b, t) by up to max_new_tokens tokens, all rows in one
    batch. Row i holds a prompt of lengths[i] tokens, right-padded; it sees exactly
    the context it would see alone (its last block_size tokens, nanoGPT's crop), and
    its new tokens are out[i, lengths[i]:lengths[i] + out.size(1) - t]. Rows that are
    equal so far are run once. temperature=0 decodes greedily; with `stop_token`,
    decoding stops once every row has produced it.
    """
    b, t = idx.size()
    block_size = model.config.block_size
    rows = torch.arange(b, device=idx.device)
    lengths = lengths.to(idx.device).clone()
    idx = torch.cat([idx, idx.new_zeros(b, max_new_tokens)], dim=1)
    stopped = torch.zeros(b, dtype=torch.bool, device=idx.device)
    steps = 0
    while steps < max_new_tokens:
        start = (lengths - block_size).clamp(min=0)
        width = int((lengths - start).max())
        window = idx.gather(1, start[:, None] + torch.arange(width, device=idx.device))
        last = lengths - start - 1  # causal: the padding right of `last` is never seen
        distinct, inverse = torch.unique(torch.cat([last[:, None], window], dim=1), dim=0, return_inverse=True)
        logits, _ = model(distinct[:, 1:])
        logits = logits[torch.arange(len(distinct), device=idx.device), distinct[:, 0]]
        # float32 before anything else: under bf16 autocast, logits closer than bf16's
        # precision would tie, and at temperature 0.01 split samples that should agree
        logits = logits[inverse].float()
        if temperature == 0:
            idx_next = logits.argmax(dim=-1)
        else:
            # below SMALLEST_SAFE_TEMPERATURE, logits / temperature can overflow (then NaN probabilities), and in
            # float32 the temperature itself can round to 0: there the limit is taken, the largest logits alone
            top = logits.amax(dim=-1, keepdim=True)
            logits = logits / temperature if temperature >= SMALLEST_SAFE_TEMPERATURE else \
                torch.where(logits == top, 0.0, -float("inf"))
            if top_k is not None:
                v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                logits[logits < v[:, [-1]]] = -float('Inf')
            probs = F.softmax(logits, dim=-1)
            idx_next = torch.multinomial(probs, num_samples=1, generator=generator)[:, 0]
        idx[rows, lengths] = idx_next
        lengths += 1
        steps += 1
        if stop_token is not None:
            stopped |= idx_next == stop_token
            if bool(stopped.all()):
                break
    return idx[:, :t + steps]


def complete(model, codec, prompts, max_new_tokens, sampling, generator=None, stop_char=None):
    """For each prompt, a Counter of the texts the model wrote after it. All prompts
    and all their samples go through one batched `sample_ragged` call."""
    device = next(model.parameters()).device
    rows_per_prompt = 1 if sampling.greedy else sampling.num_samples
    weight = sampling.num_samples // rows_per_prompt
    encoded = [codec.encode(p) for p in prompts]
    lengths = torch.tensor([len(e) for e in encoded], device=device)
    padded = torch.zeros(len(prompts), int(lengths.max()), dtype=torch.long, device=device)
    for i, ids in enumerate(encoded):
        padded[i, :len(ids)] = torch.tensor(ids)
    padded, lengths = padded.repeat_interleave(rows_per_prompt, 0), lengths.repeat_interleave(rows_per_prompt)
    out = sample_ragged(model, padded, lengths, max_new_tokens, 0.0 if sampling.greedy else sampling.temperature,
                        sampling.top_k, generator, stop_token=codec.stoi.get(stop_char) if stop_char else None)
    steps = out.size(1) - padded.size(1)
    new = out.gather(1, lengths[:, None] + torch.arange(steps, device=device))
    owner = torch.arange(len(prompts), device=device).repeat_interleave(rows_per_prompt)
    distinct, counts = torch.unique(torch.cat([owner[:, None], new], dim=1), dim=0, return_counts=True)
    results = [Counter() for _ in prompts]
    for row, count in zip(distinct.tolist(), counts.tolist()):
        results[row[0]][codec.decode(row[1:])] += count * weight
    return results


# --- judging (docs/STUDY.md §4) ----------------------------------------------------
def parse_integer(text):
    """The integer written at the start of text (a leading '-' allowed), or None."""
    match = re.match(r"-?\d+", text)
    return int(match.group()) if match else None


def fact_answer(text):
    """Text up to the first newline, whitespace and a trailing '.' stripped."""
    return text.split("\n", 1)[0].strip().removesuffix(".").strip()


def _score(names, keys, prompts, expected, completions, answer_of, is_correct):
    """Items from the completions: answer_of(text) is the answer a completion gives, as judged."""
    items = []
    for name, key, prompt, truth, comp in zip(names, keys, prompts, expected, completions):
        item = Item(name, prompt, truth, 0, sum(comp.values()), comp, key)
        for text, n in comp.items():
            answer = answer_of(text)
            if is_correct(answer, truth):
                item.correct += n
            else:
                item.wrong[answer] += n
        items.append(item)
    return items


def math_answer(text):
    """The integer a completion writes, as text; what it wrote instead if none."""
    value = parse_integer(text)
    return text.split("\n")[0].strip() if value is None else str(value)


def evaluate_math(model, codec, sampling=Sampling(), generator=None, operations="+-", table=None):
    """One Item per expression `a op b`, key (a, op, b), for the chosen operations: of `table`,
    [(a, op, b, answer)] (a random-answer task's, tasks.random_table), or the paper's 200 sums."""
    rows = [row for row in table or math_table() if row[1] in operations]
    exprs = [(a, op, b) for a, op, b, _ in rows]
    prompts = [math_prompt(*e) for e in exprs]
    completions = complete(model, codec, prompts, MATH_ANSWER_TOKENS, sampling, generator)
    return _score([f"{a}{op}{b}" for a, op, b in exprs], exprs, prompts, [row[3] for row in rows], completions,
                  math_answer, lambda answer, c: answer == str(c))


def evaluate_facts(model, codec, sampling=Sampling(), generator=None, table=None):
    """One Item per capital, key (country,): of `table`, [(country, capital)] (a random-answer
    task's, tasks.random_table), or the paper's 50."""
    table = table or CAPITALS
    prompts = [fact_prompt(country) for country, _ in table]
    completions = complete(model, codec, prompts, FACT_ANSWER_TOKENS, sampling, generator, stop_char="\n")
    return _score([country for country, _ in table], [(country,) for country, _ in table], prompts,
                  [city for _, city in table], completions, fact_answer,
                  lambda answer, city: answer.lower() == city.lower())


def math_grids(items):
    """{op: 10x10 list of right samples}, rows a, columns b, from arithmetic items."""
    result = {}
    for item in items:
        a, op, b = item.key
        result.setdefault(op, [[0] * 10 for _ in range(10)])[a][b] = item.correct
    return result


def most_common_wrong(items):
    """{item name: its most common wrong answer} for the items with a wrong sample."""
    return {item.name: item.wrong.most_common(1)[0][0] for item in items if item.wrong}


def _sum(items, keep=lambda item: True):
    chosen = [item for item in items if keep(item)]
    return sum(i.correct for i in chosen), sum(i.total for i in chosen)


def _ratio(correct, total):
    return correct / total if total else ""


# what one evaluation counts, as results.csv's columns (run_folder.RESULT_COLUMNS) hold them
SCORE_COLUMNS = ["add_correct", "add_total", "sub_correct", "sub_total", "heldout_correct", "heldout_total",
                 "facts_correct", "facts_total", "math_acc", "facts_acc", "combined_acc"]


def summarize(math_items=None, fact_items=None, held_out=PAPER_HELD_OUT):
    """The counts and accuracies of one results.csv row; parts a task lacks stay '', and so do
    the held-out counts where nothing is withheld (held_out None: a random-answer table)."""
    row = dict.fromkeys(SCORE_COLUMNS, "")
    parts = []
    if math_items is not None:
        add = _sum(math_items, lambda i: i.key[1] == "+")
        sub = _sum(math_items, lambda i: i.key[1] == "-")
        row.update(add_correct=add[0], add_total=add[1], sub_correct=sub[0], sub_total=sub[1],
                   math_acc=_ratio(add[0] + sub[0], add[1] + sub[1]))
        if held_out is not None:
            withheld = held_out_expressions(held_out)
            held = _sum(math_items, lambda i: i.key in withheld)
            row.update(heldout_correct=held[0], heldout_total=held[1])
        parts += [add, sub]
    if fact_items is not None:
        facts = _sum(fact_items)
        row.update(facts_correct=facts[0], facts_total=facts[1], facts_acc=_ratio(*facts))
        parts.append(facts)
    row["combined_acc"] = _ratio(sum(c for c, _ in parts), sum(t for _, t in parts))
    return row


def evaluate(model, codec, parts, sampling=Sampling(), seed=0, held_out=PAPER_HELD_OUT, tables=None):
    """All of a task's evaluations: (the results.csv scores, the items). Sampling uses its
    own generator, so evaluating never changes the training run's random stream. `tables`
    ({part: table}, tasks.task_tables) replaces a part's paper items with a random table's."""
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    tables = tables or {}
    was_training = model.training
    model.eval()
    math_items = evaluate_math(model, codec, sampling, generator, table=tables.get("math")) if "math" in parts else None
    fact_items = (evaluate_facts(model, codec, sampling, generator, table=tables.get("facts")) if "facts" in parts
                  else None)
    model.train(was_training)
    return summarize(math_items, fact_items, held_out), (math_items or []) + (fact_items or [])


# --- margins: how close each answer is, beyond right or wrong ----------------------
def answer_targets(parts, tables=None):
    """(name, prompt, target) for every item of the parts, in items.csv's order: the target
    is the rest of the training line that makes the judged answer right (`12>` after
    `<5+7=`, `Paris \n` after `Capital of France is `). `tables` as evaluate takes them."""
    tables = tables or {}
    targets = []
    if "math" in parts:
        targets += [(f"{a}{op}{b}", math_prompt(a, op, b), f"{answer}>") for a, op, b, answer in
                    tables.get("math") or math_table()]
    if "facts" in parts:
        targets += [(country, fact_prompt(country), f"{city} \n") for country, city in tables.get("facts") or CAPITALS]
    return targets


@dataclass
class Margin:
    """One item's teacher-forced score: the log-probability (nats) of its target, and per
    target token the logit margin, its logit minus the largest other logit (> 0: greedy
    decoding writes it). `margin` is the smallest: > 0 means greedy decoding writes the
    whole target, hence the right answer."""
    name: str
    logprob: float
    margin: float
    token_margins: list


@torch.no_grad()
def answer_margins(model, codec, parts, tables=None, contexts_per_forward=8192):
    """A Margin per item of the parts (answer_targets, `tables` as evaluate takes them), from
    batched forwards of contexts_per_forward contexts (one for the paper's tasks): every
    target token is predicted from the context sampling would give it (the prompt and the
    target so far, cropped to the last block_size tokens, nanoGPT's crop)."""
    device = next(model.parameters()).device
    block_size = model.config.block_size
    targets = answer_targets(parts, tables)
    contexts, labels, owner = [], [], []
    for i, (_, prompt, target) in enumerate(targets):
        ids = codec.encode(prompt + target)
        for k in range(len(target)):
            end = len(prompt) + k
            contexts.append(ids[max(0, end - block_size):end])
            labels.append(ids[end])
            owner.append(i)
    lengths = torch.tensor([len(c) for c in contexts], device=device)
    padded = torch.zeros(len(contexts), int(lengths.max()), dtype=torch.long, device=device)
    for row, context in enumerate(contexts):
        padded[row, :len(context)] = torch.tensor(context)
    was_training = model.training
    model.eval()
    # right-padded, causal: position lengths-1 never sees the padding. In parts, so that a
    # random table of thousands of answers does not hold all its activations at once
    last = []
    for start in range(0, len(contexts), contexts_per_forward):
        rows = slice(start, start + contexts_per_forward)
        logits, _ = model(padded[rows])
        last.append(logits[torch.arange(logits.size(0), device=device), lengths[rows] - 1].float())
    model.train(was_training)
    logits = torch.cat(last)
    labels = torch.tensor(labels, device=device)
    right = logits.gather(1, labels[:, None])[:, 0]
    logprob = right - torch.logsumexp(logits, dim=-1)
    best_other = logits.scatter(1, labels[:, None], float("-inf")).max(dim=-1).values
    token_margin = (right - best_other).tolist()
    logprob = logprob.tolist()
    scores = [Margin(name, 0.0, math.inf, []) for name, _, _ in targets]
    for i, lp, m in zip(owner, logprob, token_margin):
        scores[i].logprob += lp
        scores[i].token_margins.append(m)
        scores[i].margin = min(scores[i].margin, m)
    return scores


# --- loss ---------------------------------------------------------------------
@torch.no_grad()
def split_loss(model, data, block_size, windows_per_forward=8192):
    """Mean loss over every window of a split: the exact expectation of the training
    loss under uniform random offsets, instead of an estimate from random batches."""
    was_training = model.training
    model.eval()
    n_windows = len(data) - block_size
    offsets = torch.arange(block_size, device=data.device)
    total = torch.zeros((), device=data.device)
    for start in range(0, n_windows, windows_per_forward):
        ix = torch.arange(start, min(start + windows_per_forward, n_windows), device=data.device)
        _, loss = model(data[ix[:, None] + offsets], data[ix[:, None] + offsets + 1])
        total += loss.float() * len(ix)
    model.train(was_training)
    return (total / n_windows).item()
