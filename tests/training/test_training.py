"""Short real training runs on CPU (a few seconds each)."""
import csv
import json
import os
import sys
from pathlib import Path

import pytest
import torch

import train_with_eval
from conftest import REPO, run_main

FAST = ["--device=cpu", "--compile=False", "--quiet", "--eval_interval=100"]
MATH_14, FACTS_28 = REPO / "config/train_math_mini_14.py", REPO / "config/train_facts_mini_28.py"


def train_main(*args):
    return run_main(train_with_eval.main, *args)


def train(out_dir, *args):
    result = train_main(MATH_14, f"--out_dir={out_dir}", *FAST, *args)
    assert result.returncode == 0, result.stderr
    return result


def rows(out_dir):
    with open(out_dir / "results.csv") as f:
        return list(csv.DictReader(f))


def without_time(table):
    return [{k: v for k, v in row.items() if k != "elapsed_s"} for row in table]


@pytest.fixture(scope="module")
def run_300(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("run") / "math_14"
    train(out_dir, "--max_iters=300")
    return out_dir


def test_short_run_learns_and_writes_its_files(run_300):
    table = rows(run_300)
    assert [int(r["iter"]) for r in table] == [0, 100, 200, 300]
    assert float(table[-1]["train_loss"]) < float(table[0]["train_loss"]) - 0.8
    assert float(table[0]["train_loss"]) > 2.5  # ~ln(17) at initialization
    for r in table:
        assert r["add_total"] == r["sub_total"] == "1000" and r["heldout_total"] == "40"
        assert r["facts_total"] == "" and r["train_loss"] == r["val_loss"]  # train and val are one stream
    run = json.loads((run_300 / "run.json").read_text())
    assert run["n_params"] == 1456 and run["finished"] and run["iter_num"] == 300
    assert run["config"]["n_embd"] == 14 and run["torch"] == torch.__version__
    assert set(run["best"]) == {"math_acc", "combined_acc"}
    assert run["train_text_sha256"] == "027df0cd21c838283f9d990a5984975bb968edd4f794170f2197a9dc60a3b926"
    assert run["device"] == "cpu" and run["device_name"]
    for name in ("ckpt.pt", "ckpt_best_math.pt", "ckpt_best_combined.pt"):
        checkpoint = torch.load(run_300 / name, weights_only=False)
        assert {"model", "optimizer", "model_args", "iter_num", "config"} <= set(checkpoint)
    assert torch.load(run_300 / "ckpt.pt", weights_only=False)["iter_num"] == 300
    assert not (run_300 / "ckpt_best_facts.pt").exists()
    assert not list(run_300.glob("*.tmp"))


def test_a_run_keeps_each_items_score_its_wrong_answers_and_its_weights(run_300):
    from toobig.runs.checkpoints import load_model
    with open(run_300 / "items.csv") as f:
        items = list(csv.DictReader(f))
    assert [r["iter"] for r in items] == ["0", "100", "200", "300"]
    assert len(items[0]) == 1 + 200 and {"0+0", "9-9", "5+7", "7-5"} <= set(items[0])
    table = rows(run_300)
    for item_row, row in zip(items, table):  # the items add up to the results.csv counts
        adds = sum(int(v) for k, v in item_row.items() if "+" in k)
        held = sum(int(item_row[k]) for k in ("5+7", "7+5", "5-7", "7-5"))
        assert (str(adds), str(held)) == (row["add_correct"], row["heldout_correct"])
    answers = json.loads((run_300 / "answers.json").read_text())
    best_iter = json.loads((run_300 / "run.json").read_text())["best"]["combined_acc"]["iter"]
    assert answers["last"]["iter"] == 300 and answers["best"]["iter"] == best_iter
    wrong_sums = [name for name, value in items[-1].items() if name != "iter" and value != "10"]
    assert sorted(answers["last"]["wrong"]) == sorted(wrong_sums)
    for name, iteration in (("model_last.pt", 300), ("model_best.pt", best_iter)):
        weights = torch.load(run_300 / name, weights_only=False)
        assert "optimizer" not in weights and weights["iter_num"] == iteration
        assert (run_300 / name).stat().st_size < 20_000
        model, codec, _ = load_model(run_300 / name)
        assert model.get_num_params() == 1456 and codec.vocab_size == 17


def test_a_run_logs_each_items_margin_and_log_probability(run_300):
    from toobig.runs import reading as runs
    items = runs.read_item_table(run_300, "items.csv")
    for name in ("margins.csv", "logprobs.csv"):
        iters, names, values = runs.read_item_table(run_300, name)
        assert list(iters) == [0, 100, 200, 300] and names == items[1]
    _, _, margins = runs.read_item_table(run_300, "margins.csv")
    _, _, logprobs = runs.read_item_table(run_300, "logprobs.csv")
    assert (logprobs <= 0).all() and (margins[items[2] == 0] <= 0.01).all()  # (written to 2 decimals)
    right = margins > 0.01
    assert (items[2][right] == 10).all()  # a positive margin: greedy, hence every sample at temperature 0.01, right


def test_same_seed_gives_the_same_rows(run_300, tmp_path):
    train(tmp_path, "--max_iters=100")
    assert without_time(rows(tmp_path)) == without_time(rows(run_300)[:2])


def test_resume_continues_exactly_without_duplicate_rows(run_300, tmp_path):
    train(tmp_path, "--max_iters=200")
    with open(tmp_path / "results.csv", "a") as f:  # a row written just before an interruption
        f.write("250,9,9,0,0,1000,0,1000,0,40,,,0,,0,1\n")
    for name in ("items.csv", "margins.csv", "logprobs.csv"):
        with open(tmp_path / name, "a") as f:
            f.write("250" + ",7" * 200 + "\n")
    train(tmp_path, "--max_iters=300", "--init_from=resume")
    assert without_time(rows(tmp_path)) == without_time(rows(run_300))
    for name in ("items.csv", "margins.csv", "logprobs.csv"):
        assert (tmp_path / name).read_text() == (run_300 / name).read_text()


def test_facts_run_writes_facts_columns(tmp_path):
    result = train_main(REPO / "config/train_facts_mini_14.py", f"--out_dir={tmp_path}", *FAST, "--max_iters=100")
    assert result.returncode == 0, result.stderr
    table = rows(tmp_path)
    assert table[-1]["facts_total"] == "500" and table[-1]["add_total"] == ""
    assert (tmp_path / "ckpt_best_facts.pt").exists() and not (tmp_path / "ckpt_best_math.pt").exists()


def test_divergence_stops_with_a_clear_message(tmp_path):
    result = train_main(MATH_14, f"--out_dir={tmp_path}", *FAST, "--max_iters=200", "--learning_rate=1e30",
                        "--warmup_iters=0", "--grad_clip=0.0")
    assert result.returncode == 2 and "training diverged" in result.stderr
    assert "Traceback" not in result.stderr


def test_two_process_torchrun_on_cpu(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess_run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             "train_with_eval.py", "config/train_math_mini_14.py", f"--out_dir={tmp_path}",
                             *FAST, "--max_iters=20", "--eval_interval=10"], env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert [r["iter"] for r in rows(tmp_path)] == ["0", "10", "20"]
    assert json.loads((tmp_path / "run.json").read_text())["world_size"] == 2


def subprocess_run(cmd, env):
    """subprocess.run in a session of its own, whose every process is killed on a timeout: a
    torchrun killed alone leaves its workers waiting on each other for gloo's 30 minutes."""
    import signal
    import subprocess
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def test_ctrl_c_leaves_a_run_that_resumes(tmp_path):
    import signal
    import subprocess
    import time
    cmd = [sys.executable, "train_with_eval.py", "config/train_math_mini_14.py", f"--out_dir={tmp_path}", *FAST,
           "--max_iters=100000", "--eval_interval=50"]
    # a shell script's background job (`pytest &`) inherits SIGINT ignored, and Python then
    # never raises KeyboardInterrupt: give the child the terminal's default, as a user has
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and not ((tmp_path / "results.csv").exists() and len(rows(tmp_path)) >= 3):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    try:
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()  # a child that ignored the interrupt would otherwise train on after the test
    assert proc.returncode == 2 and "interrupted at iteration" in stderr and "Traceback" not in stderr
    saved = torch.load(tmp_path / "ckpt.pt", weights_only=False)["iter_num"]
    # --quiet (in FAST) has no progress bar: the message must still name where the run was
    reported = int(stderr.split("interrupted at iteration ")[1].split(";")[0])
    assert saved >= 100 and reported >= saved
    train(tmp_path, f"--max_iters={saved + 100}", "--eval_interval=50", "--init_from=resume")
    assert [int(r["iter"]) for r in rows(tmp_path)] == list(range(0, saved + 101, 50))


# --- a run folder holds one run, and a resume continues that run ------------------
def test_scratch_into_a_folder_holding_a_run_is_refused_unless_overwritten(run_300, tmp_path):
    train(tmp_path, "--max_iters=200")
    before = (tmp_path / "results.csv").read_text()
    result = train_main(MATH_14, f"--out_dir={tmp_path}", *FAST, "--max_iters=10", "--seed=1")
    assert result.returncode == 2 and "already holds a run" in result.stderr and "--overwrite" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert (tmp_path / "results.csv").read_text() == before  # untouched
    train(tmp_path, "--max_iters=100", "--overwrite")
    assert without_time(rows(tmp_path)) == without_time(rows(run_300)[:2])  # the new run alone, not mixed


def test_resume_takes_the_run_from_its_checkpoint_not_the_defaults(tmp_path):
    """No config file on resume: the facts run stays a facts run (the defaults are arithmetic)."""
    result = train_main(FACTS_28, f"--out_dir={tmp_path}", *FAST, "--max_iters=100", "--eval_interval=50")
    assert result.returncode == 0, result.stderr
    result = train_main("--init_from=resume", f"--out_dir={tmp_path}", "--max_iters=150", "--device=cpu", "--quiet")
    assert result.returncode == 0, result.stderr
    table = rows(tmp_path)
    assert [r["iter"] for r in table] == ["0", "50", "100", "150"]
    assert all(r["facts_total"] == "500" and r["add_total"] == "" for r in table)
    saved = torch.load(tmp_path / "ckpt.pt", weights_only=False)
    assert saved["config"]["dataset"] == "facts_char" and saved["config"]["eval_interval"] == 50
    assert saved["model_args"]["vocab_size"] == 51 and len(saved["stoi"]) == 51


@pytest.mark.parametrize("change,message", [
    ("--dataset=as_math", "dataset='as_math' differs from the run being resumed (dataset='facts_char')"),
    ("--n_embd=14", "n_embd=14 differs from the run being resumed (n_embd=28)"),
    ("--seed=2", "seed=2 differs from the run being resumed (seed=1337)"),
])
def test_resume_refuses_to_change_the_experiment(tmp_path_factory, change, message):
    out_dir = tmp_path_factory.mktemp("resume") / "facts_28"
    result = train_main(FACTS_28, f"--out_dir={out_dir}", *FAST, "--max_iters=0")
    assert result.returncode == 0, result.stderr
    result = train_main("--init_from=resume", f"--out_dir={out_dir}", change)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_extending_a_finished_run_keeps_every_row(tmp_path):
    train(tmp_path, "--max_iters=150")  # evaluations at 0, 100 and the last iteration, 150
    train(tmp_path, "--max_iters=300", "--init_from=resume")
    assert [r["iter"] for r in rows(tmp_path)] == ["0", "100", "150", "200", "300"]


def test_a_run_ends_by_saying_its_best_evaluation(run_300):
    best = json.loads((run_300 / "run.json").read_text())["best"]["combined_acc"]
    result = train(run_300.parent / "again", "--max_iters=300")
    assert f"best evaluation: iteration {best['iter']}, add {best['add_correct']}/1000" in result.stdout


def test_resume_refuses_a_run_trained_on_another_text(tmp_path):
    train(tmp_path, "--max_iters=0")
    checkpoint = torch.load(tmp_path / "ckpt.pt", weights_only=False)
    torch.save({**checkpoint, "train_text_sha256": "0" * 64}, tmp_path / "ckpt.pt")
    result = train_main("--init_from=resume", f"--out_dir={tmp_path}", "--max_iters=100")
    assert result.returncode == 2 and "trained on another text" in result.stderr


def test_a_ddp_run_resumed_with_another_process_count_is_refused(tmp_path):
    train(tmp_path, "--max_iters=10", "--eval_interval=10")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess_run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             "train_with_eval.py", "--init_from=resume", f"--out_dir={tmp_path}", "--max_iters=20",
                             "--device=cpu"], env)
    assert result.returncode != 0
    assert "was trained by 1 process(es) and is resumed by 2" in result.stderr


def test_run_json_records_threads_and_the_text(tmp_path):
    train(tmp_path, "--max_iters=0", "--threads=1")
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["threads"] == 1 and run["config"]["threads"] == 1
    assert run["config"]["batch_size"] == 882 and run["config"]["block_size"] == 9  # the task's


def test_the_quick_start_repeats_the_committed_n14_run_row_for_row(tmp_path):
    """results/math_mini_14 was made with the defaults (the fused step, one thread): its first
    evaluations come out again to the last bit, losses included, on any CPU (toobig/training/fused_step.cpp)."""
    result = train_main(MATH_14, f"--out_dir={tmp_path}", "--max_iters=1000", "--device=cpu", "--quiet")
    assert result.returncode == 0, result.stderr
    assert without_time(rows(tmp_path)) == without_time(rows(REPO / "results" / "math_mini_14")[:5])


def test_the_torch_step_repeats_a_committed_torch_step_run_row_for_row(tmp_path):
    """The held-out sweep's (5,7) n14 seed 1 was made with the torch step, compiled, one thread,
    on an AVX2-only machine (its first five rows are kept in reference/, from commit c6b3d36; the
    committed runs are now the fused step's): with the CPU kernels pinned
    (toobig/core/reproducible.py) it repeats on AVX-512 machines too. Without the oneDNN part of
    the pin an AVX-512 machine drifts at iteration 1,000; without the rest, at 250."""
    result = train_main(MATH_14, f"--out_dir={tmp_path}", "--max_iters=1000", "--device=cpu", "--quiet", "--seed=1",
                        "--step=torch")
    assert result.returncode == 0, result.stderr
    reference = rows(Path(__file__).parent / "reference" / "torch_step_math_n14_s1")
    assert len(reference) == 5 and without_time(rows(tmp_path)) == without_time(reference)


def test_keep_evals_keeps_every_evaluations_weights_and_overwrite_removes_them(tmp_path):
    from tools import progress
    out_dir = tmp_path / "math_n14_s1"
    train(out_dir, "--max_iters=200", "--keep_evals")
    kept = sorted(p.name for p in (out_dir / "evals").iterdir())
    assert kept == ["iter_000000.pt", "iter_000100.pt", "iter_000200.pt"]
    last = torch.load(out_dir / "evals/iter_000200.pt", weights_only=False)
    assert last["iter_num"] == 200 and "optimizer" not in last
    for key, value in torch.load(out_dir / "model_last.pt", weights_only=False)["model"].items():
        assert torch.equal(last["model"][key], value)
    resumed = train_main(MATH_14, f"--out_dir={out_dir}", *FAST, "--init_from=resume", "--max_iters=300")
    assert resumed.returncode == 0, resumed.stderr
    assert (out_dir / "evals/iter_000300.pt").exists()  # a resumed run keeps its setting
    resumed = train_main(MATH_14, f"--out_dir={out_dir}", *FAST, "--init_from=resume", "--max_iters=400",
                         "--keep_evals=False")
    assert resumed.returncode == 0, resumed.stderr  # and may change it: it stores, it computes nothing
    assert not (out_dir / "evals/iter_000400.pt").exists()
    result = run_main(progress.main, f"--runs={tmp_path}", f"--out={tmp_path / 'progress'}")
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "progress/progress.csv") as f:
        table = list(csv.DictReader(f))
    assert [int(r["iter"]) for r in table] == [0, 100, 200, 300]
    assert 0 <= float(table[-1]["readout_r2"]) <= 1 and float(table[0]["held_out_margin"]) < 0
    train(out_dir, "--max_iters=100", "--overwrite")
    assert not (out_dir / "evals").exists()  # the replaced run's weights go with it
    result = run_main(progress.main, f"--runs={tmp_path}", f"--out={tmp_path / 'progress'}")
    assert result.returncode == 2 and "no run folder there has evals/" in result.stderr


def test_the_progress_line_counts_samples_not_items():
    """issue 36: "facts 0/500" read as 500 facts; the counts are samples (eval_samples per item)."""
    from toobig.training.step import describe
    row = {"add_total": 1000, "add_correct": 990, "sub_total": 1000, "sub_correct": 998, "heldout_total": 40,
           "heldout_correct": 30, "facts_total": 500, "facts_correct": 0}
    assert describe(row) == "add 990/1000 sub 998/1000 (5,7) 30/40 samples, facts 0/500 samples"
    no_math = {**row, **dict.fromkeys(("add_total", "add_correct", "sub_total", "sub_correct", "heldout_total",
                                        "heldout_correct"), "")}  # evaluation.summarize's row for a task without it
    assert describe(no_math) == "facts 0/500 samples"


def test_a_run_with_a_held_weight_norm_logs_that_norm_at_every_evaluation(tmp_path):
    train(tmp_path, "--max_iters=200", "--weight_norm=12")
    with open(tmp_path / "norms.csv") as f:
        assert {round(float(row["total"]), 3) for row in csv.DictReader(f)} == {12.0}
    assert json.loads((tmp_path / "run.json").read_text())["config"]["weight_norm"] == 12.0
    result = train_main(MATH_14, f"--out_dir={tmp_path / 'bad'}", *FAST, "--weight_norm=-1")
    assert result.returncode == 2 and "weight_norm=-1" in result.stderr
