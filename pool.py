"""
Train runs in subprocesses of train_with_eval.py, a few at a time, skipping
finished runs and resuming partial ones: the pool that run_configs.py and
sweep.py share. On a 2-core CPU two single-threaded runs train more
iterations per second than one run on both cores (SPEED.md). Each run's
output goes to <out_dir>/train.log.
"""
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from configurator import ConfigError
from runs import TRAIN_LOG, read_run_json
from training_config import changed_keys, saved_config


def check_pool(n_processes, threads):
    """Raise ConfigError unless the pool's sizes make sense: --jobs >= 1, --threads >= 0."""
    if n_processes < 1:
        raise ConfigError(f"--jobs={n_processes} must be at least 1 (the processes training at once)")
    if threads < 0:
        raise ConfigError(f"--threads={threads} must be at least 0 (0: all cores)")


def run_state(config, overwrite=False):
    """'finished', 'partial' (a ckpt.pt to resume from), 'new', or 'replace' (with overwrite, for
    a folder holding a run made with another config). A run counts as finished only if it
    was made with the config asked for; without overwrite, a folder holding another run's
    results is a ConfigError naming the first key that differs."""
    out_dir = Path(config["out_dir"])
    info = read_run_json(out_dir / "run.json")
    if info:
        changed = changed_keys(saved_config(info), config)
        if changed and overwrite:
            return "replace"
        if changed:
            key, saved, asked = changed[0]
            raise ConfigError(f"{out_dir} holds a run made with {key}={saved!r}, not the {key}={asked!r} asked for; "
                              f"give this run another out_dir, or --overwrite to replace that run")
        if info.get("finished") and info["iter_num"] >= config["max_iters"]:
            return "finished"
    return "partial" if (out_dir / "ckpt.pt").exists() else "new"


def train_in_subprocess(label, args, config, threads, state):
    """python train_with_eval.py *args, resuming a partial run; returns the exit code."""
    out_dir = Path(config["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    # a partial run resumes from its checkpoint; one without a checkpoint has nothing to
    # resume and starts again (replacing any rows it wrote before its first checkpoint)
    resume = ["--init_from=resume"] if state == "partial" else ["--overwrite"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.time()
    # the log of this run: started anew with the run, continued with a resumed one
    with open(out_dir / TRAIN_LOG, "a" if state == "partial" else "w") as log:
        code = subprocess.call([sys.executable, "train_with_eval.py", *args, "--quiet", f"--threads={threads}", *resume],
                               stdout=log, stderr=subprocess.STDOUT, env=env)
    status = "done" if code == 0 else f"FAILED (exit {code}, see {out_dir / TRAIN_LOG})"
    print(f"{label}: {status} in {time.time() - start:.0f}s", flush=True)
    return code


def train_all(runs, n_processes, threads, overwrite=False):
    """runs: [(label, train_with_eval args, config)]; the unfinished ones are trained by a pool of
    n_processes subprocesses with `threads` threads each. Returns their exit codes."""
    todo = []
    states = [run_state(config, overwrite) for _, _, config in runs]  # every refusal before any training
    for (label, args, config), state in zip(runs, states):
        print(f"{label}: {state}{'' if state == 'finished' else ' -> train'}")
        if state != "finished":
            todo.append((label, args, config, state))
    if not todo:
        return []
    start = time.time()
    with ThreadPoolExecutor(n_processes) as pool:
        codes = list(pool.map(lambda run: train_in_subprocess(*run[:3], threads, run[3]), todo))
    print(f"{len(todo)} runs in {time.time() - start:.0f}s, {sum(c != 0 for c in codes)} failed")
    return codes
