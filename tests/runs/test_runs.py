"""toobig/runs/reading.py: the protocols and measures, on hand-made run files whose answers are known."""
import math

import numpy as np
import pytest

from toobig.runs import reading as runs

COLUMNS = ("iter", "train_loss", "add_correct", "add_total", "sub_correct", "sub_total", "heldout_correct",
           "heldout_total", "facts_correct", "facts_total", "combined_acc")


def results(*rows):
    """results.csv columns as arrays, from (iter, add, sub, held-out, facts or None) rows."""
    table = {c: [] for c in COLUMNS}
    for it, add, sub, held, facts in rows:
        values = dict(iter=it, train_loss=1.0, add_correct=add, add_total=1000, sub_correct=sub, sub_total=1000,
                      heldout_correct=held, heldout_total=40, facts_correct=math.nan if facts is None else facts,
                      facts_total=math.nan if facts is None else 500)
        parts = [(add + sub, 2000)] + ([] if facts is None else [(facts, 500)])
        values["combined_acc"] = sum(c for c, _ in parts) / sum(t for _, t in parts)
        for c in COLUMNS:
            table[c].append(values[c])
    return {c: np.array(v, dtype=float) for c, v in table.items()}


def test_the_protocols_pick_their_evaluations():
    # 250: every training sample right, none of the held-out; 500: all 2000 samples right; 750: half the held-out
    r = results((0, 0, 0, 0, None), (250, 980, 980, 0, None), (500, 1000, 1000, 40, None), (750, 990, 990, 20, None))
    assert list(runs.train_accuracy(r)) == pytest.approx([0, 1, 1, 1])
    assert runs.selected_row(r, "best") == 2  # the held-out four decide it
    assert runs.selected_row(r, "train_best") == 1  # the training items alone: the first of equal ones
    assert runs.selected_row(r, "last") == 3
    with pytest.raises(ValueError, match="protocol='oracle' is not allowed"):
        runs.selected_row(r, "oracle")
    assert runs.heldout_share_late(r, 1000) == pytest.approx((40 + 20) / 80)  # evaluations at 500 and 750
    assert math.isnan(runs.heldout_share_late(r, 10_000))  # not yet in its second half


def test_train_accuracy_of_the_joint_task_counts_the_facts():
    r = results((0, 980, 980, 0, 100), (250, 1000, 1000, 40, 90))
    assert list(runs.train_accuracy(r)) == pytest.approx([(1960 + 100) / 2460, (1960 + 90) / 2460])
    assert runs.selected_row(r, "train_best") == 0 and runs.selected_row(r, "best") == 1


def counts_table(first):
    """items.csv counts (items x evaluations) for the 200 sums: item n all right from evaluation first[n] on
    (default 1), 0 before; 6 evaluations."""
    names = [f"{a}{op}{b}" for op in "+-" for a in range(10) for b in range(10)]
    counts = np.array([[10 if e >= first.get(n, 1) else 0 for e in range(6)] for n in names])
    return np.arange(6) * 250, names, counts


def test_rule_before_fit_places_the_held_out_four_among_the_45_quadruples():
    held = {"5+7": 2, "7+5": 2, "5-7": 3, "7-5": 2}  # together first at evaluation 3
    late = {"0+1": 4, "1+0": 4, "0-1": 4, "1-0": 4, "2+3": 3, "3+2": 3, "2-3": 3, "3-2": 3}
    iters, names, counts = counts_table({**held, **late})
    fair = runs.rule_before_fit(iters, names, counts, 10)
    # 42 training quadruples at evaluation 1, (2,3) tied at 3, (0,1) after: place 1 + 42 + 1/2
    assert fair == {"first_iter": 750, "quadruples_before": 42, "quadruples_tied": 1, "rank": 43.5,
                    "all_seen_before": False}  # 0+1 and its kin only at evaluation 4
    never = runs.rule_before_fit(*counts_table({"5-7": 9}), 10)
    assert never["first_iter"] is None and never["rank"] is None
    # another pair's four are the held-out ones when the run says so
    assert runs.rule_before_fit(iters, names, counts, 10, held_out="0:1")["rank"] == 45.0


def test_fit_and_keep_and_disagreeing_samples():
    iters, names, counts = counts_table({"3+4": 2, "5+7": 5})  # the held-out 5+7 does not count
    counts[names.index("3+4"), 4] = 7  # lost at evaluation 4: 7 of 10 samples right
    assert runs.fit_and_keep(iters, names, counts, 10) == (500, pytest.approx(2 / 3))
    assert runs.strictly_between(counts, 10) == pytest.approx(1 / counts.size)
    counts[names.index("0+0")] = 0
    assert runs.fit_and_keep(iters, names, counts, 10)[0] is None


def test_quadruples_put_the_held_out_pair_first():
    quads = runs.quadruples("8:3")
    assert len(quads) == 45 and quads[0] == ["3+8", "8+3", "3-8", "8-3"]
    assert sum(q == ["5+7", "7+5", "5-7", "7-5"] for q in quads) == 1
    assert len(runs.training_expressions("8:3")) == 196 and "3-8" not in runs.training_expressions("8:3")


def test_item_tables_and_summaries_read_back(tmp_path):
    (tmp_path / "margins.csv").write_text("iter,5+7,Paris\n250,-0.50,1.25\n500,2.00,3.00\n")
    iters, names, values = runs.read_item_table(tmp_path, "margins.csv")
    assert list(iters) == [250, 500] and names == ["5+7", "Paris"] and values[0, 0] == -0.5
    assert runs.read_item_table(tmp_path, "logprobs.csv") is None
    (tmp_path / "summary.csv").write_text("n_embd,finished,share,margins,rank\n14,True,0.5,1.00 -2.00,\n")
    assert runs.read_summary(tmp_path / "summary.csv") == [
        {"n_embd": 14, "finished": True, "share": 0.5, "margins": "1.00 -2.00", "rank": None}]


def test_a_scratch_start_removes_kept_weights_but_not_a_stranger_named_evals(tmp_path):
    from toobig.runs.run_folder import RunError, RunFolder
    kept = tmp_path / "run" / "evals"
    kept.mkdir(parents=True)
    (kept / "iter_000250.pt").write_bytes(b"weights")
    RunFolder(tmp_path / "run").start()
    assert not kept.exists()  # an old run's kept weights, even with nothing else of it left
    other = tmp_path / "other" / "evals"
    other.mkdir(parents=True)
    (other / "notes.txt").write_text("mine")
    with pytest.raises(RunError, match="notes.txt"):
        RunFolder(tmp_path / "other").start()
    assert (other / "notes.txt").read_text() == "mine"
