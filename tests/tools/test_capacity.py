"""Capacity in bits (issue 39): the sweep of random tables, tools/capacity.py and what they report."""
import csv
import math

import pytest

from conftest import REPO, run_cli, run_main
from toobig.analysis.capacity_prediction import predict, prediction_table
from toobig.analysis.capacity_summary import (by_width, capacity_folders, capacity_tables, facts_against_capacity,
                                              math_lookup_bits, task_bits, width_capacity)
from toobig.analysis.sweep_summary import facts_information_bits
from toobig.reports.capacity_report import capacity_figure
from toobig.study.tasks import task_text
from toobig.study.training_config import DEFAULTS
from tools import capacity, sweep

TINY = ["--max_iters=20", "--eval_interval=10", "--device=cpu", "--compile=False", "--jobs=1"]


def fake_row(n_embd, table_size, seed, bits, finished=True, **config):
    """A capacity_summary row as capacity_row makes it, for the tables and the figure."""
    n_params = {4: 176, 14: 1456}[n_embd]
    return {"run": f"out/random_math_n{n_embd}_s{seed}_t{table_size}", "task": "random_math", "n_embd": n_embd,
            "n_params": n_params, "seed": seed, "table_size": table_size, "finished": finished,
            "bits_stored": bits, "entropy_bits": table_size * math.log2(28), "answers_right": 0,
            "exposures": 26_460_000 // (table_size * 9),
            "config": {**DEFAULTS, "dataset": "random_math", "n_embd": n_embd, "seed": seed,
                       "table_size": table_size, **config}}


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_a_sweep_of_random_tables_reports_the_bits_its_runs_store(tmp_path):
    out = tmp_path / "capacity_n4"
    result = run_main(sweep.main, "--task=random_math", "--sizes=4", "--seeds=1,2", "--table_sizes=50,100",
                      f"--out={out}", *TINY)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [
        "random_math_n4_s1_t100", "random_math_n4_s1_t50", "random_math_n4_s2_t100", "random_math_n4_s2_t50"]
    rows = read_csv(out / "capacity.csv")
    assert [(r["n_params"], r["seed"], r["table_size"], r["finished"]) for r in rows] == [
        ("176", "1", "50", "True"), ("176", "2", "50", "True"), ("176", "1", "100", "True"), ("176", "2", "100", "True")]
    for r in rows:
        assert float(r["entropy_bits"]) == pytest.approx(int(r["table_size"]) * math.log2(28), abs=0.01)
        stored, net = float(r["bits_stored"]), float(r["entropy_minus_code_length_bits"])
        assert 0 <= stored <= float(r["entropy_bits"]) and net <= stored
        assert float(r["bits_per_param"]) == pytest.approx(stored / 176, abs=1e-4)
        length = len(task_text("random_math", table_size=int(r["table_size"])))
        assert int(r["exposures"]) == round(882 * 20 / (length - 9))  # batch x iterations over the places
    text = (out / "capacity.md").read_text()
    assert "| random_math | n4 | 176 |" in text and "## random_math, n4 (176 parameters)" in text
    assert (out / "capacity.png").stat().st_size > 10_000
    # the tool reads the same runs from the sweep folder, or from run folders, alike
    result = run_main(capacity.main, str(out), f"--out={tmp_path / 'report'}")
    assert result.returncode == 0, result.stderr
    assert read_csv(tmp_path / "report" / "capacity.csv") == rows
    assert result.stdout.startswith("# Capacity in bits") and "from 4 runs (4 finished)" in result.stdout
    result = run_main(capacity.main, str(out / "random_math_n4_s1_t50"), f"--out={tmp_path / 'one'}")
    assert result.returncode == 0 and read_csv(tmp_path / "one" / "capacity.csv") == rows[:1]
    # the prediction needs the calibration's widths on the paper's table size, and says which
    result = run_main(capacity.main, str(out), f"--out={tmp_path / 'one'}", "--predict=math_add")
    assert result.returncode == 2 and result.stderr.startswith("error: the calibration needs n20's capacity, and "
                                                                "n20 has no finished random_math runs")


@pytest.mark.parametrize("args,message", [
    ([], "error: name run folders or sweep folders of runs on random_math or random_facts"),
    (["nowhere"], "error: nowhere does not exist (a run folder holds results.csv)"),
    (["results/math_mini_14"], "error: results/math_mini_14 was trained on as_math, whose answers follow a rule"),
    (["results/math_mini_14", "--ckpt=../model_last.pt"], "error: --ckpt='../model_last.pt' names a file inside"),
    (["--device=tpu"], "error: device='tpu'"),
    (["x", "--predict=math"], "error: --predict='math' is not a one-operation table; choose math_add or math_sub"),
    (["x", "--window=nowhere.csv"], "error: --window=nowhere.csv is not a file; give a width sweep's summary.csv"),
    (["x", "--window=results/capacity_like.csv"], "error: --window=results/capacity_like.csv is not a file"),
    (["x", "--window=results/sweeps/facts/summary.csv"], "error: the summary holds runs of facts_char: give"),
    (["x", "--facts=nowhere.csv"], "error: --facts=nowhere.csv is not a file; give a facts width sweep's summary.csv"),
    (["x", "--facts=results/sweeps/math/summary.csv"], "error: --facts=results/sweeps/math/summary.csv: the summary "
                                                       "holds runs of as_math: give a facts width sweep's summary.csv"),
    (["x", "--window=README.md"], "error: README.md is not a sweep's summary.csv: line 3 does not have the 2 cells"),
    (["x", "--window=results/sweeps/math_add/operations.csv"], "error: the summary holds runs of as_math_add: give"),
    (["x", "--out=results/capacity", "--predict=math_add"], "error: results/capacity/prediction_math_add.md exists, "
                                                            "and a prediction is written once, before its runs"),
    (["results/capacity/n4/random_math_n4_s1_t6", "--facts=results/sweeps/facts/summary.csv", "--out=unwritten"],
     "error: --facts=results/sweeps/facts/summary.csv sets random capitals beside the real facts, and none"),
    (["--outt=x"], "error: unknown config key 'outt'; did you mean out?")])
def test_bad_input_is_one_line_and_exit_2(args, message):
    result = run_main(capacity.main, *args)
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith(message), result.stderr


@pytest.mark.slow
def test_the_tool_answers_without_a_traceback():
    result = run_cli("tools/capacity.py", REPO / "results" / "sweeps" / "math")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and "whose answers follow a rule" in result.stderr


def test_the_sweep_grid_of_random_tables(tmp_path):
    runs, _ = sweep.grid({**sweep.OPTIONS, "task": "random_facts", "sizes": "14", "seeds": "1,2",
                          "table_sizes": "60,120", "out": str(tmp_path)})
    assert [name for name, _, _ in runs] == ["random_facts_n14_s1_t60", "random_facts_n14_s2_t60",
                                             "random_facts_n14_s1_t120", "random_facts_n14_s2_t120"]
    config = runs[-1][2]
    assert (config["dataset"], config["table_size"], config["batch_size"], config["block_size"]) == (
        "random_facts", 120, 576, 24)
    assert runs[0][1][0].endswith("config/train_facts_mini_14.py") and "--dataset=random_facts" in runs[0][1]
    for options, message in (({"task": "math", "table_sizes": "50"}, "--table_sizes=50 applies to the random-answer"),
                             ({"task": "random_math"}, "--task=random_math trains on random tables: give their sizes"),
                             ({"task": "randm_math"}, "choose one of math, facts, both, random_math, random_facts")):
        with pytest.raises(ValueError, match=message):
            sweep.grid({**sweep.OPTIONS, **options})


def test_a_widths_capacity_is_its_largest_mean_and_a_lower_bound_at_the_largest_table():
    rows = [fake_row(4, size, seed, bits + seed) for size, bits in ((50, 200), (100, 400), (200, 380))
            for seed in (1, 2, 3)]
    rows += [fake_row(14, size, seed, bits + seed) for size, bits in ((400, 1900), (800, 3000)) for seed in (1, 2, 3)]
    rows.append(fake_row(14, 1600, 1, 9999, finished=False))  # a partial run: no result yet
    groups = by_width(rows)
    assert list(groups) == [("random_math", 4, 176), ("random_math", 14, 1456)]
    n4, n14 = (width_capacity(tables) for tables in groups.values())
    assert (n4["table_size"], n4["bits"], n4["reached"]) == (100, 402.0, True)
    assert n4["high"] - n4["bits"] == pytest.approx(4.30265273 / math.sqrt(3), abs=1e-4)  # sd 1 over 3 seeds
    assert (n14["table_size"], n14["reached"]) == (800, False)
    text = capacity_tables(rows)
    assert "| random_math | n4 | 176 | 402 [400-404] | 2.28 [2.27-2.30] | 100 | reached |" in text
    assert "| 800 | 3,846 | 3,675 | 3 | 3,002 [3,000-3,004] | 2.06 [2.06-2.06] | 0 of 800 |" in text
    assert "not reached: a lower bound" in text and "1,600" not in text
    assert capacity_figure(rows, "test", window=(800, 2800)).axes[0].get_yscale() == "symlog"


def test_runs_of_other_settings_are_not_pooled():
    rows = [fake_row(4, 50, 1, 100.0), fake_row(4, 50, 2, 110.0, weight_decay=0.1)]
    with pytest.raises(ValueError, match=r"differ in weight_decay \(0.0, 0.1\)"):
        by_width(rows)
    assert len(by_width([fake_row(4, 50, 1, 100.0), fake_row(4, 50, 2, 110.0, table_seed=3)])[("random_math", 4, 176)][50]) == 2


def test_what_the_papers_tasks_ask():
    frequencies, uniform = math_lookup_bits()
    assert uniform == pytest.approx(196 * math.log2(28))
    assert 700 < frequencies < uniform  # the answers' own frequencies code them in fewer bits
    assert task_bits() == {"the arithmetic answers as a lookup": (frequencies, uniform),
                           "the 50 facts": facts_information_bits()}


def test_capacity_folders_find_runs_in_sweeps_once(tmp_path):
    for name in ("a", "b"):
        (tmp_path / "sweep" / name).mkdir(parents=True)
        (tmp_path / "sweep" / name / "results.csv").write_text("iter\n")
    (tmp_path / "sweep" / "capacity.md").write_text("")
    found = capacity_folders([tmp_path / "sweep", tmp_path / "sweep" / "a"])
    assert found == [tmp_path / "sweep" / "a", tmp_path / "sweep" / "b"]
    with pytest.raises(ValueError, match="is neither a run folder nor a sweep folder"):
        capacity_folders([tmp_path])


def width_rows(n_embd, n_params, table_size, bits):
    """Finished rows of one width and table, one per seed, bits stored as given."""
    return [{**fake_row(14, table_size, seed, stored), "n_embd": n_embd, "n_params": n_params,
             "config": {**DEFAULTS, "dataset": "random_math", "n_embd": n_embd, "seed": seed, "table_size": table_size}}
            for seed, stored in enumerate(bits, start=1)]


def ladder(n_embd, n_params, bits_by_table):
    """A width's rows over its tables: {table_size: [bits stored per seed]}."""
    return [row for size, bits in bits_by_table.items() for row in width_rows(n_embd, n_params, size, bits)]


def test_the_capacity_prediction_places_each_width_against_the_papers_band():
    paper, add = math_lookup_bits(), math_lookup_bits(operations="+")
    rows = (ladder(20, 2800, {200: [950, 950], 400: [1300, 1300], 800: [1200, 1200]})      # capacity 1,300
            + ladder(28, 5264, {200: [955, 955], 800: [2000, 2000], 1600: [1900, 1900]})  # 2,000
            + ladder(8, 544, {100: [250, 260], 200: [280, 290, 300], 400: [270, 280]})    # 290 [265-315]
            + ladder(14, 1456, {200: [520, 600], 400: [700, 800]})                        # 750, a lower bound
            + ladder(16, 1856, {400: [880, 900, 920], 800: [800, 810]}))                  # 900 [850-950]
    prediction = predict(rows, add)
    low_edge, high_edge = prediction["band"]
    assert low_edge == pytest.approx(1300 / (sum(paper) / 2)) and high_edge == pytest.approx(2000 / (sum(paper) / 2))
    classes = {w["n_embd"]: w["class"] for w in prediction["widths"]}
    # the band is 1.50-2.31; n8's headroom on the addition table is at most 315 / 395 = 0.80, below it;
    # n14's is a lower bound (at least 1.53: inside, and no upper end); n16's at least 850 / 416 = 2.04
    # (inside); n20 (3.12-3.29) and n28 are above it
    assert classes == {8: "generalizes", 14: "undecided", 16: "undecided", 20: "does not", 28: "does not"}
    n8 = next(w for w in prediction["widths"] if w["n_embd"] == 8)
    mean, low, high = n8["headroom"]
    half = 4.303 * 10 / math.sqrt(3)  # the 95% t interval of 280, 290, 300
    assert mean == pytest.approx(290 / (sum(add) / 2)) and n8["paper"] == pytest.approx(290 / (sum(paper) / 2))
    assert low == pytest.approx((290 - half) / add[1], rel=1e-3) and high == pytest.approx((290 + half) / add[0], rel=1e-3)
    assert math.isinf(next(w for w in prediction["widths"] if w["n_embd"] == 14)["headroom"][2])
    table = prediction_table(prediction, add, "Addition alone")
    assert "| n8 | 544 | 290 [265-315] | reached | 0.33 | 0.71 [0.64-0.80] | generalizes |" in table
    assert "| n14 | 1,456 | 750 [115-1,385] | not reached: a lower bound | 0.87 | 1.85 [0.28-∞] | undecided |" in table


def test_the_capacity_prediction_needs_its_calibration():
    add = math_lookup_bits(operations="+")
    with pytest.raises(ValueError, match="needs n20's capacity, and n20 has no finished random_math runs"):
        predict(ladder(28, 5264, {200: [955], 800: [2000], 1600: [1900]}), add)
    rows = ladder(20, 2800, {200: [950, 950], 400: [1300, 1300]}) + ladder(28, 5264, {800: [2000], 1600: [1900]})
    with pytest.raises(ValueError, match="n20 has not reached its plateau"):  # its largest table stores the most
        predict(rows, add)
    rows = ladder(20, 2800, {800: [2000], 1600: [1900]}) + ladder(28, 5264, {800: [1300], 1600: [1200]})
    with pytest.raises(ValueError, match=r"n28's headroom on the paper's table \(1.50\) is no more than n20's \(2.31\)"):
        predict(rows, add)


def test_capacity_csv_reads_back_as_the_rows_it_was_written_from(tmp_path):
    from toobig.analysis.capacity_summary import CAPACITY_COLUMNS, read_capacity_csv
    from toobig.reports.capacity_report import capacity_csv
    rows = [{**fake_row(4, 50, 1, 29.5), "table_seed": 0, "iter": 30000, "answers": 50, "code_length_bits": 211.0,
             "entropy_minus_code_length_bits": 29.5, "bits_per_param": 0.1676, "exposures": 58800}]
    (tmp_path / "capacity.csv").write_text(capacity_csv(rows))
    back = read_capacity_csv(tmp_path / "capacity.csv")
    assert [{k: r[k] for k in CAPACITY_COLUMNS} for r in back] == [{k: r[k] for k in CAPACITY_COLUMNS} for r in rows]
    assert back[0]["config"] == {}
    (tmp_path / "other.csv").write_text("run,task\n")
    with pytest.raises(ValueError, match="other.csv is not a capacity.csv"):
        read_capacity_csv(tmp_path / "other.csv")


def test_the_generalization_window_is_the_widths_that_answer_the_held_out_four():
    from toobig.analysis.capacity_summary import generalization_window
    from toobig.runs.reading import read_summary
    assert generalization_window(read_summary(REPO / "results/sweeps/math/summary.csv")) == (544, 2800)  # n8-n20
    with pytest.raises(ValueError, match="the summary has no finished, held_out"):
        generalization_window([{"n_params": 544}])


def test_the_random_capitals_stand_beside_the_real_facts():
    def facts_row(table_size, seed, bits, right):
        row = fake_row(14, table_size, seed, bits, dataset="random_facts")
        return {**row, "task": "random_facts", "n_params": 1932, "entropy_bits": 40.0 * table_size, "answers_right": right}
    rows = [facts_row(size, seed, bits + seed, right) for size, bits, right in ((12, 470, 11), (50, 500, 5), (100, 300, 2))
            for seed in (1, 2, 3)]
    rows += [fake_row(4, 50, 1, 100.0)]  # arithmetic: not a facts width
    run = {"task": "facts_char", "n_embd": 14, "finished": True, "weight_decay": 0.0, "init_scale": 1.0}
    summary = [{**run, "facts_acc_at_best": acc} for acc in (0.08, 0.12)]
    summary += [{**run, "weight_decay": 0.1, "facts_acc_at_best": 0.9},  # other settings
                {**run, "init_scale": 0.5, "facts_acc_at_best": 0.9},
                {**run, "finished": False, "facts_acc_at_best": 0.5}]  # not yet finished
    mapping, strings = facts_information_bits()
    text = facts_against_capacity(rows, summary)
    assert (f"| n14 | 1,932 | 502 [500-504] of 2,000, 5 of 50 answered whole (by seed) | 502 [500-504] at 50 | "
            f"{502 / strings:.2f} / {502 / mapping:.2f} | 10% (2 seeds, 8-12%) |") in text
    assert "n4" not in text and facts_against_capacity(rows[-1:], summary) == ""
    # no 50-line table yet, the largest table the best: said so; a width with no facts run: said so
    early = [facts_row(size, seed, bits + seed, 1) for size, bits in ((12, 300), (25, 400)) for seed in (1, 2, 3)]
    text = facts_against_capacity(early, [{**r, "n_embd": 28} for r in summary])
    assert "| n14 | 1,932 | not run | 402 [400-404] at 25 (a lower bound) |" in text and text.endswith("| no run |\n")


def test_the_tool_sets_committed_random_capitals_beside_the_real_facts(tmp_path):
    result = run_main(capacity.main, str(REPO / "results/capacity/facts_n14/random_facts_n14_s1_t50"),
                      "--facts=results/sweeps/facts/summary.csv", f"--out={tmp_path}")
    assert result.returncode == 0, result.stderr
    committed = read_csv(REPO / "results/capacity/capacity.csv")
    again = read_csv(tmp_path / "capacity.csv")[0]
    assert again == next(r for r in committed if r["run"].endswith("random_facts_n14_s1_t50")) | {"run": again["run"]}
    text = (tmp_path / "capacity.md").read_text()
    assert "## The 50 facts against capacity" in text and f"of {float(again['entropy_bits']):,.0f}, 0 of 50 answered whole" in text
    assert "| 10% (3 seeds, 10-10%) |" in text  # n14 of the facts width sweep at its best evaluation
