"""
Train K models of one shape in one process, their parameters stacked along a
leading axis: a seed sweep on one GPU. A model of 1-20k parameters leaves a GPU
nearly idle, and K separate processes would each pay for their own kernel
launches; here every step is one forward/backward of the K models together
(torch.func.vmap over the stacked parameters and the stacked (K, B, T) batches)
and one fused AdamW step for all of them.

    from toobig.training.stacked import train_stack
    train_stack([{**config, "seed": s, "out_dir": f"out/sweep/n14_s{s}"} for s in (1, 2, 3)], "cuda")

Each model is trained as its own train_with_eval.py run would train it: its
seed's init, its seed's batches, its own gradient clipping, the same AdamW and
learning-rate schedule, and at every evaluation the same results.csv row,
checkpoints and run.json, written by step.Recorder. With
dropout 0 and float32 the stacked runs match the single runs up to float
rounding (tests/training/test_stacked.py). On CPU this gains nothing over a process pool
of single runs, which is what tools/sweep.py uses there; stacking is for CUDA.

A stack always trains from scratch (it cannot resume mid-way; a sweep skips
finished runs and restarts the others). elapsed_s and wall_time_s are the
stack's time, shared by its K runs. torch.compile is not used.
"""
import time
from pathlib import Path

import torch
from torch.func import functional_call, stack_module_state, vmap
from tqdm import tqdm

from model import GPT, GPTConfig
from toobig.core.devices import autocast, configure_torch, pick_device
from toobig.runs.run_folder import RunFolder
from toobig.study.training_config import resolve, validate
from toobig.training.step import (
    Recorder,
    TrainingDiverged,
    check_finite,
    describe,
    evaluation_due,
    get_batch,
    get_lr,
    load_data,
    model_args_from,
    new_model,
    rng_state,
    set_lr,
    train_step,
)

PER_MODEL_KEYS = ("seed", "out_dir")  # everything else is one setting for the whole stack


def check_stackable(configs):
    """Raise ValueError unless the configs differ only in seed and out_dir."""
    if not configs:
        raise ValueError("no configs to stack")
    for key in dict.fromkeys(k for c in configs for k in c):
        values = [c.get(key) for c in configs]
        if key not in PER_MODEL_KEYS and any(v != values[0] for v in values):
            # AdamW takes weight decay per parameter group, and a stacked tensor holds all K models
            why = "; stack runs of one weight decay together" if key == "weight_decay" else ""
            raise ValueError(f"stacked configs may differ only in seed and out_dir, not in {key!r}: {values}{why}")
    out_dirs = [Path(c["out_dir"]).resolve() for c in configs]
    if len(set(out_dirs)) < len(out_dirs):
        raise ValueError("two stacked configs share an out_dir")
    if configs[0].get("weight_norm"):  # hold_norm rescales one model's tensors, not each model's slices
        raise ValueError(f"weight_norm={configs[0]['weight_norm']}: a stack does not hold each model's norm; train "
                         f"these runs one by one (the pool: --device=cpu)")
    if configs[0]["init_from"] != "scratch":
        raise ValueError("a stack trains from scratch; resume a single run with train_with_eval.py instead")


def clip_grad_norm_per_model(params, max_norm):
    """torch.nn.utils.clip_grad_norm_ for each model of a stack on its own: model k's
    norm is over its slices of all tensors, and only its slices are scaled. Clipping
    the stack as one model would let one model's large gradient shrink every other
    model's step. Returns the K norms."""
    grads = [p.grad for p in params if p.grad is not None]
    # as clip_grad_norm_: the norm of the per-tensor norms, scaled by min(1, max_norm / (norm + 1e-6))
    norms = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.flatten(1), dim=1) for g in grads]), dim=0)
    coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.view(-1, *[1] * (g.dim() - 1)))
    return norms


def load_slice(model, optimizer, params, stacked_optimizer, k):
    """Copy model k of the stack into a plain GPT and its plain AdamW, so that its
    checkpoint is a single run's checkpoint (one that train_with_eval.py can resume)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(params[name][k])
    optimizer.state.clear()
    for group, stacked_group in zip(optimizer.param_groups, stacked_optimizer.param_groups):
        group["lr"] = stacked_group["lr"]
        for p, stacked_p in zip(group["params"], stacked_group["params"]):
            if stacked_p in stacked_optimizer.state:  # empty before the first step
                # clone: saving a view would save the whole stack's storage
                optimizer.state[p] = {key: value.clone() if key == "step" else value[k].clone()
                                      for key, value in stacked_optimizer.state[stacked_p].items()}


def build_stack(configs, model_args, device):
    """The K models of `configs` as one stack: (a plain GPT to evaluate slices in, the stacked
    parameters {name: (K, ...)}, a plain AdamW for slices, the stack's AdamW, the vmapped loss)."""
    c = configs[0]
    # each model's init is the one its single run draws right after torch.manual_seed(seed)
    models = []
    for config in configs:
        torch.manual_seed(config["seed"])
        models.append(new_model(config, model_args["vocab_size"], device))
    # one leaf tensor (K, ...) per parameter; the tied wte/lm_head weight is one entry, transformer.wte.weight
    params, _ = stack_module_state(models)  # GPT has no buffers
    model = models[0]  # a plain GPT: the model being evaluated and saved, one slice at a time
    del models  # the stack holds copies
    # a weightless GPT whose forward runs on the stacked parameters; built on meta rather than
    # moved there, since .to("meta") would untie wte and lm_head (functional_call re-ties them)
    with torch.device("meta"):
        template = GPT(GPTConfig(**model_args))

    def loss_of(p, X, Y):
        return functional_call(template, p, (X, Y))[1]
    # randomness="different": each model draws its own dropout masks
    stacked_loss = vmap(loss_of, randomness="different")

    # GPT.configure_optimizers on the plain model gives the decay split (2-D tensors of one
    # model), the hyperparameters and the fused choice; the stack's AdamW takes its groups with
    # the stacked tensors in place of the plain ones. AdamW is elementwise, so each model's
    # slice gets exactly its single run's update. One weight decay for all (check_stackable).
    optimizer = model.configure_optimizers(c["weight_decay"], c["learning_rate"], (c["beta1"], c["beta2"]),
                                           device.split(":")[0], c["decay_gains"])
    name_of = {p: name for name, p in model.named_parameters()}
    stacked_optimizer = torch.optim.AdamW(
        [{**group, "params": [params[name_of[p]] for p in group["params"]]} for group in optimizer.param_groups],
        fused=optimizer.defaults["fused"])
    return model, params, optimizer, stacked_optimizer, stacked_loss


def stack_step(params, stacked_loss, stacked_optimizer, data, batch_gens, c, ctx):
    """One iteration of every model of the stack (step.train_step on the stack);
    returns the K losses (on the device)."""
    X, Y = zip(*(get_batch(data, c["block_size"], c["batch_size"], g) for g in batch_gens))
    return train_step(lambda x, y: stacked_loss(params, x, y), params.values(), stacked_optimizer, torch.stack(X),
                      torch.stack(Y), ctx, c["grad_clip"], clip=clip_grad_norm_per_model)


def train_stack(configs, device=None):
    """Train the runs of `configs` (full train_with_eval configs that differ only in
    seed and out_dir) as one stack; returns {out_dir: message} for runs that diverged
    (they stop being evaluated; the others go on, unaffected)."""
    configs = [resolve(c) for c in configs]
    for c in configs:
        validate(c)
    check_stackable(configs)
    runs = [RunFolder(config["out_dir"]) for config in configs]
    try:
        for run in runs:  # every folder claimed before any is touched: two runs never share one
            run.claim()
        return run_stack(configs, runs, device or pick_device(configs[0]["device"]))
    finally:
        for run in runs:
            run.release()


def run_stack(configs, runs, device):
    """train_stack's training, once its folders are claimed."""
    c = configs[0]  # the settings all runs share
    configure_torch(device, c["threads"])
    data, codec = load_data(c["dataset"], device, c["held_out"], c["table_size"], c["table_seed"])
    model, params, optimizer, stacked_optimizer, stacked_loss = build_stack(
        configs, model_args_from(c, codec.vocab_size), device)
    batch_gens = [torch.Generator(device=device).manual_seed(config["seed"]) for config in configs]
    for run in runs:  # a stack trains from scratch: a partial run's old files go
        run.start()
    ctx = autocast(device, c["dtype"])
    recorders = [Recorder(config, data, codec, device, run) for config, run in zip(configs, runs)]
    diverged = {}
    progress = tqdm(total=c["max_iters"], disable=c["quiet"], dynamic_ncols=True, mininterval=0.5)
    t_start = time.time()
    try:
        for iter_num in range(c["max_iters"] + 1):
            lr = set_lr(stacked_optimizer, get_lr(iter_num, c))
            if evaluation_due(iter_num, c):
                evaluate_stack(recorders, model, optimizer, params, stacked_optimizer, batch_gens, diverged, iter_num,
                               lr, time.time() - t_start, device)
            if iter_num == c["max_iters"]:
                break
            losses = stack_step(params, stacked_loss, stacked_optimizer, data, batch_gens, c, ctx)
            progress.update()
            if (iter_num + 1) % c["log_interval"] == 0:
                for k, loss in enumerate(losses.tolist()):  # the only host sync outside evaluation
                    try:
                        check_finite(loss, iter_num + 1, runs[k].path)
                    except TrainingDiverged as e:
                        diverged.setdefault(k, str(e))
                if len(diverged) == len(configs):
                    break
                progress.set_postfix_str(f"mean loss {losses.nanmean().item():.4f}", refresh=False)
    finally:
        progress.close()
    for k, message in diverged.items():
        print(f"{configs[k]['out_dir']}: {message}")
    if not c["quiet"]:
        print(f"done: {len(configs)} runs of {c['max_iters']} iterations in {time.time() - t_start:.1f}s")
    return {configs[k]["out_dir"]: message for k, message in diverged.items()}


def evaluate_stack(recorders, model, optimizer, params, stacked_optimizer, batch_gens, diverged, iter_num, lr, elapsed,
                   device):
    """Evaluate and record every model of the stack that has not diverged, one slice at a time."""
    for k, recorder in enumerate(recorders):
        if k in diverged:
            continue
        load_slice(model, optimizer, params, stacked_optimizer, k)
        # rng: this model's batch generator (with dropout 0 the global RNG is never drawn from)
        try:
            row = recorder.record(model, optimizer, iter_num, lr, [rng_state(batch_gens[k], device)], elapsed)
        except TrainingDiverged as e:
            diverged[k] = str(e)
            continue
        if recorder.config["quiet"]:
            print(f"{recorder.config['out_dir']}: iter {iter_num}: loss {row['train_loss']:.4f} | "
                  f"{describe(row, recorder.config['held_out'])} ({row['elapsed_s']:.1f}s)", flush=True)
