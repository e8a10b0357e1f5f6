"""
Train a character-level GPT on one task of the study and evaluate it every
`eval_interval` iterations (docs/STUDY.md §3-4): nanoGPT's train.py with the paper's
evaluation inside the loop.

    python train_with_eval.py config/train_math_mini_14.py
    python train_with_eval.py config/train_facts_mini_28.py --max_iters 2000 --out_dir out/try
    python train_with_eval.py --init_from=resume --out_dir=out/math_mini_14 --max_iters=40000
    torchrun --standalone --nproc_per_node=2 train_with_eval.py config/train_math_mini_14.py

The run's folder (out_dir) gets the files toobig/runs/run_folder.py lists. A resumed run
continues as it was configured: only how it runs may change
(training_config.CHANGEABLE_ON_RESUME).
"""
import toobig  # noqa: F401  first, before torch: it pins the CPU kernels every run uses (toobig/core/reproducible.py)
import errno
import os
import shutil
import sys
import time

import torch
from tqdm import tqdm

from configurator import ConfigError, exit_with_error, parse_overrides
from toobig.core.devices import COMPILE_ERRORS, MACHINE_ERRORS, autocast, configure_torch, pick_device
from toobig.runs.run_folder import RunError, RunFolder
from toobig.runs.reading import find_run_folder
from toobig.training.step import (Recorder, check_finite, choose_step, describe, draw_starts, evaluation_due, get_batch,
                                  get_lr, hold_norm, load_data, new_model, restore_rng_state, rng_state, set_lr,
                                  torch_step_info, train_step)
from toobig.study.training_config import DEFAULTS, resolve, resume_config, validate


def configure(given):
    """(config, checkpoint or None) from the keys given on the command line and in config files."""
    if given.get("init_from") == "resume":
        try:  # a resumed run writes into its folder: a bare name never takes the committed run
            run = RunFolder(find_run_folder(given.get("out_dir", DEFAULTS["out_dir"]), writes=True))
        except ValueError as e:
            raise RunError(f"cannot resume: {e}") from None
        checkpoint = run.load_checkpoint()
        config = resume_config(checkpoint["config"], {**given, "out_dir": str(run.path)})
        if config["max_iters"] < checkpoint["iter_num"]:
            raise ConfigError(f"max_iters={config['max_iters']} is before the checkpoint's iteration "
                              f"{checkpoint['iter_num']}")
    else:
        config, checkpoint = {**DEFAULTS, **given}, None
    config = resolve(config)
    validate(config)
    return config, checkpoint


# --- setting up a run -------------------------------------------------------------
def setup_distributed(config):
    """(ddp, rank, world_size, device); under torchrun, one process per GPU or CPU slot."""
    device = pick_device(config["device"])
    if int(os.environ.get("RANK", -1)) == -1:
        return False, 0, 1, device
    from torch.distributed import init_process_group
    backend = config["backend"]
    if backend == "auto":
        backend = "nccl" if device.startswith("cuda") else "gloo"
    init_process_group(backend=backend)
    rank, local_rank, world = (int(os.environ[k]) for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE"))
    if device.startswith("cuda"):
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(device)
    return True, rank, world, device


def open_run_folder(config, checkpoint, ddp, master, world_size):
    """The run's folder, claimed by rank 0 for the run's life (two runs never share one) and
    checked, but not touched yet: a resumed run continues with its process count; a run
    from scratch needs a free folder, or --overwrite to replace the run in it."""
    run = RunFolder(config["out_dir"])
    if master:
        run.claim()
    try:
        check_run_folder(run, config, checkpoint, world_size)
    except BaseException:
        run.release()
        raise
    if ddp:
        torch.distributed.barrier()
    return run


def check_run_folder(run, config, checkpoint, world_size):
    if config["batch_size"] % world_size:
        raise ConfigError(f"batch_size={config['batch_size']} does not split over {world_size} processes")
    if checkpoint is not None:
        run.best = checkpoint["best"]
        saved_world = checkpoint.get("world_size", len(checkpoint["rng"]))
        if saved_world != world_size:
            raise RunError(f"{run.path} was trained by {saved_world} process(es) and is resumed by {world_size}: "
                           f"each process draws its own batches, so resume it with {saved_world}")
    else:
        run.check_free(config["overwrite"])  # in every process, so that none waits for one that stopped


def check_compiler(config, device):
    """torch.compile on the CPU builds C++ with the compiler in CXX (default g++): without one,
    say so before the run starts, not in a traceback after its first evaluation."""
    if config["compile"] and device == "cpu":
        compiler = os.environ.get("CXX", "g++")
        if shutil.which(compiler) is None:
            raise RunError(f"torch.compile and the fused step need a C++ compiler on the CPU, and CXX={compiler!r} "
                           f"is not found; install one (g++) or run with --compile=False (the uncompiled torch "
                           f"step, whose bits differ from the fused step's)")


def build(config, codec, device, rank, checkpoint):
    """(model, optimizer, batch generator, iteration, seconds trained so far): fresh from the
    seed, or as the checkpoint left them. Each process draws its own share of the batch."""
    torch.manual_seed(config["seed"] + rank)
    batch_gen = torch.Generator(device=device).manual_seed(config["seed"] + rank)
    model = new_model(config, codec.vocab_size, device)
    optimizer = model.configure_optimizers(config["weight_decay"], config["learning_rate"],
                                           (config["beta1"], config["beta2"]), device.split(":")[0],
                                           config["decay_gains"])
    if checkpoint is None:
        return model, optimizer, batch_gen, 0, 0.0
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    restore_rng_state(checkpoint["rng"][rank], batch_gen, device)
    return model, optimizer, batch_gen, checkpoint["iter_num"], checkpoint["elapsed_s"]


def for_training(model, config, device, ddp):
    """The model the step runs: compiled (CUDA and CPU) and wrapped for DDP as configured."""
    if config["compile"] and device.split(":")[0] in ("cuda", "cpu"):
        model = torch.compile(model, mode=config["compile_mode"])
    if ddp:
        from torch.nn.parallel import DistributedDataParallel as DDP
        model = DDP(model, device_ids=[int(device.split(":")[1])] if device.startswith("cuda") else None)
    return model


def gather_rng_states(batch_gen, device, ddp, world_size):
    """Every process's random state, for the checkpoint rank 0 writes."""
    state = rng_state(batch_gen, device)
    if not ddp:
        return [state]
    states = [None] * world_size
    torch.distributed.all_gather_object(states, state)
    return states


# --- the run ------------------------------------------------------------------
def train(config, checkpoint=None):
    """Train one run as `config` says (configure() makes it); a resumed run needs its checkpoint."""
    if config["init_from"] == "resume" and checkpoint is None:
        checkpoint = RunFolder(config["out_dir"]).load_checkpoint()
    ddp, rank, world_size, device = setup_distributed(config)
    master = rank == 0
    configure_torch(device, config["threads"])
    run = open_run_folder(config, checkpoint, ddp, master, world_size)
    try:
        return run_loop(config, checkpoint, run, ddp, rank, world_size, device)
    except COMPILE_ERRORS as e:  # after the first evaluation, which is recorded: the run can go on without it
        raise RunError(f"torch.compile failed ({type(e).__name__}: {str(e).strip().splitlines()[0]}); continue "
                       f"without it: --init_from=resume --out_dir={run.path} --compile=False") from None
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
        raise RunError(f"{e}: {run.path} keeps every evaluation up to the one its ckpt.pt holds (later writes are "
                       f"made again on resume); free some space and continue with --init_from=resume "
                       f"--out_dir={run.path}") from None
    finally:
        run.release()


def make_step(config, model, optimizer, data, batch_gen, device, ddp, world_size):
    """(step: lr -> loss, the fused step or None): the fused C++ step where it covers the run,
    else the torch step (compiled and DDP-wrapped as configured). Both draw the same batches;
    with weight_norm, either is followed by hold_norm."""
    check_compiler(config, device)  # first: the fused step needs the same compiler
    fused = choose_step(config, model, optimizer, data, device, world_size)
    if fused:
        step = lambda lr: fused(draw_starts(data, config["block_size"], config["batch_size"], batch_gen), lr)  # noqa: E731
    else:
        step_model, ctx = for_training(model, config, device, ddp), autocast(device, config["dtype"])

        def step(lr):
            X, Y = get_batch(data, config["block_size"], config["batch_size"] // world_size, batch_gen)
            return train_step(lambda x, y: step_model(x, y)[1], step_model.parameters(), optimizer, X, Y, ctx,
                              config["grad_clip"])
    if not config["weight_norm"]:
        return step, fused
    params = list(model.parameters())  # the fused step's are views of its buffer: one rescale serves both

    def step_at_norm(lr):
        loss = step(lr)
        hold_norm(params, config["weight_norm"])
        return loss
    return step_at_norm, fused


def run_loop(config, checkpoint, run, ddp, rank, world_size, device):
    """Everything that can be checked is checked before the folder is touched; then nanoGPT's loop."""
    master = rank == 0
    data, codec = load_data(config["dataset"], device, config["held_out"], config["table_size"], config["table_seed"])
    recorder = Recorder(config, data, codec, device, run, world_size)
    if checkpoint and checkpoint.get("train_text_sha256", recorder.sha256) != recorder.sha256:
        raise RunError(f"{run.path} was trained on another text than toobig/study/tasks.py's {config['dataset']} now: "
                       f"resuming it would change its data; train it again from scratch")
    model, optimizer, batch_gen, iter_num, elapsed_before = build(config, codec, device, rank, checkpoint)
    step, fused = make_step(config, model, optimizer, data, batch_gen, device, ddp, world_size)
    recorder.step_info = fused.info if fused else torch_step_info(config)
    if master and checkpoint:
        run.resume_at(iter_num)
    elif master:
        run.start()
    evaluated = iter_num if checkpoint else None  # a resumed run's checkpoint evaluation is in its results
    del checkpoint
    progress = tqdm(total=config["max_iters"], initial=iter_num, disable=config["quiet"] or not master,
                    dynamic_ncols=True, mininterval=0.5)
    t_start, note = time.time() - elapsed_before, ""
    try:
        while True:
            lr = set_lr(optimizer, get_lr(iter_num, config))
            if evaluation_due(iter_num, config) and iter_num != evaluated:
                states = gather_rng_states(batch_gen, device, ddp, world_size)
                if fused:
                    fused.sync_optimizer()  # the optimizer's state_dict, for the checkpoint
                if master:
                    row = recorder.record(model, optimizer, iter_num, lr, states, time.time() - t_start)
                    note = describe(row, config["held_out"])
                    progress.set_postfix_str(f"loss {row['train_loss']:.4f} | {note}")
                    if config["quiet"]:
                        print(f"iter {iter_num}: loss {row['train_loss']:.4f} | {note} ({row['elapsed_s']:.1f}s)",
                              flush=True)
            if iter_num >= config["max_iters"]:
                break
            loss = step(lr)
            iter_num += 1
            progress.update()
            if iter_num % config["log_interval"] == 0:
                loss = loss.item() if torch.is_tensor(loss) else loss  # the only host sync outside evaluation
                check_finite(loss, iter_num, run.path)
                progress.set_postfix_str(f"loss {loss:.4f} | {note}", refresh=False)
    except KeyboardInterrupt:
        raise RunError(f"interrupted at iteration {iter_num}; {run.path / 'ckpt.pt'} and {run.path / 'results.csv'} "
                       f"hold the latest checkpointed evaluation: continue with --init_from=resume --out_dir={run.path}") from None
    finally:
        progress.close()
    if ddp:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    if master:
        best = run.best["combined_acc"]
        print(f"done: {config['max_iters']} iterations in {time.time() - t_start:.1f}s; best evaluation: "
              f"iteration {best['iter']}, {describe(best, config['held_out'])}, "
              f"combined {100 * best['combined_acc']:.1f}% ({run.path / 'results.csv'})")
    return run


def main(argv=None):
    try:
        config, checkpoint = configure(parse_overrides(DEFAULTS, sys.argv[1:] if argv is None else argv))
        train(config, checkpoint)
    except (ValueError, *MACHINE_ERRORS) as e:  # ConfigError, RunError, values PyTorch rejects; the machine's
        exit_with_error(e)


if __name__ == "__main__":
    main()
