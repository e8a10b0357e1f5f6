"""
Train runs in subprocesses of train_with_eval.py, a few at a time, skipping
finished runs and resuming partial ones: the pool that run_configs.py and
sweep.py share. On a 2-core CPU two single-threaded runs train more
iterations per second than one run on both cores (SPEED.md). Each run's
output goes to <out_dir>/train.log.
"""
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def run_state(config):
    """'finished', 'partial' (a ckpt.pt to resume from) or 'new'."""
    out_dir = Path(config["out_dir"])
    if (out_dir / "results.csv").exists() and (out_dir / "run.json").exists():
        run = json.loads((out_dir / "run.json").read_text())
        if run.get("finished") and run["iter_num"] >= config["max_iters"]:
            return "finished"
    return "partial" if (out_dir / "ckpt.pt").exists() else "new"


def train_in_subprocess(label, args, config, threads):
    """python train_with_eval.py *args, resuming a partial run; returns the exit code."""
    out_dir = Path(config["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    # a partial run resumes from its checkpoint; one without a checkpoint has nothing to
    # resume and starts again (replacing any rows it wrote before its first checkpoint)
    resume = ["--init_from=resume"] if run_state(config) == "partial" else ["--overwrite"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.time()
    with open(out_dir / "train.log", "a") as log:
        code = subprocess.call([sys.executable, "train_with_eval.py", *args, "--quiet", f"--threads={threads}", *resume],
                               stdout=log, stderr=subprocess.STDOUT, env=env)
    status = "done" if code == 0 else f"FAILED (exit {code}, see {out_dir / 'train.log'})"
    print(f"{label}: {status} in {time.time() - start:.0f}s", flush=True)
    return code


def train_all(runs, n_processes, threads):
    """runs: [(label, train_with_eval args, config)]; the unfinished ones are trained by a pool of
    n_processes subprocesses with `threads` threads each. Returns their exit codes."""
    todo = []
    for label, args, config in runs:
        state = run_state(config)
        print(f"{label}: {state}{'' if state == 'finished' else ' -> train'}")
        if state != "finished":
            todo.append((label, args, config))
    if not todo:
        return []
    start = time.time()
    with ThreadPoolExecutor(n_processes) as pool:
        codes = list(pool.map(lambda run: train_in_subprocess(*run, threads), todo))
    print(f"{len(todo)} runs in {time.time() - start:.0f}s, {sum(c != 0 for c in codes)} failed")
    return codes
