"""
Speed of the training step and of one full evaluation, as nanoGPT's tools/bench.py.

    python tools/bench.py                                   # n14 arithmetic on the default device
    python tools/bench.py config/train_facts_mini_56.py --device=cpu --iters=200
    python tools/bench.py --stack=64 --device=cuda          # 64 stacked n14 models against one (toobig/training/stacked.py)
    python tools/bench.py --pool=2 --device=cpu             # a CPU sweep's throughput: 2 one-thread processes vs one
    python tools/bench.py config/train_facts_mlt.py --pool=3 --device=cuda   # 3 runs sharing one GPU vs one alone

Prints medians: ms per training iteration (measured over blocks of 10
iterations, after warm-up) and seconds per full evaluation (loss + sampling).
Where the fused C++ step covers the run (toobig/training/fused_step.py), it is timed beside the
torch step, block after block, and their ratio printed (--step=torch: torch only).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the root, for python tools/<tool>.py from anywhere

import toobig  # noqa: F401  first, before torch: it pins the CPU kernels every run uses (toobig/core/reproducible.py)
import multiprocessing
import queue
import statistics
import time

import torch

from configurator import exit_with_error, parse_args
from toobig.core.devices import MACHINE_ERRORS, autocast, configure_torch, pick_device
from toobig.study.evaluation import Sampling, evaluate, split_loss
from toobig.study.tasks import get_task, task_tables
from toobig.training.fused_step import FusedStep, FusedStepUnavailable, uncovered
from toobig.training.step import draw_starts, get_batch, get_lr, load_data, model_args_from, new_model, train_step
from toobig.study.training_config import DEFAULTS, resolve, validate

OPTIONS = {"iters": 300, "eval_repeats": 10, "stack": 0, "pool": 0}


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device, repeats):
    times = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return times


def build(config, fused=False):
    """The model, optimizer and a 10-iteration training block of one run, set up as
    train_with_eval.train sets it up (at the learning rate of the middle of the run's
    schedule), stepped by the torch step (step.train_step, compiled as configured) or,
    with fused, by the fused C++ step (toobig/training/fused_step.py)."""
    device = pick_device(config["device"])
    configure_torch(device, config["threads"])
    data, codec = load_data(config["dataset"], device, config["held_out"], config["table_size"], config["table_seed"])
    torch.manual_seed(config["seed"])
    model = new_model(config, codec.vocab_size, device)
    lr = get_lr(config["max_iters"] // 2, config)
    optimizer = model.configure_optimizers(config["weight_decay"], lr, (config["beta1"], config["beta2"]),
                                           device.split(":")[0], config["decay_gains"])
    ctx = autocast(device, config["dtype"])
    generator = torch.Generator(device=device).manual_seed(config["seed"])
    if fused:
        step = FusedStep(model, optimizer, config, data)

        def train_block(n=10):
            for _ in range(n):
                step(draw_starts(data, config["block_size"], config["batch_size"], generator), lr)
        return device, model, codec, data, ctx, train_block
    step_model = torch.compile(model, mode=config["compile_mode"]) if config["compile"] else model

    def train_block(n=10):
        for _ in range(n):
            X, Y = get_batch(data, config["block_size"], config["batch_size"], generator)
            train_step(lambda x, y: step_model(x, y)[1], model.parameters(), optimizer, X, Y, ctx, config["grad_clip"])

    return device, model, codec, data, ctx, train_block


def paired_steps(config, device, blocks):
    """ms/iter of each step, timed in turn block after block (A B A B ...) so that a drift in
    the machine's speed falls on both: {name: [ms per iteration of each block]}."""
    for block in blocks.values():
        timed(block, device, 3)  # warm-up (and compilation)
    times = {name: [] for name in blocks}
    for _ in range(config["iters"] // 10):
        for name, block in blocks.items():
            times[name] += [t * 100 for t in timed(block, device, 1)]
    return times


def main(argv=None):
    try:
        config = parse_args({**DEFAULTS, **OPTIONS}, sys.argv[1:] if argv is None else argv)
        bench_config = resolve({k: v for k, v in config.items() if k not in OPTIONS})
        validate(bench_config)
        config.update(bench_config)
        if config["iters"] < 10 or config["eval_repeats"] < 1:
            raise ValueError(f"--iters={config['iters']} must be at least 10 (blocks of 10 are timed) and "
                             f"--eval_repeats={config['eval_repeats']} at least 1")
        if config["pool"]:
            return bench_pool(config)
        device, model, codec, data, ctx, train_block = build(config)
        blocks = {"torch step" + (" (compiled)" if config["compile"] else " (eager)"): train_block}
        if uncovered(config, device) is None and config["step"] != "torch" and not config["stack"]:
            blocks["fused step"] = build(config, fused=True)[-1]
    except (ValueError, *MACHINE_ERRORS, FusedStepUnavailable) as e:
        exit_with_error(e)

    def full_evaluation():
        with ctx:
            split_loss(model, data, config["block_size"])
            evaluate(model, codec, get_task(config["dataset"]).parts, Sampling(), seed=0,  # (scores, items)
                     tables=task_tables(config["dataset"], config["table_size"], config["table_seed"]))

    if config["stack"]:
        return bench_stack(config, data, codec, device, ctx, train_block)
    step_ms = paired_steps(config, device, blocks)
    full_evaluation()
    eval_s = timed(full_evaluation, device, config["eval_repeats"])
    print(f"device {device}, {torch.get_num_threads()} threads, {config['dataset']}, "
          f"n_embd {config['n_embd']}, {model.get_num_params():,} parameters")
    for name, ms in step_ms.items():
        print(f"train, {name}: median {statistics.median(ms):.2f} ms/iter "
              f"(min {min(ms):.2f}, max {max(ms):.2f}, {len(ms) * 10} iters)")
    if len(step_ms) == 2:
        torch_ms, fused_ms = step_ms.values()
        ratios = [f / t for f, t in zip(fused_ms, torch_ms)]
        print(f"fused / torch: {statistics.median(fused_ms) / statistics.median(torch_ms):.2f} (ratio of medians; "
              f"pairs {min(ratios):.2f}-{max(ratios):.2f}, median {statistics.median(ratios):.2f})")
    print(f"eval:  median {statistics.median(eval_s) * 1000:.1f} ms per full evaluation "
          f"(min {min(eval_s) * 1000:.1f}, {len(eval_s)} runs)")


def pool_worker(config, threads, start_together, results):
    """One training process of a CPU sweep: median ms/iter with `threads` threads."""
    device, _, _, _, _, train_block = build({**config, "threads": threads})
    timed(train_block, device, 3)  # warm-up (and compilation)
    start_together.wait()  # no process times its steps while another is still compiling
    results.put(statistics.median(timed(train_block, device, config["iters"] // 10)) * 100)


def step_ms_of_processes(config, n_processes, threads):
    spawn = multiprocessing.get_context("spawn")
    start_together, results = spawn.Barrier(n_processes), spawn.Queue()
    workers = [spawn.Process(target=pool_worker, args=(config, threads, start_together, results), daemon=True)
               for _ in range(n_processes)]
    for w in workers:
        w.start()
    step_ms = []
    while len(step_ms) < n_processes:
        try:
            step_ms.append(results.get(timeout=5))
        except queue.Empty:  # a worker that died would leave the others waiting at the barrier forever
            crashed = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
            if crashed:
                raise ValueError(f"a benchmark process failed (exit code {crashed[0]}); run without --pool to see why")
    for w in workers:
        w.join()
    return step_ms


def bench_pool(config):
    """Model-iterations per second of `pool` runs trained at once, one process each, against the
    same runs one after another. CPU (tools/sweep.py, tools/run_configs.py): one-thread processes against one
    process with `pool` threads. GPU: processes sharing the device against one process alone."""
    n = config["pool"]
    on_cpu = pick_device(config["device"]) == "cpu"
    (one_after_another,) = step_ms_of_processes(config, 1, n if on_cpu else 1)
    at_once = step_ms_of_processes(config, n, 1)
    sequential, pooled = 1000 / one_after_another, sum(1000 / ms for ms in at_once)
    alone, each = (f"1 process x {n} threads", f"{n} processes x 1 thread") if on_cpu else ("1 process", f"{n} processes")
    print(f"{pick_device(config['device'])}, {config['dataset']}, n_embd {config['n_embd']}, compile {config['compile']}")
    print(f"one after another, {alone}: median {one_after_another:.2f} ms/iter "
          f"= {sequential:.0f} model-iterations/s")
    print(f"at once, {each}: median {statistics.median(at_once):.2f} ms/iter each "
          f"= {pooled:.0f} model-iterations/s ({pooled / sequential:.2f}x)")


def bench_stack(config, data, codec, device, ctx, single_block):
    """ms per iteration of K stacked models (toobig/training/stacked.py) against one plain model, same run."""
    from toobig.training.stacked import build_stack, stack_step
    configs = [{**config, "seed": seed, "out_dir": f"stack_{seed}"} for seed in range(config["stack"])]
    _, params, _, stacked_optimizer, stacked_loss = build_stack(
        configs, model_args_from(config, codec.vocab_size), device)
    gens = [torch.Generator(device=device).manual_seed(seed) for seed in range(config["stack"])]

    def stack_block(n=10):
        for _ in range(n):
            stack_step(params, stacked_loss, stacked_optimizer, data, gens, config, ctx)

    for block in (single_block, stack_block):
        timed(block, device, 3)  # warm-up
    single = statistics.median(timed(single_block, device, config["iters"] // 10)) * 100
    stacked = statistics.median(timed(stack_block, device, config["iters"] // 10)) * 100
    print(f"device {device}, {torch.get_num_threads()} threads, {config['dataset']}, n_embd {config['n_embd']}")
    print(f"one model: median {single:.2f} ms/iter; {config['stack']} stacked: median {stacked:.2f} ms/iter "
          f"= {stacked / single:.2f}x one model, {config['stack'] * 1000 / stacked:.0f} model-iterations/s")


if __name__ == "__main__":
    main()
