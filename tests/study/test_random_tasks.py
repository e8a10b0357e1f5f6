"""The random-answer tasks (issue 39): tables drawn as their docstrings say, in the paper's formats
and vocabularies, trained and evaluated like the paper's tasks."""
import collections
import json
import math
import pickle

import pytest

from conftest import LookupModel, run_cli, run_main
from toobig.study.evaluation import Sampling, evaluate
from toobig.study.tasks import (CAPITAL_LETTERS, CAPITALS, COUNTRY_LETTERS, RANDOM_ANSWERS, RANDOM_TASKS, TASKS,
                                check_table, math_expressions, random_answer_bits, random_lines, random_table,
                                task_codec, task_tables, task_text)
from toobig.study.training_config import DEFAULTS, resolve, validate


def test_a_table_is_the_same_for_a_seed_and_another_for_another_seed():
    assert random_table("random_math", 500, 3) == random_table("random_math", 500, 3)
    assert random_table("random_math", 500, 3) != random_table("random_math", 500, 4)
    assert random_table("random_facts", 80, 3) == random_table("random_facts", 80, 3)
    assert random_table("random_facts", 80, 3) != random_table("random_facts", 80, 4)


def test_the_arithmetic_answers_are_uniform_over_the_papers_28():
    answers = [answer for *_, answer in random_table("random_math", 20000, 0)]
    counts = collections.Counter(answers)
    assert set(counts) == set(RANDOM_ANSWERS) and len(RANDOM_ANSWERS) == 28
    expected = len(answers) / 28
    chi2 = sum((n - expected) ** 2 / expected for n in counts.values())
    assert chi2 < 55.5  # 27 degrees of freedom: p > 0.001


def test_tables_nest_and_the_first_200_prompts_are_the_papers():
    small, large = random_table("random_math", 200, 7), random_table("random_math", 3000, 7)
    assert large[:200] == small
    assert {(a, op, b) for a, op, b, _ in small} == set(math_expressions())
    assert random_table("random_facts", 60, 7) == random_table("random_facts", 500, 7)[:60]
    assert len({(a, op, b) for a, op, b, _ in random_table("random_math", 20000, 7)}) == 20000  # all distinct


def test_a_single_digit_table_has_the_papers_line_format():
    lines = random_lines("random_math", random_table("random_math", 200, 1))
    assert all(len(line) == 9 and line.endswith("\n") for line in lines)  # padded to 8, as the paper's
    assert task_text("random_math", table_size=200, table_seed=1) == "".join(lines)


def test_the_paper_block_sees_every_answer_tokens_whole_prompt():
    """The context sampling gives the last answer token (`<a+b=` and the answer before its `>`) fits
    the paper's block of 9, in every line of the largest table."""
    block = RANDOM_TASKS["random_math"].block_size
    assert block == TASKS["as_math"].block_size == 9
    assert max(len(f"<{a}{op}{b}={answer}") for a, op, b, answer in random_table("random_math", 20000, 0)) == block


def test_the_vocabulary_and_shapes_are_the_paper_tasks_whatever_the_table():
    for dataset, like in (("random_math", "as_math"), ("random_facts", "facts_char")):
        paper = task_codec(like, task_text(like))
        for size in (2, 50, 400):
            text = task_text(dataset, table_size=size, table_seed=5)
            codec = task_codec(dataset, text)
            assert codec.stoi == paper.stoi and codec.decode(codec.encode(text)) == text
        task, resolved = RANDOM_TASKS[dataset], resolve({**DEFAULTS, "dataset": dataset})
        assert (resolved["batch_size"], resolved["block_size"]) == (TASKS[like].batch_size, TASKS[like].block_size)
        assert task.parts == TASKS[like].parts


def test_random_capitals_are_drawn_from_the_capitals_letters_and_lengths():
    table = random_table("random_facts", 5000, 2)
    assert [country for country, _ in table[:50]] == [country for country, _ in CAPITALS]
    assert len({country for country, _ in table}) == 5000
    assert all(set(country) <= set(COUNTRY_LETTERS) for country, _ in table[50:])
    assert all(set(capital) <= set(CAPITAL_LETTERS) and " " not in capital for _, capital in table)
    real = collections.Counter(len(city) for _, city in CAPITALS)
    drawn = collections.Counter(len(capital) for _, capital in table)
    assert set(drawn) == set(real)
    assert all(abs(drawn[n] / 5000 - real[n] / 50) < 0.02 for n in real)


def test_an_answers_bits_are_minus_log2_of_its_probability():
    assert random_answer_bits("random_math", [-9, 0, 18]) == pytest.approx([math.log2(28)] * 3)
    paris = -math.log2(sum(len(city) == 5 for _, city in CAPITALS) / 50) + 5 * math.log2(len(CAPITAL_LETTERS))
    assert random_answer_bits("random_facts", ["Xyzab"]) == pytest.approx([paris])
    with pytest.raises(ValueError, match="outside -9..18"):
        random_answer_bits("random_math", [19])


@pytest.mark.parametrize("dataset,size,seed,message", [
    ("random_math", 0, 0, "table_size=0 is not allowed for dataset='random_math'; give the table's number of lines, 1 to 20,000"),
    ("random_facts", 5001, 0, "1 to 5,000"),
    ("random_math", 10, -1, "table_seed=-1 must be an integer of at least 0"),
    ("as_math", 10, 0, "table_size=10 applies to the random-answer tasks")])
def test_bad_table_settings_are_named(dataset, size, seed, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_table(dataset, size, seed)


def test_a_random_table_withholds_nothing():
    with pytest.raises(ValueError, match="withholds nothing"):
        validate(resolve({**DEFAULTS, "dataset": "random_math", "table_size": 50, "held_out": "1:2"}))


def test_the_evaluation_asks_the_table_and_counts_no_held_out_four():
    table = random_table("random_math", 300, 1)
    tables = task_tables("random_math", 300, 1)
    assert tables == {"math": table}
    codec = task_codec("random_math", "")
    row, items = evaluate(LookupModel(codec, random_lines("random_math", table)), codec, ("math",),
                          Sampling(num_samples=2), seed=0, held_out=None, tables=tables)
    assert [item.expected for item in items] == [answer for *_, answer in table]
    assert row["math_acc"] == 1.0 and row["add_total"] + row["sub_total"] == 600
    assert row["heldout_correct"] == row["heldout_total"] == ""


def test_prepare_writes_a_tables_files_with_the_papers_vocabulary(tmp_path):
    result = run_cli("data/random_facts/prepare.py", "--table_size=60", "--table_seed=2", f"--data_dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "random_facts" / "input.txt").read_text() == task_text("random_facts", table_size=60,
                                                                             table_seed=2)
    meta = pickle.loads((tmp_path / "random_facts" / "meta.pkl").read_bytes())
    assert meta["stoi"] == task_codec("facts_char", task_text("facts_char")).stoi
    result = run_cli("data/random_math/prepare.py", "--table_size=0", f"--data_dir={tmp_path}")
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "error: table_size=0 is not allowed for dataset='random_math'; give the table's number of lines, 1 to 20,000"]


@pytest.mark.slow
@pytest.mark.parametrize("step", ["fused", "torch"])
def test_a_random_table_trains_end_to_end(tmp_path, step):
    import train_with_eval
    result = run_main(train_with_eval.main, "config/train_math_mini_14.py", "--dataset=random_math", "--table_size=150",
                      "--table_seed=4", "--max_iters=30", "--eval_interval=15", "--compile=False", f"--step={step}",
                      f"--out_dir={tmp_path}", "--quiet")
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "results.csv").read_text().splitlines()
    assert len(lines) == 4 and ",,,,," in lines[1]  # no held-out counts, no facts
    assert "add 0/" in result.stdout and "(5,7)" not in result.stdout
    items = (tmp_path / "items.csv").read_text().splitlines()[0].split(",")[1:]
    assert items == [f"{a}{op}{b}" for a, op, b, _ in random_table("random_math", 150, 4)]
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["step"]["kind"] == step and run["n_params"] == 1456
    assert (run["config"]["dataset"], run["config"]["table_size"], run["config"]["table_seed"]) == ("random_math", 150, 4)


@pytest.mark.slow
def test_the_tools_that_score_the_papers_items_refuse_a_random_table_run(tmp_path):
    """A random-answer run shares the paper's vocabulary, so these tools would score its
    checkpoint on the held-out sums without complaint; each says instead what the run is."""
    import eval_as_math
    import eval_capitals
    import train_with_eval
    from tools import facts_order, inspect_model, intervene, margins, progress, why
    math, facts = tmp_path / "random_math", tmp_path / "random_facts"
    for run, config, dataset in ((math, "config/train_math_mini_14.py", "random_math"),
                                 (facts, "config/train_facts_mini_14.py", "random_facts")):
        assert run_main(train_with_eval.main, config, f"--dataset={dataset}", "--table_size=50", "--max_iters=10",
                        "--eval_interval=10", "--keep_evals=True", f"--out_dir={run}", "--quiet").returncode == 0
    for main, *args in ((eval_as_math.main, f"--out_dir={math}"), (inspect_model.main, f"--out_dir={math}"),
                        (intervene.main, f"--out_dir={math}"), (margins.main, str(math)),
                        (why.main, f"--runs={math}", f"--out={tmp_path / 'why'}"),
                        (progress.main, f"--runs={math}", f"--out={tmp_path / 'progress'}"),
                        (eval_capitals.main, f"--out_dir={facts}"),
                        (facts_order.main, str(facts), f"--out={tmp_path / 'order.md'}")):
        result = run_main(main, *args)
        lines = result.stderr.strip().splitlines()
        dataset = "random_facts" if str(facts) in " ".join(args) else "random_math"
        refusal = f"was trained on {dataset}, random answers for measuring capacity in bits"
        assert result.returncode == 2 and len(lines) == 1 and refusal in lines[0], (main.__module__, result.stderr)
    assert not any((tmp_path / name).exists() for name in ("why", "progress", "order.md"))


@pytest.mark.slow
def test_a_stack_trains_runs_of_one_random_table_as_single_runs_would(tmp_path):
    """A GPU sweep trains the seeds of one width and table as one stack (toobig/training/stacked.py):
    on the CPU, the stack's rows are the single runs'."""
    import torch
    import train_with_eval
    from toobig.training.stacked import train_stack

    def config(name, seed):
        return resolve({**DEFAULTS, "dataset": "random_math", "table_size": 120, "table_seed": 2, "seed": seed,
                        "max_iters": 20, "eval_interval": 10, "compile": False, "device": "cpu", "quiet": True,
                        "step": "torch", "out_dir": str(tmp_path / name)})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert train_stack([config("stack_s1", 1), config("stack_s2", 2)]) == {}
        train_with_eval.train(config("single_s2", 2))
    finally:
        torch.set_num_threads(threads)
    stack, single = ((tmp_path / name / "results.csv").read_text().splitlines() for name in ("stack_s2", "single_s2"))
    assert [line.split(",")[4:-1] for line in stack] == [line.split(",")[4:-1] for line in single]  # the counts
    assert (tmp_path / "stack_s2" / "items.csv").read_text() == (tmp_path / "single_s2" / "items.csv").read_text()
