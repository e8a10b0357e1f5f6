"""The held-out pair as a setting: its data, its counts, and the runs and tools that follow it."""
import csv
import json

import pytest

import eval_as_math
from tools import sweep
import train_with_eval
from conftest import REPO, LookupModel, answer_key, run_main
from toobig.study.evaluation import Sampling, evaluate
from toobig.study.tasks import OPERATORS, math_lines, parse_held_out, task_text


def test_another_pair_swaps_its_four_lines_for_the_papers_in_place():
    paper, other = math_lines(), math_lines("1:2")
    changed = [(a, b) for a, b in zip(paper, other) if a != b]
    assert sorted(b.strip() for _, b in changed) == ["<5+7=12>", "<5-7=-2>", "<7+5=12>", "<7-5=2>"]
    assert sorted(a.strip() for a, _ in changed) == ["<1+2=3>", "<1-2=-1>", "<2+1=3>", "<2-1=1>"]
    assert dict(changed)[next(a for a, _ in changed if a.startswith("<1+2"))].startswith("<5+7")  # role for role
    assert len(other) == 196 and len("".join(other)) == 1764
    assert task_text("as_math", "7:5") == task_text("as_math")  # the same four as 5:7
    assert task_text("both_math_and_facts", "0:9").endswith(task_text("facts_char"))


@pytest.mark.parametrize("bad", ["5:5", "3:12", "a:b", "57", "5:"])
def test_bad_pairs_are_refused(bad):
    with pytest.raises(ValueError, match="give two different digits"):
        parse_held_out(bad)
    result = run_main(train_with_eval.main, f"--held_out={bad}", "--max_iters=0")
    assert result.returncode == 2 and "is not allowed; give two different digits a:b" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_evaluation_counts_the_chosen_four(both_codec):
    wrong_on_1_2 = answer_key(lambda a, op, b: 99 if {a, b} == {1, 2} else OPERATORS[op](a, b))
    model = LookupModel(both_codec, wrong_on_1_2)
    as_paper, _ = evaluate(model, both_codec, ("math",), Sampling(), seed=0)
    as_1_2, _ = evaluate(model, both_codec, ("math",), Sampling(), seed=0, held_out="1:2")
    assert (as_paper["heldout_correct"], as_1_2["heldout_correct"]) == (40, 0)
    assert as_paper["add_correct"] == as_1_2["add_correct"] == 980  # inside the operations either way


def test_a_run_with_another_pair_end_to_end(tmp_path):
    result = run_main(train_with_eval.main, REPO / "config/train_math_mini_14.py", f"--out_dir={tmp_path}",
                      "--held_out=2:1", "--device=cpu", "--compile=False", "--quiet", "--max_iters=100",
                      "--eval_interval=100")
    assert result.returncode == 0, result.stderr
    assert "(1,2) " in result.stdout  # the run's own pair, in its log lines
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["config"]["held_out"] == "2:1"
    from toobig.study.tasks import text_sha256
    assert run["train_text_sha256"] == text_sha256(task_text("as_math", "1:2"))
    report = json.loads(run_main(eval_as_math.main, f"--out_dir={tmp_path}", "--greedy", "--json").stdout)
    assert report["heldout"]["pair"] == "2:1" and set(report["heldout"]["items"]) == {"1+2", "2+1", "1-2", "2-1"}
    with open(tmp_path / "results.csv") as f:
        last = list(csv.DictReader(f))[-1]
    assert report["heldout"]["correct"] == int(last["heldout_correct"])
    text = run_main(eval_as_math.main, f"--out_dir={tmp_path}", "--greedy").stdout
    rows = text.splitlines()
    assert "held-out (1,2)" in text and "[" in rows[5] and "[" not in rows[4]  # row a=1 brackets its b=2 cell
    refused = run_main(train_with_eval.main, "--init_from=resume", f"--out_dir={tmp_path}", "--held_out=5:7")
    assert refused.returncode == 2 and "held_out='5:7' differs from the run being resumed" in refused.stderr


def test_sweep_takes_the_pair_as_a_dimension(tmp_path):
    out = tmp_path / "sweep"
    args = ["--task=math", "--sizes=8", "--seeds=1", "--held_outs=5:7,1:2", f"--out={out}", "--max_iters=20",
            "--device=cpu", "--compile=False", "--jobs=2"]
    runs, _ = sweep.grid(sweep.parse_args(sweep.OPTIONS, args))
    assert [name for name, _, _ in runs] == ["math_n8_s1_ho57", "math_n8_s1_ho12"]
    result = run_main(sweep.main, *args)
    assert result.returncode == 0, result.stderr
    with open(out / "summary.csv") as f:
        assert [r["held_out"] for r in csv.DictReader(f)] == ["5:7", "1:2"]
    sizes = (out / "sizes.md").read_text()
    assert "| held out |" in sizes and "| (1,2) |" in sizes and "| (5,7) |" in sizes
    assert (out / "phase.png").stat().st_size > 10_000
    assert (out / "held_out.png").stat().st_size > 10_000
