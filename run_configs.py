"""
Train a set of configs to completion, a few at a time, skipping finished runs.

    python run_configs.py config/train_*_mini_*.py               # 2 processes x 1 thread
    python run_configs.py config/train_math_mini_14.py --jobs=1 --threads=2

On a 2-core CPU two single-threaded runs train more iterations per second than
one run on both cores (README, "Speed"). An interrupted run resumes from its
ckpt.pt. Each run's output goes to <out_dir>/train.log. sweep.py uses the same pool.
"""
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from configurator import exit_with_error, load_config_file, parse_args
from train_with_eval import DEFAULTS, resolve

OPTIONS = {"jobs": 2, "threads": 1, "dry_run": False}


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


def train_all(jobs, n_processes, threads):
    """jobs: [(label, train_with_eval args, config)]; unfinished ones are trained by a pool."""
    todo = []
    for label, args, config in jobs:
        state = run_state(config)
        print(f"{label}: {state}{'' if state == 'finished' else ' -> train'}")
        if state != "finished":
            todo.append((label, args, config))
    if not todo:
        return []
    start = time.time()
    with ThreadPoolExecutor(n_processes) as pool:
        codes = list(pool.map(lambda job: train_in_subprocess(*job, threads), todo))
    print(f"{len(todo)} runs in {time.time() - start:.0f}s, {sum(c != 0 for c in codes)} failed")
    return codes


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    paths = [a for a in argv if not a.startswith("--")]
    try:
        options = parse_args(OPTIONS, [a for a in argv if a.startswith("--")], allow_config_files=False)
        jobs = [(path, [path], resolve({**DEFAULTS, **load_config_file(path, DEFAULTS)})) for path in paths]
        if not paths:
            raise ValueError("no config files given; e.g. python run_configs.py config/train_*_mini_*.py")
    except ValueError as e:
        exit_with_error(e)
    if options["dry_run"]:
        for label, _, config in jobs:
            print(f"{label}: {run_state(config)}")
        return
    codes = train_all(jobs, options["jobs"], options["threads"])
    sys.exit(1 if any(codes) else 0)


if __name__ == "__main__":
    main()
