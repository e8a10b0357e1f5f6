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
@pytest.mark.parametrize("task,op,title", [("math_add", "+", "addition alone"), ("math_sub", "-", "subtraction alone")])
def test_a_sweep_of_one_operation_trains_and_summarizes(tmp_path, task, op, title):
    import eval_as_math
    out = tmp_path / task
    result = run_main(sweep.main, f"--task={task}", "--sizes=8", "--seeds=1,2", "--max_iters=20",
                      "--eval_interval=10", "--device=cpu", "--compile=False", "--jobs=2", f"--out={out}")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [f"{task}_n8_s1", f"{task}_n8_s2"]
    with open(out / f"{task}_n8_s1" / "items.csv") as f:
        assert next(csv.reader(f))[1:] == [f"{a}{op}{b}" for a, _, b, _ in math_table(op)]
    with open(out / "operations.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["task"], r["n_params"], r["seed"], r["held_out"], r["heldout_total_last"], r["finished"])
            for r in rows] == [(f"as_{task}", "544", "1", "5:7", "20", "True"),
                               (f"as_{task}", "544", "2", "5:7", "20", "True")]
    held = ", ".join(f"{a}{o}{b}" for a, o, b in held_out_expressions("5:7", op))
    assert f"| {title} | {held} | weight decay 0, 20 iterations | n8 | 544 | 2 |" in (out / "operations.md").read_text()
    refused = run_main(eval_as_math.main, f"--out_dir={out / f'{task}_n8_s1'}")
    assert refused.returncode == 2 and f"was trained on as_{task}, {title}" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_what_a_one_operation_table_asks_as_a_lookup():
    from toobig.analysis.capacity_summary import math_lookup_bits
    frequencies, uniform = math_lookup_bits(operations="+")
    assert uniform == pytest.approx(98 * 4.2479, abs=0.01)  # 98 answers, each one of 0..18: log2(19)
    assert 390 < frequencies < uniform < math_lookup_bits()[0]  # about half the paper table's


ADD_NAMES = [f"{a}+{b}" for a, _, b, _ in math_table("+")]


def write_operation_run(folder, seed, held_out_counts, weight_decay=0.0, margins_last=(0.5, -1.25)):
    """An addition-alone run folder as train_with_eval.py leaves it, by hand: evaluations at 0, 250, ...,
    1000 of 1,000 iterations, 10 samples per item, every training sum right from 250 on, the held-out
    pair's right samples (of 20) given per evaluation, and margins.csv whose last row gives 5+7 and
    7+5 `margins_last` (every other item +2)."""
    import json
    folder.mkdir(parents=True)
    lines = ["iter,train_loss,val_loss,lr,add_correct,add_total,sub_correct,sub_total,heldout_correct,heldout_total,"
             "facts_correct,facts_total,math_acc,facts_acc,combined_acc,elapsed_s"]
    for it, held in zip(range(0, 1001, 250), held_out_counts):
        right = (980 if it else 0) + held
        lines.append(f"{it},1.0,1.0,0.001,{right},1000,0,0,{held},20,,,{right / 1000},,{right / 1000},1.0")
    (folder / "results.csv").write_text("\n".join(lines) + "\n")
    margins = ["iter," + ",".join(ADD_NAMES)]
    for it in range(0, 1001, 250):
        values = [2.0] * len(ADD_NAMES)
        if it == 1000:
            values[ADD_NAMES.index("5+7")], values[ADD_NAMES.index("7+5")] = margins_last
        margins.append(f"{it}," + ",".join(map(str, values)))
    (folder / "margins.csv").write_text("\n".join(margins) + "\n")
    (folder / "run.json").write_text(json.dumps({
        "config": {"dataset": "as_math_add", "n_embd": 14, "seed": seed, "max_iters": 1000,
                   "weight_decay": weight_decay, "out_dir": str(folder)},
        "n_params": 1456, "finished": True, "best": {}}))
    return folder


def test_the_summary_counts_the_second_half_and_keeps_settings_apart(tmp_path):
    from toobig.analysis.operation_summary import operation_row, operation_table
    rows = [operation_row(write_operation_run(tmp_path / "s1", 1, [0, 20, 10, 20, 0])),
            operation_row(write_operation_run(tmp_path / "s2", 2, [0, 20, 0, 0, 0], margins_last=(-3.0, -0.5))),
            operation_row(write_operation_run(tmp_path / "s1_wd", 1, [0, 0, 20, 20, 20], weight_decay=0.1))]
    # the second half: evaluations 500, 750, 1000; iteration 250's 20 of 20 are not counted
    assert [row["heldout_share_late"] for row in rows] == [0.5, 0.0, 1.0]
    assert [row["train_acc_last"] for row in rows] == [1.0, 1.0, 1.0]
    assert [row["min_heldout_margin_last"] for row in rows] == [-1.25, -3.0, -1.25]
    table = operation_table(rows)
    # two seeds: mean 25%, t interval (t 12.71 for one degree of freedom) clipped to 0-100%
    assert ("| addition alone | 5+7, 7+5 | weight decay 0, 1,000 iterations | n14 | 1,456 | 2 | 25% [0-100] | "
            "1 of 2 | 100.0-100.0% | -2.12 |") in table
    assert "| weight decay 0.1, 1,000 iterations | n14 | 1,456 | 1 | 100% | 1 of 1 |" in table  # never pooled
    assert table.endswith("3 of 3 runs finished.\n")


def test_a_one_operation_run_is_described_and_plotted_by_its_own_sums(tmp_path):
    import plot_results
    from toobig.training.step import describe
    paper = {"add_correct": 990, "add_total": 1000, "sub_correct": 980, "sub_total": 1000, "heldout_correct": 40,
             "heldout_total": 40, "facts_total": ""}
    assert describe(paper) == "add 990/1000 sub 980/1000 (5,7) 40/40 samples"  # the paper's line, as before
    subtraction = {**paper, "add_correct": 0, "add_total": 0, "heldout_correct": 12, "heldout_total": 20}
    assert describe(subtraction) == "sub 980/1000 (5,7) 12/20 samples"
    folder = write_operation_run(tmp_path / "run", 1, [0, 20, 10, 20, 0])
    written = plot_results.plot_run(folder)
    assert folder / "margins.png" in written and (folder / "margins.png").stat().st_size > 10_000


def test_digest_reads_a_one_operation_run_by_its_own_sums(tmp_path):
    # tools/claims.py digests every committed run with items.csv; an addition-alone run has no 5-7
    from toobig.runs.reading import digest
    folder = write_operation_run(tmp_path / "run", 1, [0, 20, 10, 20, 0])
    counts = [[0] + [10] * 4 for _ in ADD_NAMES]  # every sum right from 250 on but one, lost at 750
    counts[ADD_NAMES.index("3+4")][3] = 7
    (folder / "items.csv").write_text("iter," + ",".join(ADD_NAMES) + "\n" + "".join(
        f"{it}," + ",".join(str(row[e]) for row in counts) + "\n" for e, it in enumerate(range(0, 1001, 250))))
    (folder / "run.json").write_text((folder / "run.json").read_text().replace('"max_iters"', '"eval_samples": 10, '
                                                                               '"held_out": "5:7", "max_iters"'))
    d = digest(folder)
    assert d["heldout_margins_final"] == [0.5, -1.25]  # the two held-out additions, 5+7 and 7+5
    assert d["train_fit_kept"] == round(2 / 3, 4)  # the 98 training additions: fit at 250, lost at 750
    assert d["heldout_quadruple_rank"] is None  # a quadruple needs both operations
