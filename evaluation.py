"""
The one evaluation module (SPEC §4), used by training and by every CLI.

Every prompt of a task goes through one batched generation: all prompts, of any
length, and all their samples share one `generate` call.
Identical completions are decoded and judged once (at temperature 0.01 nearly
all ten samples of a prompt agree), so Python only ever loops over distinct
answers, never over samples.
"""
import re
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch

from model import GPT, GPTConfig
from tasks import (CAPITALS, DATA_DIR, FACT_ANSWER_TOKENS, HELD_OUT, MATH_ANSWER_TOKENS, OPERATIONS,
                   CharCodec, fact_prompt, load_codec, math_expressions, math_prompt)

RESULT_COLUMNS = [
    "iter", "train_loss", "val_loss", "lr",
    "add_correct", "add_total", "sub_correct", "sub_total", "heldout_correct", "heldout_total",
    "facts_correct", "facts_total", "math_acc", "facts_acc", "combined_acc", "elapsed_s",
]


@dataclass
class Sampling:
    num_samples: int = 10
    temperature: float = 0.01
    top_k: int = 10
    greedy: bool = False  # argmax decoding; every sample of a prompt is then the same


@dataclass
class Item:
    """One prompt's score: `correct` of `total` samples, and what the model wrote."""
    prompt: str
    expected: object
    correct: int
    total: int
    completions: Counter = field(default_factory=Counter)
    key: tuple = ()


# --- devices ------------------------------------------------------------------
def pick_device(requested="auto"):
    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def autocast(device, dtype="auto"):
    """bf16 autocast on CUDA (the paper's setting), plain float32 elsewhere."""
    device_type = device.split(":")[0]
    if dtype == "auto":
        dtype = "bfloat16" if device_type == "cuda" and torch.cuda.is_bf16_supported() else "float32"
    if dtype == "float32":
        return nullcontext()
    return torch.autocast(device_type=device_type, dtype=getattr(torch, dtype))


# --- generation ---------------------------------------------------------------
def complete(model, codec, prompts, max_new_tokens, sampling, generator=None, stop_char=None):
    """For each prompt, a Counter of the texts the model wrote after it. All prompts
    and all their samples go through one batched `generate` call."""
    device = next(model.parameters()).device
    rows_per_prompt = 1 if sampling.greedy else sampling.num_samples
    weight = sampling.num_samples // rows_per_prompt
    encoded = [codec.encode(p) for p in prompts]
    lengths = torch.tensor([len(e) for e in encoded], device=device)
    padded = torch.zeros(len(prompts), int(lengths.max()), dtype=torch.long, device=device)
    for i, ids in enumerate(encoded):
        padded[i, :len(ids)] = torch.tensor(ids)
    padded, lengths = padded.repeat_interleave(rows_per_prompt, 0), lengths.repeat_interleave(rows_per_prompt)
    out = model.generate(padded, max_new_tokens, temperature=0.0 if sampling.greedy else sampling.temperature,
                         top_k=sampling.top_k, generator=generator, lengths=lengths,
                         stop_token=codec.stoi.get(stop_char) if stop_char else None)
    steps = out.size(1) - padded.size(1)
    new = out.gather(1, lengths[:, None] + torch.arange(steps, device=device))
    owner = torch.arange(len(prompts), device=device).repeat_interleave(rows_per_prompt)
    distinct, counts = torch.unique(torch.cat([owner[:, None], new], dim=1), dim=0, return_counts=True)
    results = [Counter() for _ in prompts]
    for row, count in zip(distinct.tolist(), counts.tolist()):
        results[row[0]][codec.decode(row[1:])] += count * weight
    return results


# --- judging (SPEC §4) --------------------------------------------------------
def parse_integer(text):
    """The integer written at the start of text (a leading '-' allowed), or None."""
    match = re.match(r"-?\d+", text)
    return int(match.group()) if match else None


def fact_answer(text):
    """Text up to the first newline, whitespace and a trailing '.' stripped."""
    return text.split("\n", 1)[0].strip().removesuffix(".").strip()


def fact_is_correct(text, city):
    return fact_answer(text).lower() == city.lower()


def _score(prompts, expected, completions, is_correct, keys):
    items = []
    for prompt, truth, comp, key in zip(prompts, expected, completions, keys):
        correct = sum(n for text, n in comp.items() if is_correct(text, truth))
        items.append(Item(prompt, truth, correct, sum(comp.values()), comp, key))
    return items


def evaluate_math(model, codec, sampling=Sampling(), generator=None, operations="+-"):
    """One Item per expression `a op b`, key (a, op, b), for the chosen operations."""
    exprs = [e for e in math_expressions() if e[1] in operations]
    prompts = [math_prompt(*e) for e in exprs]
    expected = [OPERATIONS[op](a, b) for a, op, b in exprs]
    completions = complete(model, codec, prompts, MATH_ANSWER_TOKENS, sampling, generator)
    return _score(prompts, expected, completions, lambda text, c: parse_integer(text) == c, exprs)


def evaluate_facts(model, codec, sampling=Sampling(), generator=None):
    """One Item per capital, key (country,)."""
    prompts = [fact_prompt(country) for country, _ in CAPITALS]
    completions = complete(model, codec, prompts, FACT_ANSWER_TOKENS, sampling, generator, stop_char="\n")
    return _score(prompts, [city for _, city in CAPITALS], completions, fact_is_correct,
                  [(country,) for country, _ in CAPITALS])


def _sum(items, keep=lambda item: True):
    chosen = [item for item in items if keep(item)]
    return sum(i.correct for i in chosen), sum(i.total for i in chosen)


def _ratio(correct, total):
    return correct / total if total else ""


def summarize(math_items=None, fact_items=None):
    """The counts and accuracies of one results.csv row; parts a task lacks stay ''."""
    row = dict.fromkeys(RESULT_COLUMNS[4:-1], "")
    parts = []
    if math_items is not None:
        add = _sum(math_items, lambda i: i.key[1] == "+")
        sub = _sum(math_items, lambda i: i.key[1] == "-")
        held = _sum(math_items, lambda i: i.key in HELD_OUT)
        row.update(add_correct=add[0], add_total=add[1], sub_correct=sub[0], sub_total=sub[1],
                   heldout_correct=held[0], heldout_total=held[1],
                   math_acc=_ratio(add[0] + sub[0], add[1] + sub[1]))
        parts += [add, sub]
    if fact_items is not None:
        facts = _sum(fact_items)
        row.update(facts_correct=facts[0], facts_total=facts[1], facts_acc=_ratio(*facts))
        parts.append(facts)
    row["combined_acc"] = _ratio(sum(c for c, _ in parts), sum(t for _, t in parts))
    return row


def evaluate(model, codec, parts, sampling=Sampling(), seed=0):
    """All of a task's evaluations; sampling uses its own generator, so evaluating
    never changes the training run's random stream."""
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    was_training = model.training
    model.eval()
    math_items = evaluate_math(model, codec, sampling, generator) if "math" in parts else None
    fact_items = evaluate_facts(model, codec, sampling, generator) if "facts" in parts else None
    model.train(was_training)
    return summarize(math_items, fact_items)


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


# --- checkpoints --------------------------------------------------------------
class CheckpointError(ValueError):
    pass


def load_model(path, device="cpu"):
    """A trained GPT and its tokenizer from a nanoGPT-format checkpoint."""
    path = Path(path)
    if not path.parent.is_dir():
        raise CheckpointError(f"run folder {str(path.parent)!r} does not exist")
    if not path.is_file():
        present = sorted(p.name for p in path.parent.glob("*.pt"))
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist"
                              + (f"; the folder has {', '.join(present)}" if present else ""))
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=False)
    except Exception as e:
        raise CheckpointError(f"{str(path)!r} is not a readable checkpoint ({type(e).__name__})") from None
    if not isinstance(checkpoint, dict) or not {"model", "model_args"} <= set(checkpoint):
        raise CheckpointError(f"{str(path)!r} is not a nanoGPT checkpoint (no 'model' and 'model_args')")
    model = GPT(GPTConfig(**checkpoint["model_args"]))
    # torch.compile prefixes parameter names; strip it as nanoGPT's sample.py does
    state = {k.removeprefix("_orig_mod."): v for k, v in checkpoint["model"].items()}
    model.load_state_dict(state)
    model.to(device).eval()
    if "stoi" in checkpoint:
        codec = CharCodec(checkpoint["stoi"])
    else:  # a plain nanoGPT checkpoint: the tokenizer is its dataset's meta.pkl
        dataset = checkpoint.get("config", {}).get("dataset")
        if dataset is None or not (DATA_DIR / dataset / "meta.pkl").exists():
            raise CheckpointError(f"{str(path)!r} has no vocabulary and no prepared dataset to take it from")
        codec = load_codec(dataset)
    return model, codec, checkpoint


# --- what the evaluation CLIs share -----------------------------------------------
CLI_DEFAULTS = dict(
    out_dir="out/math_mini_14",
    ckpt="ckpt.pt",     # file inside out_dir: ckpt.pt, ckpt_best_math.pt, ckpt_best_facts.pt, ...
    greedy=False,       # argmax decoding instead of SPEC §4's sampling
    num_samples=10,
    temperature=0.01,
    top_k=10,
    seed=1337,
    json=False,         # print one JSON object instead of tables
    device="auto",
)


def run_cli_evaluation(config, evaluate_items):
    """Load --out_dir/--ckpt and run evaluate_items(model, codec, sampling, generator);
    bad input ends the program with a one-line error."""
    from configurator import exit_with_error
    if config["num_samples"] < 1 or config["top_k"] < 1:
        exit_with_error(f"--num_samples and --top_k must be at least 1 (got {config['num_samples']}, "
                        f"{config['top_k']})")
    device = pick_device(config["device"])
    sampling = Sampling(config["num_samples"], config["temperature"], config["top_k"], config["greedy"])
    try:
        model, codec, checkpoint = load_model(Path(config["out_dir"]) / config["ckpt"], device)
        with autocast(device):
            items = evaluate_items(model, codec, sampling, torch.Generator(device=device).manual_seed(config["seed"]))
    except (CheckpointError, ValueError) as e:
        exit_with_error(e)
    header = {"checkpoint": str(Path(config["out_dir"]) / config["ckpt"]), "iter": checkpoint.get("iter_num"),
              "sampling": "greedy" if sampling.greedy else
              f"{sampling.num_samples} samples, temperature {sampling.temperature}, top_k {sampling.top_k}"}
    return items, header
