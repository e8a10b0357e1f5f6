"""
Train a character-level GPT on one task of the study and evaluate it every
`eval_interval` iterations (STUDY.md §3-4): nanoGPT's train.py with the paper's
evaluation inside the loop.

    python train_with_eval.py config/train_math_mini_14.py
    python train_with_eval.py config/train_facts_mini_28.py --max_iters 2000 --out_dir out/try
    python train_with_eval.py --init_from=resume --out_dir=out/math_mini_14 --max_iters=40000
    torchrun --standalone --nproc_per_node=2 train_with_eval.py config/train_math_mini_14.py

The run's folder (out_dir) gets results.csv, run.json, ckpt.pt and
ckpt_best_{math,facts,combined}.pt (run_folder.py). A resumed run continues as
it was configured: only how it runs may change (CHANGEABLE_ON_RESUME).
"""
import reproducible  # first, before torch: the CPU kernels every run uses (reproducible.py)
import math
import os
import platform
import sys
import time
from dataclasses import asdict

import torch
from tqdm import tqdm

from configurator import ConfigError, exit_with_error, parse_overrides
from evaluation import Sampling, autocast, evaluate, most_common_wrong, pick_device, split_loss
from model import GPT, GPTConfig
from run_folder import RunError, RunFolder, find_run_folder
from tasks import PAPER_HELD_OUT, TASKS, CharCodec, get_task, parse_held_out, task_text, text_sha256

# Defaults: the settings shared by every run of the study (STUDY.md §2-4) and the
# n14 arithmetic model; config files hold only what differs.
DEFAULTS = dict(
    # I/O
    out_dir="out/math_mini_14",
    eval_interval=250,
    log_interval=50,
    init_from="scratch",  # 'scratch', or 'resume' the run in out_dir from its ckpt.pt
    overwrite=False,      # scratch into a folder that holds a run: replace that run
    quiet=False,          # log lines instead of a progress bar
    # data
    dataset="as_math",
    held_out="5:7",       # the digit pair whose four sums and differences are never trained on (a:b)
    batch_size=None,      # None: the task's (tasks.py: 882 for arithmetic, 576 for facts and joint)
    block_size=None,      # None: the task's (9 for arithmetic, 24 for facts and joint)
    # model
    n_layer=1,
    n_head=1,
    n_embd=14,
    mlp_expansion=1,
    dropout=0.0,
    bias=False,
    # AdamW and the learning-rate schedule
    learning_rate=1e-2,
    max_iters=30000,
    weight_decay=0.0,
    beta1=0.9,
    beta2=0.99,
    grad_clip=1.0,
    decay_lr=True,
    warmup_iters=2000,
    lr_decay_iters=25000,
    min_lr=1e-4,
    # evaluation sampling
    eval_samples=Sampling.num_samples,
    eval_temperature=Sampling.temperature,
    eval_top_k=Sampling.top_k,
    eval_greedy=False,
    # system
    device="auto",       # auto: cuda, then mps, then cpu
    dtype="auto",        # auto: bfloat16 autocast on CUDA, float32 elsewhere
    compile=True,        # torch.compile the training step (CUDA and CPU; pays off within ~3k iterations)
    compile_mode="default",  # torch.compile's mode; reduce-overhead: CUDA graphs
    backend="auto",      # DDP backend; auto: nccl on CUDA, gloo on CPU
    threads=1,           # CPU threads (0: all cores). One thread makes a run repeat bit for bit,
                         # as the committed runs were made; more threads change float sums and results
    seed=1337,
)
# What a resumed run may change: how it runs, not what it computes. Anything else
# given with --init_from=resume must equal the saved value.
CHANGEABLE_ON_RESUME = ("init_from", "out_dir", "max_iters", "device", "dtype", "compile", "compile_mode", "backend",
                        "threads", "quiet", "log_interval")


class TrainingDiverged(RunError):
    pass


# --- the configuration --------------------------------------------------------
def resolve(config):
    """The config with the task's batch and block size where they are None."""
    task = get_task(config["dataset"])
    return {**config, "batch_size": config["batch_size"] or task.batch_size,
            "block_size": config["block_size"] or task.block_size}


def validate(config):
    """Raise ConfigError naming the first bad value and what is allowed."""
    allowed = {"init_from": ("scratch", "resume"), "dataset": tuple(TASKS), "dtype": ("auto", "float32", "bfloat16"),
               "compile_mode": ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")}
    if config["dtype"] == "float16":
        raise ConfigError("dtype='float16' is not supported (it needs loss scaling, which this loop does not do); "
                          "choose auto, float32 or bfloat16")
    for key, values in allowed.items():
        if config[key] not in values:
            raise ConfigError(f"{key}={config[key]!r} is not allowed; choose one of {', '.join(values)}")
    for key in ("batch_size", "block_size"):  # None in DEFAULTS, so the configurator cannot type them
        if not isinstance(config[key], int) or isinstance(config[key], bool):
            raise ConfigError(f"{key}={config[key]!r} must be an integer")
    at_least = {"eval_interval": 1, "log_interval": 1, "batch_size": 1, "block_size": 1, "n_layer": 1, "n_head": 1,
                "n_embd": 1, "mlp_expansion": 1, "eval_samples": 1, "eval_top_k": 1, "max_iters": 0,
                "warmup_iters": 0, "threads": 0, "weight_decay": 0, "grad_clip": 0, "min_lr": 0, "eval_temperature": 0}
    for key, low in at_least.items():
        if not isinstance(config[key], (int, float)) or isinstance(config[key], bool) or config[key] < low:
            raise ConfigError(f"{key}={config[key]!r} must be a number of at least {low}")
    if config["learning_rate"] <= 0:
        raise ConfigError(f"learning_rate={config['learning_rate']} must be positive")
    for key in ("dropout", "beta1", "beta2"):
        if not 0 <= config[key] < 1:
            raise ConfigError(f"{key}={config[key]} must be in [0, 1)")
    if config["n_embd"] % config["n_head"]:
        raise ConfigError(f"n_embd={config['n_embd']} is not divisible by n_head={config['n_head']}")
    if config["decay_lr"] and config["lr_decay_iters"] <= config["warmup_iters"]:
        raise ConfigError(f"lr_decay_iters={config['lr_decay_iters']} must be after warmup_iters={config['warmup_iters']}")
    if not config["out_dir"]:
        raise ConfigError("out_dir is empty; name the run's folder, e.g. --out_dir=out/my_run")
    parse_held_out(config["held_out"])
    pick_device(config["device"])  # raises for a device this machine lacks


def resume_config(saved, given):
    """The config of a run being resumed: its saved config, with what `given` may change."""
    config = {**DEFAULTS, **saved}  # keys added since the run was saved take their defaults
    for key, value in given.items():
        if key in CHANGEABLE_ON_RESUME:
            config[key] = value
        elif value is None and key in ("batch_size", "block_size"):
            continue  # "the task's", which the saved run already resolved
        elif value != config[key]:
            raise ConfigError(f"{key}={value!r} differs from the run being resumed ({key}={config[key]!r}); "
                              f"a resumed run continues as it was configured (it may change only "
                              f"{', '.join(CHANGEABLE_ON_RESUME[2:])})")
    return config


def configure(given):
    """(config, checkpoint or None) from the keys given on the command line and in config files."""
    if given.get("init_from") == "resume":
        run = RunFolder(find_run_folder(given.get("out_dir", DEFAULTS["out_dir"])))
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


# --- pieces of the run ----------------------------------------------------------
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


def get_batch(data, block_size, batch_size, generator):
    """Random windows of block_size+1 tokens at uniform offsets; targets shifted by one."""
    ix = torch.randint(len(data) - block_size, (batch_size, 1), device=data.device, generator=generator)
    offsets = torch.arange(block_size, device=data.device)
    return data[ix + offsets], data[ix + offsets + 1]


def load_data(dataset, device, held_out=PAPER_HELD_OUT):
    """The task's token stream and tokenizer, built from tasks.py's text: never from files
    on disk, which could be stale. The study's val split is its train split (STUDY.md §1)."""
    text = task_text(dataset, held_out)
    codec = CharCodec.from_text(text)
    return torch.tensor(codec.encode(text), dtype=torch.long, device=device), codec


def model_args_from(config, vocab_size):
    keys = ("n_layer", "n_head", "n_embd", "block_size", "bias", "dropout", "mlp_expansion")
    return {**{k: config[k] for k in keys}, "vocab_size": vocab_size}


def configure_torch(device, threads=0):
    """Threads, deterministic kernels (STUDY.md §3) and TF32 matmuls: the same for single and stacked runs."""
    if threads:
        torch.set_num_threads(threads)
    if device == "cpu":
        reproducible.warn_unless_pinned()
    if device.startswith("cuda"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True


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


def rng_state(generator, device):
    state = {"batches": generator.get_state(), "torch": torch.get_rng_state()}
    if device.startswith("cuda"):
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng_state(state, generator, device):
    generator.set_state(state["batches"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def device_name(device):
    """The accelerator or processor a run used, for run.json."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(device)
    try:  # Linux: the processor's marketing name
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


# --- the step, the loop and the evaluation: shared with stacked.py and bench.py -------
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


def run_iterations(config, iter_num, optimizer, step, evaluate_at, log, evaluated=None):
    """nanoGPT's loop from iter_num: set the learning rate; evaluate every eval_interval
    iterations and at max_iters (except at `evaluated`, already in the run's results);
    stop at max_iters; else one training step, and every log_interval steps a log."""
    while True:
        lr = get_lr(iter_num, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        if (iter_num % config["eval_interval"] == 0 or iter_num == config["max_iters"]) and iter_num != evaluated:
            evaluate_at(iter_num, lr)
        if iter_num >= config["max_iters"]:
            return
        loss = step()
        iter_num += 1
        if iter_num % config["log_interval"] == 0:
            log(iter_num, loss)


def evaluate_and_record(model, optimizer, config, data, codec, device, run, iter_num, lr, elapsed, rng_states,
                        world_size=1):
    """Evaluate `model` (the plain GPT, not a compiled or DDP wrapper) at iter_num and
    record it in `run` (a RunFolder); returns the results.csv row."""
    sampling = Sampling(config["eval_samples"], config["eval_temperature"], config["eval_top_k"], config["eval_greedy"])
    with autocast(device, config["dtype"]):
        loss = split_loss(model, data, config["block_size"])
        if not math.isfinite(loss):  # before sampling, which would fail on NaN probabilities
            raise TrainingDiverged(f"training diverged: loss is {loss} at iteration {iter_num}; "
                                   f"{run.path / 'results.csv'} keeps the rows so far")
        # seeded by the iteration, so that a resumed run re-evaluates identically
        scores, items = evaluate(model, codec, get_task(config["dataset"]).parts, sampling,
                                 seed=config["seed"] + iter_num, held_out=config["held_out"])
    # the val split is the train split (STUDY.md §1): one loss, in both columns
    row = {"iter": iter_num, "train_loss": loss, "val_loss": loss, "lr": lr, **scores, "elapsed_s": round(elapsed, 2)}
    sha256 = text_sha256(codec.decode(data.tolist()))
    checkpoint = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "model_args": asdict(model.config),
                  "iter_num": iter_num, "config": config, "stoi": codec.stoi, "elapsed_s": elapsed,
                  "rng": rng_states, "world_size": world_size, "train_text_sha256": sha256}
    info = {"config": config, "n_params": model.get_num_params(), "device": device, "device_name": device_name(device),
            "world_size": world_size, **reproducible.cpu_record(), "train_text_sha256": sha256,
            "torch": torch.__version__, "python": platform.python_version(), "iter_num": iter_num,
            "wall_time_s": round(elapsed, 2), "finished": iter_num >= config["max_iters"]}
    run.record(row, checkpoint, info, {item.name: item.correct for item in items}, most_common_wrong(items))
    return row


def describe(row, held_out=PAPER_HELD_OUT):
    """An evaluation in one line: `add 1000/1000 sub 998/1000 (5,7) 40/40 facts 12/500`."""
    note = []
    if row["add_total"]:
        note.append(f"add {row['add_correct']}/{row['add_total']} sub {row['sub_correct']}/{row['sub_total']} "
                    f"({','.join(map(str, parse_held_out(held_out)))}) {row['heldout_correct']}/{row['heldout_total']}")
    if row["facts_total"]:
        note.append(f"facts {row['facts_correct']}/{row['facts_total']}")
    return " ".join(note)


# --- the run ------------------------------------------------------------------
def train(config, checkpoint=None):
    """Train one run as `config` says (configure() makes it); a resumed run needs its checkpoint."""
    ddp, rank, world_size, device = setup_distributed(config)
    master = rank == 0
    configure_torch(device, config["threads"])
    run = RunFolder(config["out_dir"])
    if config["init_from"] == "resume":
        checkpoint = checkpoint or run.load_checkpoint()
        run.best = checkpoint["best"]
        saved_world = checkpoint.get("world_size", len(checkpoint["rng"]))
        if saved_world != world_size:
            raise RunError(f"{run.path} was trained by {saved_world} process(es) and is resumed by {world_size}: "
                           f"each process draws its own batches, so resume it with {saved_world}")
    else:
        run.check_free(config["overwrite"])  # in every process, so that none waits for one that stopped
        if ddp:
            torch.distributed.barrier()
        if master:
            run.start()
    if config["batch_size"] % world_size:
        raise ConfigError(f"batch_size={config['batch_size']} does not split over {world_size} processes")

    data, codec = load_data(config["dataset"], device, config["held_out"])
    text_hash = text_sha256(codec.decode(data.tolist()))
    if checkpoint and checkpoint.get("train_text_sha256", text_hash) != text_hash:  # (older runs did not record it)
        raise RunError(f"{run.path} was trained on another text than tasks.py's {config['dataset']} now: "
                       f"resuming it would change its data; train it again from scratch")
    torch.manual_seed(config["seed"] + rank)
    # each process draws its own share of the batch, so the global batch is the study's
    batch_gen = torch.Generator(device=device).manual_seed(config["seed"] + rank)
    model = GPT(GPTConfig(**model_args_from(config, codec.vocab_size)))
    model.to(device)
    optimizer = model.configure_optimizers(config["weight_decay"], config["learning_rate"],
                                           (config["beta1"], config["beta2"]), device.split(":")[0])
    iter_num, elapsed_before = 0, 0.0
    if checkpoint:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        restore_rng_state(checkpoint["rng"][rank], batch_gen, device)
        iter_num, elapsed_before = checkpoint["iter_num"], checkpoint["elapsed_s"]
        if master:
            run.resume_at(iter_num)
        del checkpoint
    raw_model = model
    if config["compile"] and device.split(":")[0] in ("cuda", "cpu"):
        model = torch.compile(model, mode=config["compile_mode"])
    if ddp:
        from torch.nn.parallel import DistributedDataParallel as DDP
        model = DDP(model, device_ids=[int(device.split(":")[1])] if device.startswith("cuda") else None)
    ctx = autocast(device, config["dtype"])

    progress = tqdm(total=config["max_iters"], initial=iter_num, disable=config["quiet"] or not master,
                    dynamic_ncols=True, mininterval=0.5)
    t_start = time.time() - elapsed_before
    note = ""

    def evaluate_at(it, lr):
        nonlocal note
        state = rng_state(batch_gen, device)
        states = [state]
        if ddp:
            states = [None] * world_size
            torch.distributed.all_gather_object(states, state)
        if master:
            row = evaluate_and_record(raw_model, optimizer, config, data, codec, device, run, it, lr,
                                      time.time() - t_start, states, world_size)
            note = describe(row, config["held_out"])
            progress.set_postfix_str(f"loss {row['train_loss']:.4f} | {note}")
            if config["quiet"]:
                print(f"iter {it}: loss {row['train_loss']:.4f} | {note} ({row['elapsed_s']:.1f}s)", flush=True)

    def step():
        X, Y = get_batch(data, config["block_size"], config["batch_size"] // world_size, batch_gen)
        loss = train_step(lambda x, y: model(x, y)[1], model.parameters(), optimizer, X, Y, ctx, config["grad_clip"])
        progress.update()
        return loss

    def log(it, loss):
        loss = loss.item()  # the only host sync outside evaluation
        if not math.isfinite(loss):
            raise TrainingDiverged(f"training diverged: loss is {loss} at iteration {it}; "
                                   f"{run.path / 'results.csv'} keeps the rows so far")
        progress.set_postfix_str(f"loss {loss:.4f} | {note}", refresh=False)

    try:
        run_iterations(config, iter_num, optimizer, step, evaluate_at, log,
                       evaluated=iter_num if config["init_from"] == "resume" else None)
    except KeyboardInterrupt:
        raise RunError(f"interrupted at iteration {progress.n}; {run.path / 'ckpt.pt'} and "
                       f"{run.path / 'results.csv'} hold the latest evaluation: continue with "
                       f"--init_from=resume --out_dir={run.path}") from None
    finally:
        progress.close()
    if ddp:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    if master:
        best = run.best["combined_acc"]
        print(f"done: {config['max_iters']} iterations in {time.time() - t_start:.1f}s; best evaluation: "
              f"iteration {best['iter']}, {describe(best, config['held_out'])}, combined {100 * best['combined_acc']:.1f}% "
              f"({run.path / 'results.csv'})")
    return run


def main(argv=None):
    try:
        config, checkpoint = configure(parse_overrides(DEFAULTS, sys.argv[1:] if argv is None else argv))
        train(config, checkpoint)
    except ValueError as e:  # ConfigError, RunError, and values PyTorch itself rejects
        exit_with_error(e)


if __name__ == "__main__":
    main()
