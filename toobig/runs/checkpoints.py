"""
The one checkpoint loader, for every tool and for resume: a nanoGPT-format file
is read and checked whole before anything uses it, so that a foreign,
truncated, compiled or mismatched file is a one-line CheckpointError, never a
traceback from deep inside torch.

    checkpoint = load_checkpoint("out/math_mini_14/ckpt.pt", RESUME_KEYS)
    model, codec, checkpoint = load_model("results/math_mini_14/model_best.pt")
    model, codec, checkpoint = load_paper_model(path)  # the same, refusing a random-answer run
"""
from dataclasses import fields
from pathlib import Path

import torch

from model import GPT, GPTConfig
from toobig.study.tasks import TASKS, CharCodec, check_paper_task, task_text
from toobig.study.training_config import saved_config

MODEL_KEYS = ("model", "model_args")  # what any tool needs; nanoGPT's own checkpoints have these
RESUME_KEYS = (*MODEL_KEYS, "optimizer", "config", "iter_num", "rng", "elapsed_s", "best")  # what training needs


class CheckpointError(ValueError):
    """A file that is not a usable checkpoint; the CLIs print it as one line."""


def load_checkpoint(path, needs=MODEL_KEYS):
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
        kind = "nanoGPT checkpoint" if set(needs) <= set(MODEL_KEYS) else "training checkpoint of this repository"
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
    built from toobig/study/tasks.py; its size must be the model's vocabulary."""
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


def load_model(path, device="cpu", needs=MODEL_KEYS):
    """(the trained GPT in eval mode on `device`, its tokenizer, the checkpoint dict)."""
    checkpoint = load_checkpoint(path, needs)
    model = GPT(GPTConfig(**checkpoint["model_args"]))
    model.load_state_dict(checkpoint["model"])
    return model.to(device).eval(), checkpoint["codec"], checkpoint


def load_paper_model(path, device="cpu", needs=MODEL_KEYS):
    """load_model for the tools that score the paper's items (the held-out sums, the capitals):
    raises ValueError (tasks.check_paper_task) for a run of a random-answer task, which shares the
    paper's vocabulary."""
    model, codec, checkpoint = load_model(path, device, needs)
    check_paper_task(saved_config(checkpoint)["dataset"], str(path))
    return model, codec, checkpoint
