"""
Train a set of configs to completion, a few at a time, skipping finished runs.

    python run_configs.py config/train_*_mini_*.py               # 2 processes x 1 thread
    python run_configs.py config/train_math_mini_14.py --jobs=1 --threads=2

On a 2-core CPU two single-threaded runs train more iterations per second than
one run on both cores (README, "Speed"). An interrupted run resumes from its
ckpt.pt. Each run's output goes to <out_dir>/train.log.
"""
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from configurator import ConfigError, exit_with_error, load_config_file, parse_args
from train_with_eval import DEFAULTS

OPTIONS = {"jobs": 2, "threads": 1, "dry_run": False}


def run_state(config):
    """'finished', 'partial' (a ckpt.pt to resume from) or 'new'."""
    out_dir = Path(config["out_dir"])
    results = out_dir / "results.csv"
    if results.exists() and (out_dir / "run.json").exists():
        run = json.loads((out_dir / "run.json").read_text())
        if run.get("finished") and run["iter_num"] >= config["max_iters"]:
            return "finished"
    return "partial" if (out_dir / "ckpt.pt").exists() else "new"


def train(path, config, threads):
    out_dir = Path(config["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    resume = ["--init_from=resume"] if run_state(config) == "partial" else []
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.time()
    with open(out_dir / "train.log", "a") as log:
        code = subprocess.call([sys.executable, "train_with_eval.py", path, "--quiet", *resume],
                               stdout=log, stderr=subprocess.STDOUT, env=env)
    status = "done" if code == 0 else f"FAILED (exit {code}, see {out_dir / 'train.log'})"
    print(f"{path}: {status} in {time.time() - start:.0f}s", flush=True)
    return code


def main():
    paths = [a for a in sys.argv[1:] if not a.startswith("--")]
    try:
        options = parse_args(OPTIONS, [a for a in sys.argv[1:] if a.startswith("--")], allow_config_files=False)
        configs = {path: {**DEFAULTS, **load_config_file(path, DEFAULTS)} for path in paths}
    except ConfigError as e:
        exit_with_error(e)
    if not paths:
        exit_with_error("no config files given; e.g. python run_configs.py config/train_*_mini_*.py")
    todo = []
    for path, config in configs.items():
        state = run_state(config)
        print(f"{path}: {state}{'' if state == 'finished' else ' -> train'}")
        if state != "finished":
            todo.append(path)
    if options["dry_run"] or not todo:
        return
    start = time.time()
    with ThreadPoolExecutor(options["jobs"]) as pool:
        codes = list(pool.map(lambda p: train(p, configs[p], options["threads"]), todo))
    print(f"{len(todo)} runs in {time.time() - start:.0f}s, {sum(c != 0 for c in codes)} failed")
    sys.exit(1 if any(codes) else 0)


if __name__ == "__main__":
    main()
