"""Situations from public nanoGPT and grokking bug reports, replayed (issue "Twenty-two
situations"): each kind of fault has a test that failed before its fix."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tools import run_configs
import train_with_eval
from conftest import REPO, run_cli, run_main
from toobig.runs.run_folder import RunError, RunFolder

MATH_14 = REPO / "config/train_math_mini_14.py"
FAST = ["--device=cpu", "--compile=False", "--quiet", "--eval_interval=20"]


def train(*args):
    return run_main(train_with_eval.main, MATH_14, *FAST, *args)


def one_line_error(result, text):
    assert result.returncode == 2, result.stderr
    assert text in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


# 1. a run holds its folder for its whole life
def test_two_runs_started_together_never_share_a_folder(tmp_path):
    cmd = [sys.executable, "train_with_eval.py", str(MATH_14), f"--out_dir={tmp_path}", *FAST, "--max_iters=60"]
    procs = [subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    codes = sorted(code for _, _, code in results)
    assert codes == [0, 2], results
    refused = next(err for _, err, code in results if code == 2)
    # while the first runs, its claim refuses the second; a second that starts late (a loaded
    # machine, a 60-iteration run of a fraction of a second) finds the finished run instead
    assert "is in use by process" in refused or "already holds a run" in refused, refused
    assert len(refused.strip().splitlines()) == 1
    with open(tmp_path / "results.csv") as f:
        assert [line.split(",")[0] for line in f][1:] == ["0", "20", "40", "60"]  # one run's rows, once each


def test_a_claim_left_by_a_killed_process_does_not_block(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", f"from toobig.runs.run_folder import RunFolder; import time; "
                               f"folder = RunFolder({str(tmp_path)!r}); folder.claim(); print('held', flush=True); time.sleep(120)"],
                              cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(RunError, match=f"is in use by process {holder.pid}"):
        RunFolder(tmp_path).claim()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert train(f"--out_dir={tmp_path}", "--max_iters=20").returncode == 0


# 2. every check before a file is removed; --overwrite removes the whole old run
def test_overwrite_removes_nothing_until_every_check_has_passed(tmp_path, monkeypatch):
    assert train(f"--out_dir={tmp_path}", "--max_iters=20").returncode == 0
    (tmp_path / "plot.png").write_bytes(b"a figure of the old run")
    before = (tmp_path / "results.csv").read_text()
    monkeypatch.setenv("CXX", "/no/such/compiler")
    result = run_main(train_with_eval.main, MATH_14, f"--out_dir={tmp_path}", "--device=cpu", "--quiet",
                      "--max_iters=20", "--overwrite")  # compiled: refused before the folder is touched
    one_line_error(result, "torch.compile and the fused step need a C++ compiler")
    assert (tmp_path / "results.csv").read_text() == before and (tmp_path / "plot.png").exists()
    monkeypatch.delenv("CXX")
    assert train(f"--out_dir={tmp_path}", "--max_iters=40", "--overwrite").returncode == 0
    assert not (tmp_path / "plot.png").exists()  # the old run's figure went with it


def test_overwrite_never_empties_a_folder_of_folders(tmp_path):
    assert train(f"--out_dir={tmp_path}", "--max_iters=0").returncode == 0
    (tmp_path / "another_run").mkdir()
    one_line_error(train(f"--out_dir={tmp_path}", "--max_iters=0", "--overwrite"), "holds folders (another_run)")


# 3. one loader checks a whole checkpoint, for the tools and for resume
def test_resume_takes_a_compiled_models_checkpoint(tmp_path):
    assert train(f"--out_dir={tmp_path}", "--max_iters=20").returncode == 0
    checkpoint = torch.load(tmp_path / "ckpt.pt", weights_only=False)
    checkpoint["model"] = {f"_orig_mod.{k}": v for k, v in checkpoint["model"].items()}
    torch.save(checkpoint, tmp_path / "ckpt.pt")
    result = train("--init_from=resume", f"--out_dir={tmp_path}", "--max_iters=40")
    assert result.returncode == 0, result.stderr


def test_resume_and_the_tools_refuse_a_checkpoint_that_does_not_fit(tmp_path):
    assert train(f"--out_dir={tmp_path}", "--max_iters=0").returncode == 0
    checkpoint = torch.load(tmp_path / "ckpt.pt", weights_only=False)
    torch.save({k: v for k, v in checkpoint.items() if k != "rng"}, tmp_path / "ckpt.pt")
    one_line_error(run_main(train_with_eval.main, "--init_from=resume", f"--out_dir={tmp_path}"), "it lacks rng")
    # no stoi, and a config naming the joint task, whose vocabulary is larger than the model's
    weights = {k: checkpoint[k] for k in ("model", "model_args", "iter_num")}
    torch.save({**weights, "config": {"dataset": "both_math_and_facts"}}, tmp_path / "model_best.pt")
    result = run_cli("eval_as_math.py", f"--out_dir={tmp_path}", "--ckpt=model_best.pt")
    one_line_error(result, "its vocabulary has 66 characters but its model 17")


# 4. limits that depend on the data
@pytest.mark.parametrize("block_size", [1764, 5000])
def test_a_block_as_long_as_the_text_is_refused(tmp_path, block_size):
    one_line_error(train(f"--out_dir={tmp_path}", f"--block_size={block_size}"),
                   f"block_size={block_size} must be less than the length of the as_math text (1764 characters)")
    assert not (tmp_path / "results.csv").exists()


# 5. the machine's failures: one line, exit 2, the folder resumable or empty
def test_a_full_disk_during_a_save_is_one_line_and_the_run_resumes(tmp_path, monkeypatch):
    from toobig.runs import run_folder
    real_save, calls = run_folder.save_torch, []

    def save_until_full(path, obj):
        calls.append(path)
        if len(calls) > 12:  # past the first two evaluations
            raise OSError(28, "No space left on device", str(path))
        real_save(path, obj)
    monkeypatch.setattr(run_folder, "save_torch", save_until_full)
    result = train(f"--out_dir={tmp_path}", "--max_iters=100")
    one_line_error(result, "No space left on device")
    assert "keeps every evaluation up to the one its ckpt.pt holds" in result.stderr  # what was kept
    assert not list(tmp_path.glob("*.tmp"))
    monkeypatch.setattr(run_folder, "save_torch", real_save)
    result = train("--init_from=resume", f"--out_dir={tmp_path}", "--max_iters=100")
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "results.csv") as f:
        assert [line.split(",")[0] for line in f][1:] == ["0", "20", "40", "60", "80", "100"]


def test_a_missing_compiler_is_said_before_the_run_starts(tmp_path):
    env = {**os.environ, "CXX": "/no/such/compiler"}
    result = subprocess.run([sys.executable, "train_with_eval.py", str(MATH_14), f"--out_dir={tmp_path}",
                             "--device=cpu", "--max_iters=10"], cwd=REPO, env=env, capture_output=True, text=True)
    one_line_error(result, "install one (g++) or run with --compile=False")
    assert not (tmp_path / "results.csv").exists()


# 7. orchestrators count a run finished only if it was made with the config asked for
def test_run_configs_refuses_a_finished_run_of_another_config(tmp_path):
    out_dir = tmp_path / "run"
    assert train(f"--out_dir={out_dir}", "--max_iters=0").returncode == 0
    edited = tmp_path / "edited.py"
    edited.write_text(f"n_embd = 28\nout_dir = {str(out_dir)!r}\nmax_iters = 0\neval_interval = 20\n")
    one_line_error(run_main(run_configs.main, edited, "--dry_run"), "holds a run made with n_embd=14")
    result = run_main(run_configs.main, edited, "--dry_run", "--overwrite", "--jobs", "1")  # and the space form
    assert result.returncode == 0 and "replace" in result.stdout, result.stderr
    same = tmp_path / "same.py"
    same.write_text(f"out_dir = {str(out_dir)!r}\nmax_iters = 0\ncompile = False\neval_interval = 20\n")
    assert "finished" in run_main(run_configs.main, same, "--dry_run").stdout


# 8. a tool re-scores a checkpoint as training scored it
def test_a_tool_rescores_a_committed_checkpoint_to_its_recorded_number():
    result = run_cli("eval_capitals.py", "--out_dir=results/facts_mini_28", "--ckpt=model_best.pt", "--json")
    assert result.returncode == 0, result.stderr
    scored = json.loads(result.stdout)
    with open(REPO / "results/facts_mini_28/results.csv") as f:
        row = next(line.split(",") for line in f if line.startswith(f"{scored['iter']},"))
    assert scored["correct"] == int(row[10]) == 480  # facts_correct: 96.0% at its best evaluation
    other = json.loads(run_cli("eval_capitals.py", "--out_dir=results/facts_mini_28", "--ckpt=model_best.pt",
                               "--json", "--seed=7").stdout)
    assert "seed 7" in other["sampling"] and "as training" not in other["sampling"]


# 9. options on the command line override config files wherever they stand
def test_an_option_before_the_config_file_still_wins(tmp_path):
    config, _ = train_with_eval.configure(__import__("configurator").parse_overrides(
        train_with_eval.DEFAULTS, [f"--out_dir={tmp_path}", str(REPO / "config/train_math_mini_28.py")]))
    assert config["out_dir"] == str(tmp_path) and config["n_embd"] == 28


# 10. one validator for the sampling settings, and --help everywhere
@pytest.mark.parametrize("script,args", [("sample.py", ["--top_k=0"]), ("eval_as_math.py", ["--top_k=0"]),
                                         ("eval_capitals.py", ["--top_k=0"]), ("train_with_eval.py", ["--eval_top_k=0"])])
def test_sampling_settings_are_checked_alike_everywhere(script, args, tmp_path):
    # checked before any file is read: the run folder named here does not exist
    result = run_cli(script, *args, f"--out_dir={tmp_path / 'no_run'}")
    one_line_error(result, "top_k=0 must be an integer of at least 1")


@pytest.mark.parametrize("script", ["train_with_eval.py", "sample.py", "eval_as_math.py", "tools/sweep.py", "tools/run_configs.py",
                                    "plot_results.py", "tools/margins.py", "tools/claims.py", "tools/facts_order.py", "tools/bench.py"])
def test_help_prints_the_usage_and_exits_0(script):
    result = run_cli(script, "--help")
    assert result.returncode == 0 and "options (default):" in result.stdout, result.stderr


def test_a_config_file_may_define_helpers(tmp_path):
    config_file = tmp_path / "config.py"
    config_file.write_text("import math\nfrom math import sqrt as root\n\ndef width(k):\n    return 14 * k\n\n"
                           "n_embd = width(2)\nlearning_rate = 1e-2 * root(1)\n")
    overrides = __import__("configurator").load_config_file(config_file, train_with_eval.DEFAULTS)
    assert overrides == {"n_embd": 28, "learning_rate": 0.01}


def test_the_pool_keeps_the_log_of_the_run_it_replaces(tmp_path):
    """--overwrite empties the folder but for the log the pool is writing for the new run."""
    out_dir = tmp_path / "run"
    assert train(f"--out_dir={out_dir}", "--max_iters=0").returncode == 0
    edited = tmp_path / "edited.py"
    edited.write_text(f"out_dir = {str(out_dir)!r}\nmax_iters = 20\neval_interval = 20\ncompile = False\nseed = 2\n")
    result = run_main(run_configs.main, edited, "--overwrite", "--jobs", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    log = (out_dir / "train.log").read_text()
    assert "iter 20:" in log and "done:" in log  # the new run's own log, whole
    assert json.loads((out_dir / "run.json").read_text())["config"]["seed"] == 2


def test_a_stack_touches_no_folder_until_it_holds_them_all(tmp_path):
    from toobig.training import stacked
    from toobig.study.training_config import DEFAULTS
    first, second = tmp_path / "s1", tmp_path / "s2"
    assert train(f"--out_dir={first}", "--max_iters=0").returncode == 0
    before = (first / "results.csv").read_text()
    holder = RunFolder(second)
    holder.claim()  # another process's run, as far as the stack can tell
    configs = [{**DEFAULTS, "seed": s, "out_dir": str(d), "max_iters": 0, "device": "cpu", "compile": False,
                "quiet": True} for s, d in ((1, first), (2, second))]
    with pytest.raises(RunError, match="is in use"):
        stacked.train_stack(configs, "cpu")
    holder.release()
    assert (first / "results.csv").read_text() == before  # the first folder was not emptied


@pytest.mark.parametrize("args,message", [(["--seed=abc"], "--seed='abc' must be an integer"),
                                          (["--num_samples=0"], "--num_samples=0 must be an integer of at least 1")])
def test_the_tools_check_their_options_before_scoring(args, message):
    one_line_error(run_cli("eval_as_math.py", "--out_dir=results/math_mini_14", "--ckpt=model_best.pt", *args), message)


def test_a_summary_refuses_a_grid_that_leaves_out_runs(tmp_path):
    result = run_cli("tools/sweep.py", "--task=math", "--sizes=14", "--seeds=1", "--out=results/sweeps/math", "--summarize_only")
    one_line_error(result, "holds runs this grid leaves out")
    one_line_error(run_cli("tools/sweep.py", "--task=math", f"--out={tmp_path}", "--summarize_only"), "no run of this sweep")


@pytest.mark.parametrize("args,message", [(["--jobs=0"], "--jobs=0 must be at least 1"),
                                          (["--threads=-1"], "--threads=-1 must be at least 0")])
def test_the_pool_checks_its_sizes_first(args, message):
    one_line_error(run_main(run_configs.main, MATH_14, "--dry_run", *args), message)


# issue 36: no lock file is left once a run ends
def test_a_run_leaves_no_claim_file_once_it_ends(tmp_path):
    from toobig.runs.run_folder import CLAIM_FILE
    assert train(f"--out_dir={tmp_path}", "--max_iters=20").returncode == 0
    assert not (tmp_path / CLAIM_FILE).exists()
    one_line_error(train(f"--out_dir={tmp_path}", "--max_iters=20"), "already holds a run")  # refused, after its claim
    assert not (tmp_path / CLAIM_FILE).exists()
    folder = RunFolder(tmp_path)
    folder.claim()
    assert (tmp_path / CLAIM_FILE).exists()
    folder.release()
    assert not (tmp_path / CLAIM_FILE).exists()
    folder.claim()  # and the folder is free to claim again
    folder.release()


def test_a_claim_taken_as_its_holder_releases_is_never_shared(tmp_path, monkeypatch):
    """The holder unlinks the claim file as it lets go: a process that opened that file just before
    holds a lock on a file no longer at the path, which holds nothing; claim() sees it and
    takes the file now at the path, so that a third process is refused, not let in beside it."""
    from toobig.runs import run_folder
    holder = RunFolder(tmp_path)
    holder.claim()
    flock = run_folder.fcntl.flock
    released = []

    def flock_as_the_holder_lets_go(handle, operation):  # between the taker's open and its lock
        if not released:
            released.append(True)
            holder.release()
        return flock(handle, operation)
    monkeypatch.setattr(run_folder.fcntl, "flock", flock_as_the_holder_lets_go)
    taker = RunFolder(tmp_path)
    taker.claim()
    monkeypatch.setattr(run_folder.fcntl, "flock", flock)
    with pytest.raises(RunError, match=f"is in use by process {os.getpid()}"):
        RunFolder(tmp_path).claim()
    taker.release()
    assert not (tmp_path / run_folder.CLAIM_FILE).exists()
