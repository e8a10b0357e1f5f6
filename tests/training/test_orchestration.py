"""Orchestrators (tools/sweep.py, tools/run_configs.py, toobig/training/pool.py) beside one another and away from the
repository (issue 35): a run's state is decided while the run is held, so no finished run is
trained again, and every script the tools start or config they pick is the repository's."""
import csv
import fcntl
import os
import shutil
import subprocess
import sys
import threading

import pytest
import torch

from tools import run_configs
from tools import sweep
import train_with_eval
from conftest import REPO, run_main
from toobig.runs.run_folder import CLAIM_FILE, RunFolder

HOLD_S = 3  # how long another process holds a run in these tests: longer than one look by a waiting pool
TINY = ["--task=math", "--sizes=4", "--max_iters=20", "--device=cpu", "--compile=False", "--jobs=2"]


@pytest.fixture(autouse=True)
def one_thread():
    # in-process training this small is as fast on one thread, and leaves the other core alone
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def finished_run(folder):
    """A finished run of the default config (the n14 arithmetic model) in `folder`: one evaluation."""
    result = run_main(train_with_eval.main, f"--out_dir={folder}", "--max_iters=0", "--device=cpu", "--compile=False",
                      "--quiet", "--eval_interval=20")
    assert result.returncode == 0, result.stderr
    return folder


def config_file(path, out_dir):
    """A config file of that run (max_iters 0: finished at its first evaluation)."""
    path.write_text(f"out_dir = {str(out_dir)!r}\nmax_iters = 0\neval_interval = 20\ncompile = False\n"
                    f"device = 'cpu'\n")
    return path


def summary_rows(folder):
    with open(folder / "summary.csv") as f:
        return list(csv.DictReader(f))


# --- KIND 3: two orchestrators on one folder ----------------------------------------
def test_two_sweeps_started_together_train_each_run_once(tmp_path):
    out = tmp_path / "sweep"
    cmd = [sys.executable, "tools/sweep.py", *TINY, "--seeds=1,2", f"--out={out}"]
    procs = [subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [p.communicate(timeout=600) + (p.returncode,) for p in procs]
    assert [code for _, _, code in results] == [0, 0], results
    said = "".join(stdout for stdout, _, _ in results)
    # each of the two runs trained by one sweep; the other found it held, then finished
    assert said.count(" -> train") == 2 and said.count(": done in") == 2 and "FAILED" not in said, said
    assert said.count("math_n4_s1: finished") == said.count("math_n4_s2: finished") == 1, said
    rows = summary_rows(out)
    assert [(r["seed"], r["finished"]) for r in rows] == [("1", "True"), ("2", "True")]
    # the summary is the last sweep's, from both finished runs; one that ended first left it
    assert any(stdout.rstrip().endswith("from 2 of 2 runs (2 finished)") for stdout, _, _ in results), said
    assert all(stdout.rstrip().endswith(("(2 finished)", "once it has)")) for stdout, _, _ in results), said


def test_a_run_finished_after_its_state_was_first_read_is_not_trained_again(tmp_path):
    # two configs of one run (one out_dir): read before the pool starts, both runs look new; the
    # second is decided only when the pool takes it up, after the first has finished it
    out_dir = tmp_path / "run"
    first, second = config_file(tmp_path / "a.py", out_dir), config_file(tmp_path / "b.py", out_dir)
    result = run_main(run_configs.main, first, second, "--jobs=1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{first}: new -> train" in result.stdout and f"{second}: finished" in result.stdout, result.stdout
    assert result.stdout.count(": done in") == 1, result.stdout


def test_a_stacked_sweep_decides_each_run_when_it_holds_it(tmp_path):
    # the CUDA path (toobig/training/stacked.py), run on the CPU: the same run twice is one stack's run, then finished
    runs, _ = sweep.grid({**sweep.OPTIONS, "sizes": "4", "seeds": "1", "max_iters": 20, "device": "cpu",
                          "compile": False, "out": str(tmp_path / "sweep")})
    (name, args, config), = runs
    assert sweep.train_stacks([(name, args, config), (name, args, config)], "cpu", stack=64) == 0
    with open(tmp_path / "sweep" / name / "results.csv") as f:
        assert [row["iter"] for row in csv.DictReader(f)] == ["0", "20"]


def test_a_run_another_process_holds_is_waited_for_not_failed_nor_trained_again(tmp_path):
    source = finished_run(tmp_path / "elsewhere")
    out_dir = tmp_path / "run"
    holder = RunFolder(out_dir)
    holder.claim()  # another process's run, still training as far as the pool can tell

    def finish():  # that process writes its last evaluation and ends
        for path in source.iterdir():
            if path.is_file() and path.name != CLAIM_FILE:
                shutil.copy(path, out_dir / path.name)
        holder.release()

    timer = threading.Timer(HOLD_S, finish)
    timer.start()
    try:
        result = run_main(run_configs.main, config_file(tmp_path / "a.py", out_dir), "--jobs=1")
    finally:
        timer.cancel()
        holder.release()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "in use by process" in result.stdout and "left for later" in result.stdout, result.stdout
    assert "finished" in result.stdout and "-> train" not in result.stdout, result.stdout


def test_a_sweep_that_ends_while_another_trains_leaves_the_summary_to_it(tmp_path):
    out = tmp_path / "sweep"
    args = [*TINY, "--seeds=1", "--max_iters=0", f"--out={out}"]
    assert run_main(sweep.main, *args).returncode == 0
    (out / "summary.csv").unlink()
    # another sweep, still training runs of this folder, holds it shared (tools/sweep.py's docstring)
    folder = os.open(out, os.O_RDONLY)
    fcntl.flock(folder, fcntl.LOCK_SH)
    try:
        result = run_main(sweep.main, *args)
        assert result.returncode == 0, result.stderr
        assert "another sweep is still training runs in" in result.stdout, result.stdout
        assert not (out / "summary.csv").exists()
        assert "left to it" in run_main(sweep.main, *args, "--summarize_only").stdout
    finally:
        os.close(folder)
    result = run_main(sweep.main, *args)  # the last to end writes it
    assert result.returncode == 0 and result.stdout.rstrip().endswith("from 1 of 1 runs (1 finished)"), result.stdout
    assert len(summary_rows(out)) == 1


# --- KIND 5: commands that depend on the working directory ---------------------------
def test_the_orchestrators_work_from_any_directory(tmp_path):
    # paths the user gives are the working directory's; the configs and scripts the tools use
    # of their own are the repository's
    result = subprocess.run([sys.executable, str(REPO / "tools" / "sweep.py"), *TINY, "--seeds=1", "--out=sweep"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "sweep" / "math_n4_s1" / "results.csv").is_file() and summary_rows(tmp_path / "sweep")
    config_file(tmp_path / "mine.py", "run")
    result = subprocess.run([sys.executable, str(REPO / "tools" / "run_configs.py"), "mine.py", "--jobs=1"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr + (tmp_path / "run" / "train.log").read_text()
    assert "mine.py: new -> train" in result.stdout and (tmp_path / "run" / "run.json").is_file()
    assert not (REPO / "sweep").exists() and not (REPO / "run").exists()


def test_a_sweep_leaves_no_claim_file_in_its_runs(tmp_path):
    """issue 36: the pool's decision and the trainer each claim a run and let it go; neither
    leaves its claim file behind (the sweep folder's own lock is a flock on the folder, no file)."""
    out = tmp_path / "sweep"
    assert run_main(sweep.main, *TINY, "--seeds=1,2", f"--out={out}").returncode == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["math_n4_s1", "math_n4_s2"]
    assert not list(out.rglob(CLAIM_FILE))
