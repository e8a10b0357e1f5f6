"""
Train runs in subprocesses of train_with_eval.py, a few at a time, skipping
finished runs and resuming partial ones: the pool that tools/run_configs.py and
tools/sweep.py share. On a 2-core CPU two single-threaded runs train more
iterations per second than one run on both cores (docs/SPEED.md). Each run's
output goes to <out_dir>/train.log.

Several orchestrators may work on the same runs at once (one sweep started
twice on one --out, shards of a sweep, tools/run_configs.py beside a sweep). So a
run's state is decided only while its folder is held (held_run): locked
against every other orchestrator for as long as this one works on it, and
decided while its claim (run_folder.RunFolder.claim) is taken, so that no
trainer is writing it either. The pool keeps holding the folder until the
training it starts there ends, so nothing can change between the decision
and the training: a run another process finished is found finished, never
trained again. A run held by another process is left for later and, once the
pool's other runs are done, waited for and decided again; it is not a failure.
"""
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from configurator import ConfigError
from toobig import REPO
from toobig.runs.reading import TRAIN_LOG, read_run_json
from toobig.runs.run_folder import RunFolder, RunInUse
from toobig.study.training_config import changed_keys, saved_config

try:
    import fcntl  # flock, as toobig/runs/run_folder.py uses it; dropped by the kernel when the holder ends
except ImportError:  # Windows: folders go unlocked there, as run folders go unclaimed
    fcntl = None

TRAINER = REPO / "train_with_eval.py"  # the repository's, whatever the working directory
HELD = "held"  # a run another process holds: left for later, then waited for
WAIT_POLL_S = 2  # how often a pool waiting for a run another process holds looks again


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
    results is a ConfigError naming the first key that differs. Read without holding the
    folder, this is only a forecast (tools/run_configs.py --dry_run, check_states): held_run decides."""
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


def check_states(runs, overwrite=False):
    """Every refusal run_state makes, before any run trains (a run of another config in a folder),
    and an out_dir that is a file."""
    for _, _, config in runs:
        out_dir = Path(config["out_dir"])
        if out_dir.exists() and not out_dir.is_dir():
            raise ConfigError(f"out_dir={out_dir} is a file, not a folder; give the run a folder")
        run_state(config, overwrite)


@contextmanager
def locked_folder(path, shared=False, wait=False, on_wait=None, stop=None):
    """flock on the folder itself (created if need be), held for the with-block; yields True, or
    False where another process holds it and not wait. With wait, on_wait() is called and the
    lock tried again every WAIT_POLL_S seconds until it is had, or until the event `stop` is
    set (then False). The folder, not a file in it: a run started from scratch empties its
    folder's files (RunFolder.start). Where the file system cannot lock (Windows; NFS depends
    on the mount) it yields True: the runs' claims still keep two trainers out of one folder."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield True
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        yield _flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX, wait, on_wait, stop or threading.Event())
    finally:
        os.close(fd)  # closing drops the lock


def _flock(fd, kind, wait, on_wait, stop):
    while True:
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if not wait or stop.is_set():
                return False
        except OSError:  # no locks on this file system
            return True
        if on_wait:
            on_wait()
            on_wait = None
        # polled, not a blocking flock: a pool that is stopping (stop) must not wait on
        stop.wait(WAIT_POLL_S)


def decide(label, config, overwrite, wait, stop):
    """(state, whether the folder holds a run's files), decided while the run's claim is taken, so
    that no trainer writes the folder meanwhile; (HELD, None) where a trainer holds it and not
    wait; with wait, looks again every WAIT_POLL_S seconds until it is free or `stop` is set."""
    folder = RunFolder(config["out_dir"])
    said = False
    while True:
        try:
            folder.claim()
            break
        except RunInUse as e:
            holder = f"{folder.path} is in use by {e.holder}"
            if not wait or stop.is_set():
                print(f"{label}: {holder}; left for later", flush=True)
                return HELD, None
            if not said:
                print(f"{label}: {holder}; waiting for it", flush=True)
                said = True
            stop.wait(WAIT_POLL_S)
    try:
        return run_state(config, overwrite), folder.holds_a_run()
    finally:
        folder.release()  # the trainer claims it itself; this pool keeps the folder locked meanwhile


@contextmanager
def held_run(label, config, overwrite=False, wait=False, stop=None):
    """Hold a run's folder against every other orchestrator for the with-block and yield
    (state, holds files): the state decided now (decide), or (HELD, None) where another process
    holds the run and not wait (or the event `stop` is set while waiting). The decision is printed."""
    stop = stop or threading.Event()

    def say_wait():
        print(f"{label}: in use by another process; waiting for it", flush=True)

    with locked_folder(config["out_dir"], wait=wait, on_wait=say_wait, stop=stop) as mine:
        if not mine:
            print(f"{label}: in use by another process; left for later", flush=True)
            yield HELD, None
            return
        state, holds_files = decide(label, config, overwrite, wait, stop)
        if state != HELD:
            print(f"{label}: {state}{'' if state == 'finished' else ' -> train'}", flush=True)
        yield state, holds_files


def train_in_subprocess(label, args, config, threads, state, holds_files=True):
    """python train_with_eval.py *args, resuming a partial run; returns the exit code. The caller
    holds the run (held_run), having decided `state` while holding it."""
    out_dir = Path(config["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    if state == "partial":
        resume = ["--init_from=resume"]
    elif state == "replace" or holds_files:
        # a run made with another config (the user gave --overwrite), or the files of a run
        # stopped before its first checkpoint (nothing to resume): it starts again from scratch
        resume = ["--overwrite"]
    else:
        # an empty folder: without --overwrite the trainer itself, under its claim, refuses a
        # folder a run has appeared in since, rather than replace that run
        resume = []
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.time()
    # the log of this run: started anew with the run, continued with a resumed one
    with open(out_dir / TRAIN_LOG, "a" if state == "partial" else "w") as log:
        code = subprocess.call([sys.executable, str(TRAINER), *args, "--quiet", f"--threads={threads}", *resume],
                               stdout=log, stderr=subprocess.STDOUT, env=env)
    status = "done" if code == 0 else f"FAILED (exit {code}, see {out_dir / TRAIN_LOG})"
    print(f"{label}: {status} in {time.time() - start:.0f}s", flush=True)
    return code


def train_one(run, threads, overwrite, wait, stop):
    """One run of the pool: its exit code if it was trained here, None if it was finished, HELD
    if another process holds it (and not wait, or the pool is stopping)."""
    label, args, config = run
    try:
        with held_run(label, config, overwrite, wait, stop) as (state, holds_files):
            if state in (HELD, "finished"):
                return None if state == "finished" else HELD
            return train_in_subprocess(label, args, config, threads, state, holds_files)
    except ValueError as e:  # e.g. another config's run has appeared in its folder since check_states
        print(f"{label}: FAILED: {e}", flush=True)
        return 2


def train_all(runs, n_processes, threads, overwrite=False):
    """runs: [(label, train_with_eval args, config)]; the unfinished ones are trained by a pool of
    n_processes subprocesses with `threads` threads each, each run decided as the pool takes it
    up (held_run). Runs other processes hold are taken up again, waiting for them, once the
    others are done. Returns the exit codes of the runs trained here."""
    check_states(runs, overwrite)  # every refusal before any training
    start = time.time()
    codes, pending, stop = [], list(runs), threading.Event()
    with ThreadPoolExecutor(n_processes) as pool:
        try:
            for wait in (False, True):
                outcomes = list(pool.map(lambda run: train_one(run, threads, overwrite, wait, stop), pending))
                codes += [code for code in outcomes if code not in (None, HELD)]
                pending = [run for run, code in zip(pending, outcomes) if code == HELD]
                if not pending:
                    break
        except BaseException:  # Ctrl-C: the trainings end with it; runs still waited for are not waited for
            stop.set()
            raise
    if codes:
        print(f"{len(codes)} runs in {time.time() - start:.0f}s, {sum(c != 0 for c in codes)} failed")
    return codes
