"""
The one checkpoint loader, for every tool and for resume: a nanoGPT-format file
is read and checked whole before anything uses it, so that a foreign,
truncated, compiled or mismatched file is a one-line CheckpointError, never a
traceback from deep inside torch.

    checkpoint = load_checkpoint("out/math_mini_14/ckpt.pt", RESUME_KEYS)
    model, codec, checkpoint = load_model("results/math_mini_14/model_best.pt")

It also scores a checkpoint as training scored it (evaluate_checkpoint), for the
evaluation CLIs.
"""
import reproducible  # first, before torch: the CPU kernels every run uses (reproducible.py)
from dataclasses import fields
from pathlib import Path

import torch

from devices import autocast, pick_device
from evaluation import Sampling, evaluate
from model import GPT, GPTConfig
from runs import find_run_folder
from tasks import TASKS, CharCodec, check_sampling, task_text
from training_config import saved_config

WEIGHT_KEYS = ("model", "model_args")  # what any tool needs; nanoGPT's own checkpoints have these
RESUME_KEYS = (*WEIGHT_KEYS, "optimizer", "config", "iter_num", "rng", "elapsed_s", "best")  # what training needs


class CheckpointError(ValueError):
    """A file that is not a usable checkpoint; the CLIs print it as one line."""


def load_checkpoint(path, needs=WEIGHT_KEYS):
    """The checkpoint at `path` as a dict, on the CPU, checked: readable, with the keys
    `needs`, model_args that GPTConfig takes, a vocabulary (its stoi, else its task's)
    of model_args' vocab_size, and a state dict that fits the model. torch.compile's
    `_orig_mod.` prefix is taken off the parameter names. Adds 'codec' (the tokenizer).
    Raises CheckpointError naming the file and what is wrong."""
    path = Path(path)
    if not path.parent.is_dir():
        what = "is a file, not a folder" if path.parent.exists() else "does not exist"
        raise CheckpointError(f"run folder {str(path.parent)!r} {what}")
    if not path.is_file():
        present = sorted(p.name for p in path.parent.glob("*.pt"))
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist"
                              + (f"; the folder has {', '.join(present)}" if present else ""))
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # a truncated or foreign file: say so in one line
        raise CheckpointError(f"{str(path)!r} is not a readable checkpoint ({type(e).__name__})") from None
    if not isinstance(checkpoint, dict) or not set(needs) <= set(checkpoint):
        missing = sorted(set(needs) - set(checkpoint)) if isinstance(checkpoint, dict) else list(needs)
        kind = "nanoGPT checkpoint" if set(needs) <= set(WEIGHT_KEYS) else "training checkpoint of this repository"
        raise CheckpointError(f"{str(path)!r} is not a {kind} (it lacks {', '.join(missing)})")
    args = checkpoint["model_args"]
    known = {f.name for f in fields(GPTConfig)}
    if not isinstance(args, dict) or not set(args) <= known:
        raise CheckpointError(f"{str(path)!r}: model_args {args!r} are not GPTConfig's ({', '.join(sorted(known))})")
    checkpoint["model"] = {k.removeprefix("_orig_mod."): v for k, v in checkpoint["model"].items()}
    checkpoint["codec"] = codec_of(checkpoint, path)
    try:  # shapes and names against the model the args describe, on the meta device (no memory)
        with torch.device("meta"):
            GPT(GPTConfig(**args)).load_state_dict(checkpoint["model"], assign=True)
    except (RuntimeError, TypeError, ValueError) as e:
        raise CheckpointError(f"{str(path)!r}: its weights do not fit its model_args "
                              f"({str(e).splitlines()[0][:200]})") from None
    return checkpoint


def codec_of(checkpoint, path):
    """The checkpoint's tokenizer: its stoi, or for a plain nanoGPT checkpoint its task's,
    built from tasks.py; its size must be the model's vocabulary."""
    if "stoi" in checkpoint:
        codec = CharCodec(checkpoint["stoi"])
    else:
        dataset = (checkpoint.get("config") or {}).get("dataset")
        if dataset not in TASKS:
            raise CheckpointError(f"{str(path)!r} has no vocabulary (stoi) and names no task to take it from")
        codec = CharCodec.from_text(task_text(dataset))
    if codec.vocab_size != checkpoint["model_args"].get("vocab_size"):
        raise CheckpointError(f"{str(path)!r}: its vocabulary has {codec.vocab_size} characters but its model "
                              f"{checkpoint['model_args'].get('vocab_size')} (vocab_size)")
    return codec


def load_model(path, device="cpu", needs=WEIGHT_KEYS):
    """(the trained GPT in eval mode on `device`, its tokenizer, the checkpoint dict)."""
    checkpoint = load_checkpoint(path, needs)
    model = GPT(GPTConfig(**checkpoint["model_args"]))
    model.load_state_dict(checkpoint["model"])
    return model.to(device).eval(), checkpoint["codec"], checkpoint


# --- scoring a checkpoint: what the evaluation CLIs share -------------------------
CLI_DEFAULTS = dict(
    out_dir="out/math_mini_14",
    ckpt="ckpt.pt",     # file inside out_dir: ckpt.pt, ckpt_best_math.pt, ckpt_best_facts.pt, ...
    greedy=False,       # argmax decoding (also when the run's evaluation was greedy)
    num_samples=None,   # None: as the run's training evaluation sampled (eval_samples, ...)
    temperature=None,
    top_k=None,
    seed=None,          # None: the run's seed + the checkpoint's iteration, as training seeded it
    json=False,         # print one JSON object instead of tables
    device="auto",
)
PART_NAMES = {"math": "arithmetic", "facts": "facts"}


def check_sampling_options(config):
    """The sampling options a tool was given ({name: value or None}), checked before any file
    is read. Raises ValueError naming a bad one."""
    given = {"num_samples": config["num_samples"], "temperature": config["temperature"], "top_k": config["top_k"]}
    if config["seed"] is not None and (not isinstance(config["seed"], int) or isinstance(config["seed"], bool)):
        raise ValueError(f"--seed={config['seed']!r} must be an integer")
    defaults = Sampling()
    check_sampling(*(getattr(defaults, key) if value is None else value for key, value in given.items()),
                   names=("--num_samples", "--temperature", "--top_k"))
    return given


def sampling_as_trained(config, checkpoint):
    """(Sampling, seed, whether both are training's) for scoring a checkpoint: the run's own
    eval_* settings and its seed + iteration, each replaced by the option a tool was given.
    Raises ValueError naming a bad option."""
    run = saved_config(checkpoint)
    given = check_sampling_options(config)
    chosen = [run[key] if value is None else value
              for key, value in zip(("eval_samples", "eval_temperature", "eval_top_k"), given.values())]
    check_sampling(*chosen, names=("--num_samples", "--temperature", "--top_k"))
    sampling = Sampling(*chosen, config["greedy"] or run["eval_greedy"])
    seed = run["seed"] + checkpoint.get("iter_num", 0) if config["seed"] is None else config["seed"]
    as_trained = config["seed"] is None and all(value is None for value in given.values()) and not config["greedy"]
    return sampling, seed, as_trained


def evaluate_checkpoint(config, part):
    """Score --out_dir/--ckpt on `part` ('math' or 'facts') as training scored it at that
    evaluation: the run's sampling settings and seed (seed + iteration), and its whole
    task drawn in training's order (arithmetic before facts), so that the counts are the
    ones its results.csv recorded. An option given replaces the run's setting. Returns
    (the part's items, a header for the report); raises ValueError for a run without `part`."""
    check_sampling_options(config)
    device = pick_device(config["device"])
    path = find_run_folder(config["out_dir"]) / config["ckpt"]
    model, codec, checkpoint = load_model(path, device)
    run = saved_config(checkpoint)
    task = TASKS.get(run["dataset"])
    if task is not None and part not in task.parts:
        raise ValueError(f"{path} comes from a run on {run['dataset']} ({task.title.lower()}), "
                         f"which has no {PART_NAMES[part]} to score")
    sampling, seed, as_trained = sampling_as_trained(config, checkpoint)
    with autocast(device):
        _, items = evaluate(model, codec, task.parts if task else (part,), sampling, seed=seed, held_out=run["held_out"])
    header = {"checkpoint": str(path), "iter": checkpoint.get("iter_num"), "held_out": run["held_out"],
              "sampling": ("greedy" if sampling.greedy else f"{sampling.num_samples} samples, temperature "
                           f"{sampling.temperature}, top_k {sampling.top_k}") + f", seed {seed}"
              + (" (as training scored it)" if as_trained else "")}
    return [item for item in items if (len(item.key) == 3) == (part == "math")], header
