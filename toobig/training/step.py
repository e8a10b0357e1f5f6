"""
The pieces of a training run that train_with_eval.py, toobig/training/stacked.py and tools/bench.py
share: the learning-rate schedule, the batches, the data, the step, the random
state a checkpoint keeps, and the Recorder that evaluates a model and writes
the evaluation to its run folder.
"""
import math
import platform
import sys
from dataclasses import asdict

import torch

from configurator import ConfigError
from toobig.core import reproducible
from toobig.core.devices import autocast, device_name
from toobig.runs.run_folder import RunError
from toobig.study.evaluation import (
    Sampling,
    answer_margins,
    evaluate,
    most_common_wrong,
    split_loss,
)
from toobig.study.tasks import (
    PAPER_HELD_OUT,
    RANDOM_TASKS,
    get_task,
    held_out_label,
    task_codec,
    task_tables,
    task_text,
    text_sha256,
)


class TrainingDiverged(RunError):
    pass


def check_finite(loss, iter_num, run_path):
    """Raise TrainingDiverged if `loss` (a float) is NaN or infinite: the one message for it."""
    if not math.isfinite(loss):
        raise TrainingDiverged(f"training diverged: loss is {loss} at iteration {iter_num}; "
                               f"{run_path}/results.csv keeps the rows so far")


def get_lr(it, c):
    """Linear warm-up, cosine decay to min_lr at lr_decay_iters, then min_lr (nanoGPT)."""
    if not c["decay_lr"]:
        return c["learning_rate"]
    if it < c["warmup_iters"]:
        return c["learning_rate"] * (it + 1) / (c["warmup_iters"] + 1)
    if it > c["lr_decay_iters"]:
        return c["min_lr"]
    decay_ratio = (it - c["warmup_iters"]) / (c["lr_decay_iters"] - c["warmup_iters"])
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
    return c["min_lr"] + coeff * (c["learning_rate"] - c["min_lr"])


def set_lr(optimizer, lr):
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


def evaluation_due(iter_num, c):
    """Every eval_interval iterations, iteration 0 included, and at max_iters."""
    return iter_num % c["eval_interval"] == 0 or iter_num == c["max_iters"]


def draw_starts(data, block_size, batch_size, generator):
    """The batch's window offsets, uniform: (batch_size, 1). Both steps draw their batches here."""
    return torch.randint(len(data) - block_size, (batch_size, 1), device=data.device, generator=generator)


def get_batch(data, block_size, batch_size, generator):
    """Random windows of block_size+1 tokens at uniform offsets; targets shifted by one."""
    ix = draw_starts(data, block_size, batch_size, generator)
    offsets = torch.arange(block_size, device=data.device)
    return data[ix + offsets], data[ix + offsets + 1]


def load_data(dataset, device, held_out=PAPER_HELD_OUT, table_size=0, table_seed=0):
    """The task's token stream and tokenizer, built from toobig/study/tasks.py's text: never from files
    on disk, which could be stale. The study's val split is its train split (docs/STUDY.md §1).
    A random-answer task's text is its table (table_size, table_seed: tasks.random_table)."""
    text = task_text(dataset, held_out, table_size, table_seed)
    codec = task_codec(dataset, text)
    return torch.tensor(codec.encode(text), dtype=torch.long, device=device), codec


def new_model(config, vocab_size, device):
    """The run's GPT at initialization: nanoGPT's init (seeded by the caller), every weight times
    init_scale (Liu et al. 2023, Omnigrok: the weight norm at initialization decides grokking), and
    with weight_norm, rescaled to that norm (hold_norm)."""
    from model import GPT, GPTConfig
    model = GPT(GPTConfig(**model_args_from(config, vocab_size))).to(device)
    if config["init_scale"] != 1.0:
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(config["init_scale"])
    if config["weight_norm"]:
        hold_norm(list(model.parameters()), config["weight_norm"])
    return model


def hold_norm(params, norm):
    """Rescale `params` together to an L2 norm of `norm`, in place: the weight norm held fixed
    after every step, as Liu et al. 2023 (Omnigrok, §3) test whether the norm decides grokking.
    Both steps call it on the same tensors (the fused step's parameters are views of its buffer)."""
    with torch.no_grad():  # the squares summed in float64, tensor by tensor: the scale rounds alike everywhere
        total = math.sqrt(sum(float(p.detach().double().square().sum()) for p in params))
        torch._foreach_mul_(params, norm / total)


def weight_norms(model):
    """{'total': the parameters' L2 norm, and each parameter's}: logged at every evaluation."""
    norms = {name: p.detach().float().norm().item() for name, p in model.named_parameters()}
    return {"total": float(sum(n * n for n in norms.values()) ** 0.5), **norms}


def model_args_from(config, vocab_size):
    keys = ("n_layer", "n_head", "n_embd", "block_size", "bias", "dropout", "mlp_expansion")
    return {**{k: config[k] for k in keys}, "vocab_size": vocab_size}


def rng_state(generator, device):
    state = {"batches": generator.get_state(), "torch": torch.get_rng_state(), "device": device.split(":")[0]}
    if device.startswith("cuda"):
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng_state(state, generator, device):
    """Continue the random streams a checkpoint saved. A batch generator's state belongs to the
    kind of device that drew it (a CUDA state is not a CPU one): a run is resumed on the kind
    of device it was trained on, or its batches would not be the ones it was configured with."""
    saved_on = state.get("device", "cuda" if "cuda" in state else "cpu")  # checkpoints before "device": cuda or cpu
    if saved_on != device.split(":")[0] or state["batches"].numel() != generator.get_state().numel():
        raise RunError(f"this run was trained on {saved_on} and cannot be resumed on {device}: its batch "
                       f"generator's state is {saved_on}'s; resume it with --device={saved_on}, or train it again "
                       f"from scratch (--init_from=scratch --overwrite)")
    generator.set_state(state["batches"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def train_step(loss_of, params, optimizer, X, Y, ctx, grad_clip, clip=torch.nn.utils.clip_grad_norm_):
    """One optimizer step on the batch (X, Y); returns the loss (a stack: its K losses)."""
    with ctx:
        loss = loss_of(X, Y)
    loss.sum().backward()  # a stack's losses: model k's parameters get only model k's gradient
    if grad_clip != 0.0:
        clip(params, grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss


def describe(row, held_out=PAPER_HELD_OUT):
    """An evaluation in one line: `add 1000/1000 sub 998/1000 (5,7) 40/40 samples, facts 12/500 samples`
    (right samples of all drawn: eval_samples per item, so 500 for the 50 facts)."""
    note = []
    if row["add_total"] != "":  # arithmetic; a one-operation table has samples of one of the two
        sums = " ".join(f"{op} {row[f'{op}_correct']}/{row[f'{op}_total']}" for op in ("add", "sub")
                        if row[f"{op}_total"])
        held = (f" {held_out_label(held_out)} {row['heldout_correct']}/{row['heldout_total']}"
                if row["heldout_total"] != "" else "")  # a random-answer table withholds nothing
        note.append(f"{sums}{held} samples")
    if row["facts_total"]:
        note.append(f"facts {row['facts_correct']}/{row['facts_total']} samples")
    return ", ".join(note)


def choose_step(config, model, optimizer, data, device, world_size=1):
    """The fused C++ step (toobig/training/fused_step.py) where it covers the run and config["step"] allows it,
    else None: the torch step. With step='fused' a run it cannot take is a ConfigError; with
    'auto' the torch step takes over, with a one-line notice where the fused one cannot build."""
    from toobig.training.fused_step import FusedStep, FusedStepUnavailable, uncovered
    if config["step"] == "torch":
        return None
    reason = uncovered(config, device, world_size)
    if reason and config["step"] == "fused":
        raise ConfigError(f"step='fused' does not cover this run ({reason}); use --step=auto or --step=torch")
    if reason:
        return None
    try:
        return FusedStep(model, optimizer, config, data)
    except FusedStepUnavailable as e:
        if config["step"] == "fused":
            raise RunError(f"step='fused': {e}") from None
        print(f"notice: the fused step cannot run here ({e}); training with the torch step", file=sys.stderr)
        return None


def torch_step_info(config):
    return {"kind": "torch", "compile": config["compile"], "compile_mode": config["compile_mode"]}


class Recorder:
    """Evaluates one run's model and writes the evaluation to its run folder (toobig/runs/run_folder.py):
    the exact loss, the task's sampled evaluation, each item's margin, the checkpoint and
    run.json. `record` is called at every evaluation with the plain GPT (not a compiled or
    DDP wrapper)."""

    def __init__(self, config, data, codec, device, run, world_size=1, step_info=None):
        self.config, self.data, self.codec, self.device, self.run = config, data, codec, device, run
        self.world_size = world_size
        self.step_info = step_info or torch_step_info(config)  # run.json: which step trained it
        self.parts = get_task(config["dataset"]).parts
        # a random-answer task is evaluated on its table and withholds nothing (tasks.RANDOM_TASKS)
        self.tables = task_tables(config["dataset"], config["table_size"], config["table_seed"])
        self.held_out = None if config["dataset"] in RANDOM_TASKS else config["held_out"]
        self.sampling = Sampling(config["eval_samples"], config["eval_temperature"], config["eval_top_k"],
                                 config["eval_greedy"])
        self.sha256 = text_sha256(codec.decode(data.tolist()))

    def record(self, model, optimizer, iter_num, lr, rng_states, elapsed):
        """Evaluate `model` at iter_num and write it down; returns the results.csv row."""
        c = self.config
        with autocast(self.device, c["dtype"]):
            loss = split_loss(model, self.data, c["block_size"])
            check_finite(loss, iter_num, self.run.path)  # before sampling, which NaN probabilities would break
            # seeded by the iteration, so that a resumed run re-evaluates identically
            scores, items = evaluate(model, self.codec, self.parts, self.sampling, seed=c["seed"] + iter_num,
                                     held_out=self.held_out, tables=self.tables)
            margins = answer_margins(model, self.codec, self.parts, self.tables)
        # the val split is the train split (docs/STUDY.md §1): one loss, in both columns
        row = {"iter": iter_num, "train_loss": loss, "val_loss": loss, "lr": lr, **scores,
               "elapsed_s": round(elapsed, 2)}
        checkpoint = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                      "model_args": asdict(model.config), "iter_num": iter_num, "config": c, "stoi": self.codec.stoi,
                      "elapsed_s": elapsed, "rng": rng_states, "world_size": self.world_size,
                      "train_text_sha256": self.sha256}
        info = {"config": c, "n_params": model.get_num_params(), "device": self.device,
                "device_name": device_name(self.device), "world_size": self.world_size, **reproducible.cpu_record(),
                "train_text_sha256": self.sha256, "torch": torch.__version__, "python": platform.python_version(),
                "step": self.step_info, "iter_num": iter_num, "wall_time_s": round(elapsed, 2),
                "finished": iter_num >= c["max_iters"]}
        self.run.record(row, checkpoint, info, {item.name: item.correct for item in items}, most_common_wrong(items),
                        margins, weight_norms(model), c["keep_evals"])
        return row
