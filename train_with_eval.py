"""
Train a character-level GPT on one task of the study and evaluate it every
`eval_interval` iterations (SPEC §3-4). nanoGPT's train.py, with the evaluation
of the paper inside the loop.

    python train_with_eval.py config/train_math_mini_14.py
    python train_with_eval.py config/train_facts_mini_28.py --device=cpu --max_iters=2000
    python train_with_eval.py config/train_math_mini_14.py --init_from=resume
    torchrun --standalone --nproc_per_node=2 train_with_eval.py config/train_math_mini_14.py

Writes to out_dir: results.csv (one row per evaluation, appended as it is made),
run.json, ckpt.pt (state at the latest evaluation) and ckpt_best_{math,facts,combined}.pt.
"""
import csv
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from configurator import exit_with_error, parse_args_or_exit
from evaluation import RESULT_COLUMNS, Sampling, autocast, evaluate, pick_device, split_loss
from model import GPT, GPTConfig
from tasks import TASKS, is_prepared, load_codec, load_split, prepare, task_parts, text_sha256

# Defaults: the settings shared by every run of the study (SPEC §2-4) and the
# n14 arithmetic model; config files hold only what differs.
DEFAULTS = dict(
    # I/O
    out_dir="out/math_mini_14",
    eval_interval=250,
    log_interval=50,
    init_from="scratch",  # 'scratch' or 'resume' (from out_dir/ckpt.pt)
    quiet=False,          # log lines instead of a progress bar
    # data
    dataset="as_math",
    batch_size=882,
    block_size=9,
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
    eval_samples=10,
    eval_temperature=0.01,
    eval_top_k=10,
    eval_greedy=False,
    # system
    device="auto",       # auto: cuda, then mps, then cpu
    dtype="auto",        # auto: bfloat16 autocast on CUDA, float32 elsewhere
    compile=True,        # torch.compile the training step (CUDA and CPU; pays off within ~3k iterations)
    compile_mode="default",  # torch.compile's mode; reduce-overhead: CUDA graphs
    backend="auto",      # DDP backend; auto: nccl on CUDA, gloo on CPU
    seed=1337,
)

CHECKPOINTS = {"math": "ckpt_best_math.pt", "facts": "ckpt_best_facts.pt", "combined": "ckpt_best_combined.pt"}


class TrainingDiverged(RuntimeError):
    pass


def validate(config):
    allowed = {"init_from": ("scratch", "resume"), "dataset": tuple(TASKS),
               "dtype": ("auto", "float32", "bfloat16", "float16"),
               "compile_mode": ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")}
    for key, values in allowed.items():
        if config[key] not in values:
            exit_with_error(f"{key}={config[key]!r} is not allowed; choose one of {', '.join(values)}")
    positive = ("eval_interval", "log_interval", "batch_size", "block_size", "n_layer", "n_head",
                "n_embd", "mlp_expansion", "eval_samples", "eval_top_k")
    for key in positive:
        if config[key] < 1:
            exit_with_error(f"{key}={config[key]} must be at least 1")
    if config["max_iters"] < 0:
        exit_with_error(f"max_iters={config['max_iters']} must be at least 0")


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


# --- files that survive an interruption ---------------------------------------
def atomic_save(obj, path):
    tmp = f"{path}.tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def atomic_write_text(text, path):
    tmp = f"{path}.tmp"
    Path(tmp).write_text(text)
    os.replace(tmp, path)


def read_results(path):
    if not Path(path).exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def append_result(path, row):
    new_file = not Path(path).exists()
    with open(path, "a", newline="") as f:  # closed, hence flushed, row by row
        writer = csv.DictWriter(f, fieldnames=RESULT_COLUMNS)
        if new_file:
            writer.writeheader()
        writer.writerow(row)


def truncate_results(path, first_dropped_iter):
    """On resume, drop the rows the resumed run will write again."""
    rows = [r for r in read_results(path) if int(r["iter"]) < first_dropped_iter]
    with open(f"{path}.tmp", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=RESULT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(f"{path}.tmp", path)


# --- the run ------------------------------------------------------------------
def setup_distributed(config):
    """(ddp, rank, world_size, device); under torchrun, one process per GPU or CPU slot."""
    if int(os.environ.get("RANK", -1)) == -1:
        return False, 0, 1, pick_device(config["device"])
    from torch.distributed import init_process_group
    device = pick_device(config["device"])
    backend = config["backend"]
    if backend == "auto":
        backend = "nccl" if device.startswith("cuda") else "gloo"
    init_process_group(backend=backend)
    rank, local_rank, world = (int(os.environ[k]) for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE"))
    if device.startswith("cuda"):
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(device)
    return True, rank, world, device


def load_data(dataset, device, master, ddp):
    if master and not is_prepared(dataset):
        print(f"preparing data/{dataset} (first run)", file=sys.stderr)
        prepare(dataset)
    if ddp:
        torch.distributed.barrier()
    splits = {s: torch.from_numpy(load_split(dataset, s).astype("int64")).to(device) for s in ("train", "val")}
    return splits, load_codec(dataset)


def model_args_from(config, vocab_size):
    keys = ("n_layer", "n_head", "n_embd", "block_size", "bias", "dropout", "mlp_expansion")
    return {**{k: config[k] for k in keys}, "vocab_size": vocab_size}


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


def configure_torch(device):
    """Deterministic kernels (SPEC §3) and TF32 matmuls: the same for single and stacked runs."""
    if device.startswith("cuda"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True


def device_name(device):
    """The accelerator or processor a run used, for run.json."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(device)
    try:  # Linux: the processor's marketing name
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def improved(row, best, key):
    """Strictly better than the best so far: ties keep the earliest evaluation."""
    return row[key] != "" and (best.get(key) is None or row[key] > best[key][key])


def evaluate_and_save(model, optimizer, model_args, config, data, codec, device, iter_num, lr, elapsed, best,
                      rng_states, world_size=1):
    """Evaluate `model` (the plain GPT, not a compiled or DDP wrapper) at iter_num and write
    what a run keeps in config["out_dir"]: a results.csv row, ckpt.pt, ckpt_best_*.pt where a
    score improved (`best` is updated in place) and run.json. train() calls it for its model,
    stacked.py for each model of a stack, so both write the same files the same way."""
    out_dir = Path(config["out_dir"])
    sampling = Sampling(config["eval_samples"], config["eval_temperature"], config["eval_top_k"], config["eval_greedy"])
    with autocast(device, config["dtype"]):
        row = {"iter": iter_num, "lr": lr, "elapsed_s": round(elapsed, 2),
               "train_loss": split_loss(model, data["train"], config["block_size"])}
        # the study's val split is its train split (SPEC §1): don't compute the same loss twice
        row["val_loss"] = (row["train_loss"] if torch.equal(data["train"], data["val"])
                           else split_loss(model, data["val"], config["block_size"]))
        # before sampling, which fails on NaN probabilities with a less helpful error
        if not math.isfinite(row["train_loss"]):
            raise TrainingDiverged(f"loss is {row['train_loss']} at iteration {iter_num}")
        # seeded by the iteration: a resumed run re-evaluates identically
        row.update(evaluate(model, codec, task_parts(config["dataset"]), sampling, seed=config["seed"] + iter_num))
    checkpoint = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                  "model_args": model_args, "iter_num": iter_num, "config": config,
                  "stoi": codec.stoi, "elapsed_s": elapsed, "rng": rng_states}
    for key, name in CHECKPOINTS.items():
        if improved(row, best, f"{key}_acc"):
            best[f"{key}_acc"] = row
            atomic_save({**checkpoint, "best": best}, out_dir / name)
    append_result(out_dir / "results.csv", row)
    atomic_save({**checkpoint, "best": best}, out_dir / "ckpt.pt")
    atomic_write_text(json.dumps({
        "config": config, "n_params": model.get_num_params(), "device": device, "device_name": device_name(device),
        "world_size": world_size, "train_text_sha256": text_sha256(codec.decode(data["train"].tolist())),
        "torch": torch.__version__, "python": platform.python_version(),
        "iter_num": iter_num, "wall_time_s": round(elapsed, 2), "finished": iter_num >= config["max_iters"],
        "best": best}, indent=1), out_dir / "run.json")
    return row


def train(config):
    ddp, rank, world_size, device = setup_distributed(config)
    master = rank == 0
    if config["batch_size"] % world_size:
        exit_with_error(f"batch_size={config['batch_size']} does not split over {world_size} processes")
    configure_torch(device)
    torch.manual_seed(config["seed"] + rank)
    out_dir = Path(config["out_dir"])
    ckpt_path, results_path = out_dir / "ckpt.pt", out_dir / "results.csv"
    if config["init_from"] == "resume" and not ckpt_path.is_file():
        exit_with_error(f"cannot resume: {ckpt_path} does not exist (train with --init_from=scratch first)")
    if master:
        out_dir.mkdir(parents=True, exist_ok=True)

    data, codec = load_data(config["dataset"], device, master, ddp)
    # each process draws its own share of the batch, so the global batch is the spec's
    batch_gen = torch.Generator(device=device).manual_seed(config["seed"] + rank)
    iter_num, elapsed_before, best = 0, 0.0, {}
    if config["init_from"] == "resume":
        checkpoint = torch.load(ckpt_path, map_location=device, weights_only=False)
        model_args = checkpoint["model_args"]
        model = GPT(GPTConfig(**model_args))
        model.load_state_dict(checkpoint["model"])
        iter_num, elapsed_before, best = checkpoint["iter_num"], checkpoint["elapsed_s"], checkpoint["best"]
    else:
        model_args = model_args_from(config, codec.vocab_size)
        model = GPT(GPTConfig(**model_args))
    model.to(device)
    optimizer = model.configure_optimizers(config["weight_decay"], config["learning_rate"],
                                           (config["beta1"], config["beta2"]), device.split(":")[0])
    if config["init_from"] == "resume":
        optimizer.load_state_dict(checkpoint["optimizer"])
        restore_rng_state(checkpoint["rng"][rank] if rank < len(checkpoint["rng"]) else checkpoint["rng"][0],
                          batch_gen, device)
        del checkpoint
        if master:
            truncate_results(results_path, iter_num)
    raw_model = model
    if config["compile"] and device.split(":")[0] in ("cuda", "cpu"):
        model = torch.compile(model, mode=config["compile_mode"])
    if ddp:
        from torch.nn.parallel import DistributedDataParallel as DDP
        model = DDP(model, device_ids=[int(device.split(":")[1])] if device.startswith("cuda") else None)
    ctx = autocast(device, config["dtype"])

    def gather_rng_states():
        state = rng_state(batch_gen, device)
        if not ddp:
            return [state]
        states = [None] * world_size
        torch.distributed.all_gather_object(states, state)
        return states

    progress = tqdm(total=config["max_iters"], initial=iter_num, disable=config["quiet"] or not master,
                    dynamic_ncols=True, mininterval=0.5)
    t_start = time.time() - elapsed_before
    note = ""
    try:
        while True:
            lr = get_lr(iter_num, config)
            for group in optimizer.param_groups:
                group["lr"] = lr
            if iter_num % config["eval_interval"] == 0 or iter_num == config["max_iters"]:
                rng_states = gather_rng_states()
                if master:
                    row = evaluate_and_save(raw_model, optimizer, model_args, config, data, codec, device, iter_num,
                                            lr, time.time() - t_start, best, rng_states, world_size)
                    note = accuracy_note(row)
                    progress.set_postfix_str(f"loss {row['train_loss']:.4f} | {note}")
                    if config["quiet"]:
                        print(f"iter {iter_num}: loss {row['train_loss']:.4f} | {note} ({row['elapsed_s']:.1f}s)",
                              flush=True)
            if iter_num >= config["max_iters"]:
                break
            X, Y = get_batch(data["train"], config["block_size"], config["batch_size"] // world_size, batch_gen)
            with ctx:
                _, loss = model(X, Y)
            loss.backward()
            if config["grad_clip"] != 0.0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config["grad_clip"])
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            iter_num += 1
            progress.update()
            if iter_num % config["log_interval"] == 0:
                loss_value = loss.item()  # the only host sync outside evaluation
                if not math.isfinite(loss_value):
                    raise TrainingDiverged(f"loss is {loss_value} at iteration {iter_num}")
                progress.set_postfix_str(f"loss {loss_value:.4f} | {note}", refresh=False)
    except KeyboardInterrupt:
        progress.close()
        exit_with_error(f"interrupted at iteration {iter_num}; {ckpt_path} and {results_path} hold the "
                        f"latest evaluation: continue with --init_from=resume")
    except TrainingDiverged as e:
        progress.close()
        exit_with_error(f"training diverged: {e}; stopping ({results_path} keeps the rows so far)")
    progress.close()
    if ddp:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    if master and not config["quiet"]:
        print(f"done: {config['max_iters']} iterations in {time.time() - t_start:.1f}s; results in {results_path}")


def accuracy_note(row):
    note = []
    if row["add_total"]:
        note.append(f"add {row['add_correct']}/{row['add_total']} sub {row['sub_correct']}/{row['sub_total']} "
                    f"(5,7) {row['heldout_correct']}/{row['heldout_total']}")
    if row["facts_total"]:
        note.append(f"facts {row['facts_correct']}/{row['facts_total']}")
    return " ".join(note)


def main(argv=None):
    config = parse_args_or_exit(DEFAULTS, argv)
    validate(config)
    train(config)


if __name__ == "__main__":
    main()
