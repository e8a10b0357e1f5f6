"""The checkpoint tools on a model trained for a few hundred iterations."""
import csv
import json
import shutil

import numpy as np
import pytest
import torch

import eval_as_math
import eval_capitals
import sample
import train_with_eval
from conftest import REPO, run_cli, run_main

MAINS = {"sample.py": sample.main, "eval_as_math.py": eval_as_math.main, "eval_capitals.py": eval_capitals.main,
         "train_with_eval.py": train_with_eval.main}


def run(script, *args):
    return run_main(MAINS[script], *args)


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A joint-task n14 run whose evaluations are greedy, so the CLIs must agree with them."""
    out_dir = tmp_path_factory.mktemp("cli") / "both_14"
    result = run("train_with_eval.py", REPO / "config/train_both_mini_14.py", f"--out_dir={out_dir}", "--device=cpu",
                 "--compile=False", "--quiet", "--max_iters=300", "--eval_interval=150", "--eval_greedy=True")
    assert result.returncode == 0, result.stderr
    with open(out_dir / "results.csv") as f:
        return out_dir, list(csv.DictReader(f))[-1]


def test_sample_prints_the_prompt_and_its_continuations(trained):
    out_dir, _ = trained
    result = run("sample.py", f"--out_dir={out_dir}", "--num_samples=5", "--max_new_tokens=3",
                     "--ckpt=ckpt_best_math.pt", "--start=<7-5")
    assert result.returncode == 0, result.stderr
    samples = result.stdout.split("---------------\n")[:-1]
    assert len(samples) == 5 and all(s.startswith("<7-5") and len(s) == len("<7-5") + 3 + 1 for s in samples)


def test_sample_reads_the_prompt_from_a_file(trained, tmp_path):
    out_dir, _ = trained
    (tmp_path / "prompt.txt").write_text("Capital of Japan is ")
    result = run("sample.py", f"--out_dir={out_dir}", f"--start=FILE:{tmp_path / 'prompt.txt'}",
                     "--num_samples=2", "--temperature=0")
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.split("---------------\n")[:2]
    assert first == second and first.startswith("Capital of Japan is ")


def test_eval_as_math_agrees_with_the_training_evaluation(trained):
    out_dir, last = trained
    result = run("eval_as_math.py", f"--out_dir={out_dir}", "--greedy", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["iter"] == 300
    assert report["addition"]["correct"] == int(last["add_correct"])
    assert report["subtraction"]["correct"] == int(last["sub_correct"])
    assert report["heldout"]["correct"] == int(last["heldout_correct"])
    assert sum(map(sum, report["addition"]["grid"])) == report["addition"]["correct"]
    assert set(report["heldout"]["items"]) == {"5+7", "7+5", "5-7", "7-5"}
    text = run("eval_as_math.py", f"--out_dir={out_dir}", "--operation=addition").stdout
    assert "addition: " in text and "subtraction: " not in text and "[" in text and "held-out (5,7)" in text


def test_eval_capitals_agrees_with_the_training_evaluation(trained):
    out_dir, last = trained
    result = run("eval_capitals.py", f"--out_dir={out_dir}", "--greedy", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["correct"] == int(last["facts_correct"]) and report["total"] == 500
    assert len(report["countries"]) == 50
    for country in report["countries"]:  # every miss says what the model wrote instead
        assert (country["correct"] == country["total"]) == (not country["wrote"])
    text = run("eval_capitals.py", f"--out_dir={out_dir}").stdout
    assert text.splitlines()[2].startswith("France") and "facts: " in text


@pytest.mark.parametrize("script,args,message", [
    ("sample.py", ["--out_dir=out/no_such_run"], "run folder 'out/no_such_run' does not exist"),
    ("sample.py", ["--ckpt=ckpt_best_nothing.pt"], "checkpoint"),
    ("sample.py", ["--start=<7*5"], "'*' not in the model's vocabulary"),
    ("sample.py", ["--start=FILE:/no/such/file"], "no such file"),
    ("sample.py", ["--top=3"], "did you mean top_k"),
    ("eval_as_math.py", ["--operation=division"], "choose one of addition, subtraction, both"),
    ("eval_as_math.py", ["--ckpt=not_a_ckpt.pt"], "not a readable checkpoint"),
    ("eval_as_math.py", ["--ckpt=foreign.pt"], "not a nanoGPT checkpoint"),
    ("eval_capitals.py", ["--greedy=perhaps"], "expected a bool"),
    ("eval_capitals.py", ["config/x.py"], "options are --key=value"),
])
def test_bad_input_is_one_line_and_exit_code_2(trained, script, args, message):
    out_dir, _ = trained
    (out_dir / "not_a_ckpt.pt").write_text("hello")
    torch.save({"weights": torch.zeros(1)}, out_dir / "foreign.pt")
    if not any(a.startswith("--out_dir") for a in args):
        args = [f"--out_dir={out_dir}", *args]
    result = run(script, *args)
    assert result.returncode == 2
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("config,script,message", [
    ("config/train_facts_mini_14.py", "eval_as_math.py", "run on facts_char (facts only), which has no arithmetic"),
    ("config/train_math_mini_14.py", "eval_capitals.py", "run on as_math (arithmetic only), which has no facts"),
])
def test_a_tool_asked_for_a_part_the_run_lacks_says_so(tmp_path, config, script, message):
    result = run("train_with_eval.py", REPO / config, f"--out_dir={tmp_path}", "--device=cpu", "--compile=False",
                 "--quiet", "--max_iters=0")
    assert result.returncode == 0, result.stderr
    result = run(script, f"--out_dir={tmp_path}")
    assert result.returncode == 2 and message in result.stderr and len(result.stderr.splitlines()) == 1


def test_a_run_folder_named_without_out_is_found_and_options_take_a_space(trained, tmp_path, monkeypatch):
    """The paper README's command forms: `--model_folder math_mini_14` for out/math_mini_14."""
    import plot_results
    out_dir, _ = trained
    shutil.copytree(out_dir, tmp_path / "out" / "both_14")
    monkeypatch.chdir(tmp_path)
    result = run_main(plot_results.main, "--model_folder", "both_14")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "both_14" / "plot.png").is_file()
    result = run("sample.py", "--out_dir", "both_14", "--start", "<7-5=", "--num_samples", "2", "--max_new_tokens", "2")
    assert result.returncode == 0 and result.stdout.startswith("<7-5="), result.stderr


def test_every_cli_answers_bad_input_in_one_line_in_its_own_process():
    """The real entry points, not main() in the test process: exit code 2, one line, no traceback."""
    for script, arg in [("train_with_eval.py", "--n_head=3"), ("sample.py", "--out_dir=out/no_such_run"),
                        ("eval_as_math.py", "--operation=division"), ("eval_capitals.py", "--top=1"),
                        ("plot_results.py", "--model_folder=out/no_such_run"), ("plot_all_models.py", "--root=/nope"),
                        ("tools/sweep.py", "--task=poetry"), ("tools/run_configs.py", "--jobs=x"), ("tools/bench.py", "--n_head=3"),
                        ("tools/margins.py", "out/no_such_run"), ("tools/margins.py", "--seed=1"), ("tools/claims.py", "--root=/nope"),
                        ("tools/intervene.py", "--site=nowhere"), ("tools/why.py", "--runs=/nope")]:
        result = run_cli(script, arg)
        assert result.returncode == 2, (script, result.stderr)
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, (script, result.stderr)


def test_margins_scores_a_run_from_its_saved_weights(trained, tmp_path):
    """A run without margins.csv gets the rows of its best and last evaluation, as training
    would have logged them; a run with its own is left as it is."""
    from tools import margins
    from toobig.runs import reading as runs
    out_dir, _ = trained
    logged = runs.read_item_table(out_dir, "margins.csv")
    copy = tmp_path / "run"
    shutil.copytree(out_dir, copy)
    (copy / "margins.csv").unlink()
    (copy / "logprobs.csv").unlink()
    result = run_main(margins.main, str(copy))
    assert result.returncode == 0 and "held-out margins" in result.stdout, result.stderr
    iters, names, values = runs.read_item_table(copy, "margins.csv")
    assert names == logged[1] and list(iters) == sorted({int(i) for i in iters})
    for j, it in enumerate(iters):  # the same numbers training wrote at that evaluation
        assert np.array_equal(values[:, j], logged[2][:, list(logged[0]).index(it)])
    before = (out_dir / "margins.csv").read_text()
    assert run_main(margins.main, str(out_dir)).returncode == 0 and (out_dir / "margins.csv").read_text() == before
    (copy / "model_best.pt").unlink()
    (copy / "model_last.pt").unlink()
    (copy / "margins.csv").unlink()
    result = run_main(margins.main, str(copy))
    assert result.returncode == 2 and "has neither model_best.pt nor model_last.pt" in result.stderr


# issue 36: a new user's first commands
def test_a_bare_run_name_finds_the_committed_run_and_says_what_it_scored(tmp_path, monkeypatch):
    """`--out_dir=facts_mini_28` (the paper's folder name) in a fresh clone: no out/, the committed
    run is scored; its default ckpt.pt is not committed, its weights (model_last.pt) are."""
    monkeypatch.chdir(tmp_path)
    committed = REPO / "results" / "facts_mini_28"
    result = run("eval_capitals.py", "--out_dir=facts_mini_28", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    with open(committed / "results.csv") as f:
        last = list(csv.DictReader(f))[-1]
    assert report["correct"] == int(last["facts_correct"])  # as training scored its last evaluation
    assert report["checkpoint"] == str(committed / "model_last.pt") and report["iter"] == int(last["iter"])
    best = json.loads((committed / "run.json").read_text())["best"]["combined_acc"]["iter"]
    assert report["checkpoint_holds"] == "the last evaluation"
    assert (report["best_checkpoint"], report["best_iter"]) == (str(committed / "model_best.pt"), best)


def test_the_scoring_tools_name_the_file_and_iteration_they_scored(trained, tmp_path):
    out_dir, last = trained
    first = run("eval_as_math.py", f"--out_dir={out_dir}").stdout.splitlines()[0]
    best = json.loads((out_dir / "run.json").read_text())["best"]["combined_acc"]["iter"]
    assert first.startswith(f"scored {out_dir / 'ckpt.pt'} (iteration {int(last['iter']):,}: the last evaluation")
    assert f"(iteration {best:,}" in first or "also the best-combined evaluation" in first
    text = run("eval_capitals.py", f"--out_dir={out_dir}", "--ckpt=ckpt_best_facts.pt").stdout
    assert text.startswith(f"scored {out_dir / 'ckpt_best_facts.pt'} (iteration ")
    assert "the best-facts evaluation" in text.splitlines()[0]
    result = run("sample.py", f"--out_dir={out_dir}", "--ckpt=model_best.pt", "--start=<7-5", "--max_new_tokens=2")
    assert result.returncode == 0 and result.stdout.startswith("<7-5")  # stdout: the samples alone
    assert result.stderr.startswith(f"sampling {out_dir / 'model_best.pt'} (iteration {best:,}: "
                                    f"the best-combined evaluation)")
    from tools import margins
    copy = tmp_path / "run"
    shutil.copytree(out_dir, copy)
    (copy / "margins.csv").unlink()
    (copy / "logprobs.csv").unlink()
    result = run_main(margins.main, str(copy))
    assert result.returncode == 0, result.stderr
    assert f"scored {copy / 'model_best.pt'} (iteration {best:,}: the best-combined evaluation)" in result.stdout
    assert f"scored {copy / 'model_last.pt'} (iteration {int(last['iter']):,}: the last evaluation)" in result.stdout


def test_a_run_folder_not_found_says_where_it_looked_and_a_bare_name_never_writes_into_results(tmp_path, monkeypatch):
    import plot_results
    from tools import margins
    monkeypatch.chdir(tmp_path)
    result = run("eval_capitals.py", "--out_dir=facts_mini_99")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert f"looked in facts_mini_99, out/facts_mini_99, {REPO / 'results' / 'facts_mini_99'}" in result.stderr
    before = sorted(p.name for p in (REPO / "results" / "math_mlt").iterdir())
    for main, args in ((plot_results.main, ["--model_folder=math_mini_14"]), (margins.main, ["math_mlt"])):
        result = run_main(main, *args)  # both write into the folder: math_mlt has no margins.csv to keep
        assert result.returncode == 2, result.stdout
        assert f"takes the committed run {REPO / 'results' / args[0].split('=')[-1]} only where that path is given" \
            in result.stderr, result.stderr
    assert not (REPO / "results" / "math_mini_14" / "plot.png").exists()
    assert sorted(p.name for p in (REPO / "results" / "math_mlt").iterdir()) == before


def test_claims_and_why_read_the_committed_results_from_any_working_directory(tmp_path):
    """Their defaults name the repository's results/: found from elsewhere, not the working directory's."""
    result = run_cli(REPO / "tools" / "claims.py", f"--out={tmp_path / 'claims.md'}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "claims.md").read_text() == (REPO / "results" / "claims.md").read_text()
    result = run_cli(REPO / "tools" / "why.py", "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
