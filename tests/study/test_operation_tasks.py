"""The one-operation tables (issue 39's table the paper never trained): the paper's arithmetic cut
to addition alone or subtraction alone, in the paper's order and vocabulary, trained, evaluated on
its 100 sums with its two held-out expressions, summarized by the sweep, refused by the tools that
score the paper's 200 sums."""
import csv

import pytest

from conftest import run_cli, run_main
from toobig.study.evaluation import Sampling, evaluate
from toobig.study.tasks import (OPERATION_TASKS, PAPER_MATH_ORDER, TASKS, check_paper_task, held_out_expressions,
                                math_lines, math_table, task_codec, task_tables, task_text)
from toobig.study.training_config import DEFAULTS, resolve, validate
from tools import sweep


@pytest.mark.parametrize("dataset,op", [("as_math_add", "+"), ("as_math_sub", "-")])
def test_a_one_operation_table_is_the_papers_lines_of_that_operation_in_order(dataset, op):
    lines = task_text(dataset).splitlines(keepends=True)
    assert len(lines) == 98 and all(line[2] == op for line in lines)
    assert lines == [line for line in math_lines() if line[2] == op]  # the paper's order, the paper's lines
    assert [line[1:4] for line in lines] == [e for e in PAPER_MATH_ORDER if e[1] == op]
    assert held_out_expressions("5:7", op) == [e for e in held_out_expressions("5:7") if e[1] == op]
    assert not any(line.startswith(f"<{a}{o}{b}=") for line in lines for a, o, b in held_out_expressions("5:7"))


def test_another_held_out_pair_withholds_its_own_two():
    lines = task_text("as_math_add", held_out="1:2")
    assert "<1+2=" not in lines and "<2+1=" not in lines and "<5+7=12>" in lines
    assert held_out_expressions("1:2", "+") == [(1, "+", 2), (2, "+", 1)]


def test_the_vocabulary_and_shapes_are_the_paper_arithmetics():
    paper = task_codec("as_math", task_text("as_math"))
    for dataset in OPERATION_TASKS:
        assert task_codec(dataset, task_text(dataset)).stoi == paper.stoi  # the '-' stays in addition's vocabulary
        resolved = resolve({**DEFAULTS, "dataset": dataset})
        assert (resolved["batch_size"], resolved["block_size"]) == (TASKS["as_math"].batch_size, 9)
        validate(resolved)


def test_a_one_operation_table_takes_no_table_size():
    with pytest.raises(ValueError, match="table_size=50 applies to the random-answer tasks"):
        validate(resolve({**DEFAULTS, "dataset": "as_math_add", "table_size": 50}))


def test_the_evaluation_asks_the_operations_100_sums_and_counts_its_two_held_out():
    from conftest import LookupModel
    tables = task_tables("as_math_add")
    assert tables == {"math": math_table("+")} and len(tables["math"]) == 100
    codec = task_codec("as_math_add", "")
    model = LookupModel(codec, [f"<{a}+{b}={a + b}>\n" for a, _, b, _ in tables["math"]])
    row, items = evaluate(model, codec, ("math",), Sampling(num_samples=3), seed=0, held_out="5:7", tables=tables)
    assert [item.name for item in items] == [f"{a}+{b}" for a, _, b, _ in math_table("+")]
    assert (row["add_total"], row["sub_total"], row["heldout_total"], row["heldout_correct"]) == (300, 0, 6, 6)


def test_the_tools_for_the_papers_items_refuse_it_in_one_line():
    with pytest.raises(ValueError, match="was trained on as_math_sub, subtraction alone: it has two held-out "
                                         "expressions, not the paper's four"):
        check_paper_task("as_math_sub", "out/run")


def test_prepare_writes_the_table_where_it_is_told(tmp_path):
    result = run_cli("data/as_math_sub/prepare.py", f"--data_dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "as_math_sub" / "input.txt").read_text() == task_text("as_math_sub")


def test_committed_texts_match_the_generator():
    from toobig.study.tasks import DATA_DIR
    for dataset in OPERATION_TASKS:
        assert (DATA_DIR / dataset / "input.txt").read_text() == task_text(dataset)


@pytest.mark.slow
def test_a_sweep_of_addition_alone_trains_and_summarizes(tmp_path):
    import eval_as_math
    out = tmp_path / "math_add"
    result = run_main(sweep.main, "--task=math_add", "--sizes=8", "--seeds=1,2", "--max_iters=20",
                      "--eval_interval=10", "--device=cpu", "--compile=False", "--jobs=2", f"--out={out}")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["math_add_n8_s1", "math_add_n8_s2"]
    with open(out / "math_add_n8_s1" / "items.csv") as f:
        assert next(csv.reader(f))[1:] == [f"{a}+{b}" for a, _, b, _ in math_table("+")]
    with open(out / "operations.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["task"], r["n_params"], r["seed"], r["held_out"], r["heldout_total_last"], r["finished"])
            for r in rows] == [("as_math_add", "544", "1", "5:7", "20", "True"),
                               ("as_math_add", "544", "2", "5:7", "20", "True")]
    assert all(0 <= float(r["heldout_share_late"]) <= 1 for r in rows)
    assert "| addition alone | 5+7, 7+5 | n8 | 544 | 2 |" in (out / "operations.md").read_text()
    refused = run_main(eval_as_math.main, f"--out_dir={out / 'math_add_n8_s1'}")
    assert refused.returncode == 2 and "was trained on as_math_add, addition alone" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_what_a_one_operation_table_asks_as_a_lookup():
    from toobig.analysis.capacity_summary import math_lookup_bits
    frequencies, uniform = math_lookup_bits(operations="+")
    assert uniform == pytest.approx(98 * 4.2479, abs=0.01)  # 98 answers, each one of 0..18: log2(19)
    assert 390 < frequencies < uniform < math_lookup_bits()[0]  # about half the paper table's
