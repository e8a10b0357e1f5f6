"""tools/claims.py: the committed claims table is what the code computes from the committed runs."""
import math

import pytest

from conftest import REPO, run_main


def test_the_committed_claims_table_regenerates_from_the_committed_runs(tmp_path):
    from tools import claims
    result = run_main(claims.main, f"--root={REPO / 'results'}", f"--out={tmp_path / 'claims.md'}")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "claims.md").read_text() == (REPO / "results" / "claims.md").read_text()


def test_verdicts_follow_the_stated_rule():
    from toobig.reports import findings
    assert findings.verdict(True)(0.01) == "holds"
    assert findings.verdict(True, selected=True)(0.01).startswith("qualified: only with the evaluation selected")
    assert findings.verdict(True)(0.2).startswith("qualified: not significant after the correction")
    assert findings.verdict(False)(0.001) == "does not hold"


def test_verdicts_follow_the_holm_adjusted_p_within_each_family():
    import pytest
    from toobig.reports import findings
    rows = [findings.row(f"claim {i}", "", "", "", "", findings.verdict(True), family=family, p=p)
            for i, (family, p) in enumerate([("size", 0.01), ("size", 0.04), ("size", 0.03), ("joint", 0.04)])]
    rows.append(findings.row("a single run", "", "", "", "", "holds"))
    findings.settle(rows)
    # size: 0.01 x 3 = 0.03 holds; 0.03 x 2 = 0.06 and 0.04 x 1 -> 0.06 do not; joint alone: 0.04 holds
    assert [r["p_holm"] for r in rows] == pytest.approx([0.03, 0.06, 0.06, 0.04, None])
    assert [r["verdict"].split(":")[0] for r in rows] == ["holds", "qualified", "qualified", "holds", "holds"]
    with pytest.raises(ValueError, match="family 'sizes' is not one of"):
        findings.row("c", "", "", "", "", findings.verdict(True), family="sizes", p=0.1)
    with pytest.raises(ValueError, match="a deciding p needs a family"):
        findings.row("c", "", "", "", "", "holds", p=0.1)


def test_every_p_in_the_committed_table_has_a_family_and_its_holm_value():
    from tools import claims
    from toobig.reports import findings
    rows = claims.table_rows((REPO / "results" / "claims.md").read_text())
    for r in rows:
        assert (r["family"] == "–") == (r["Holm p"] == "–"), r["claim"]
        assert r["family"] == "–" or r["family"] in findings.FAMILIES
    assert sum(r["family"] == "paper" for r in rows) >= 6


def test_claims_refuse_a_root_that_mixes_training_steps(tmp_path):
    import json
    import pytest
    from toobig.reports import findings
    for name, step in (("a", {"kind": "fused"}), ("b", None), ("gpu", None)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "run.json").write_text(json.dumps({"device": "cuda" if name == "gpu" else "cpu",
                                                              "step": step}))
    with pytest.raises(ValueError, match="mixes training steps: 1 fused-step runs .*; 1 torch-step runs"):
        findings.check_one_step(tmp_path)
    (tmp_path / "b" / "run.json").write_text(json.dumps({"device": "cpu", "step": {"kind": "fused"}}))
    assert findings.check_one_step(tmp_path) == "fused"  # the GPU run is left to its rows
    assert findings.check_one_step(REPO / "results") == "fused"


def test_a_bad_output_path_is_one_line(tmp_path):
    from tools import claims
    (tmp_path / "a_file").write_text("")
    result = run_main(claims.main, f"--root={REPO / 'results'}", f"--out={tmp_path / 'a_file' / 'claims.md'}")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_the_pre_registered_test_refuses_runs_outside_its_design(tmp_path):
    import pytest
    from toobig.reports import findings
    folder = tmp_path / "sweeps" / "held_out_predicted"
    folder.mkdir(parents=True)
    lines = (REPO / "results/sweeps/held_out_predicted/summary.csv").read_text().splitlines(keepends=True)
    (folder / "summary.csv").write_text("".join(lines[:-1]))  # one run short of 12 pairs x 3 seeds
    with pytest.raises(ValueError, match="pre-registered"):
        findings.predicted_pairs(tmp_path)


def test_the_front_pages_findings_are_the_claims_tables():
    from tools import claims
    readme = (REPO / "README.md").read_text()
    assert readme == claims.with_findings(readme, (REPO / "results" / "claims.md").read_text())
    assert readme.count("\n- **") >= len(claims.HEADLINE) - len(claims.PENDING)


def test_a_pending_headline_row_waits_for_its_runs_and_any_other_missing_row_is_an_error():
    import pytest
    from tools import claims
    table = (REPO / "results" / "claims.md").read_text()
    shown = claims.headline_findings(table)
    assert "**Ten times longer (floor), n28" in shown and "**Ten times longer (wd1), n20" in shown
    # a long-run group not finished yet has no row: its headline waits
    unfinished = "\n".join(line for line in table.splitlines() if not line.startswith("| Ten times longer (wd1), n20"))
    assert "**Ten times longer (wd1), n20" not in claims.headline_findings(unfinished)
    without = "\n".join(line for line in table.splitlines() if not line.startswith("| Whatever pair is held out"))
    with pytest.raises(ValueError, match="the claims table has no row 'Whatever pair is held out'"):
        claims.headline_findings(without)


def test_the_held_norm_test_is_made_as_registered(tmp_path):
    """Stand-ins for the 30 held runs: copies of the free runs (no difference, p = 1), and for n14
    at 80 runs that do not fit their training items (weight decay 1.0 on every weight)."""
    import shutil
    import pytest
    from toobig.reports import findings
    for n in (14, 28):
        for s in range(1, 6):
            free = REPO / f"results/sweeps/math/math_n{n}_s{s}"
            shutil.copytree(free, tmp_path / f"sweeps/math/math_n{n}_s{s}")
            for norm in findings.HELD_NORMS[n]:
                held = REPO / f"results/sweeps/decay_all/math_n14_s{s}_wd1_dg" if (n, norm) == (14, 80) else free
                shutil.copytree(held, tmp_path / f"sweeps/weight_norm/math_n{n}_s{s}_wn{norm}")
    rows = findings.settle(findings.held_norm(tmp_path))
    by_claim = {r["claim"].split(",")[0]: r for r in rows}
    assert [r["family"] for r in rows[:6]] == ["norm, pre-registered"] * 2 + ["norm, secondary"] * 3 + [None]
    unfit = by_claim["Held at norm 80"]
    assert unfit["verdict"] == "not testable: too few runs fit" and unfit["p"] is None
    # identical groups: p = 1, and the secondary family is adjusted over its registered four
    assert by_claim["Held at norm 15"]["p"] == 1.0 and by_claim["Held at norm 15"]["verdict"] == "does not hold"
    assert rows[-1]["verdict"].startswith("contradicted") and rows[-1]["effect"].startswith("0 of 2 hold")
    shutil.rmtree(tmp_path / "sweeps/weight_norm/math_n28_s3_wn25")
    with pytest.raises(ValueError, match="29 of the design's 30 runs"):
        findings.held_norm(tmp_path)


def test_a_registered_family_is_corrected_over_its_registered_size():
    import pytest
    from toobig.reports import findings
    rows = [findings.row("one of six", "", "", "", "", findings.registered_verdict(True), family="long runs", p=0.02)]
    findings.settle(rows)
    assert rows[0]["p_holm"] == pytest.approx(0.12) and rows[0]["verdict"] == "not significant after the correction"


def test_every_verdict_that_holds_has_an_adjusted_p_below_alpha():
    from tools import claims
    for r in claims.table_rows((REPO / "results" / "claims.md").read_text()):
        if r["verdict"].startswith("holds") and r["Holm p"] != "–":
            assert r["Holm p"].startswith("<") or float(r["Holm p"]) < 0.05, r["claim"]


def test_a_long_run_group_that_ties_its_baseline_is_not_significant_not_contradicted():
    """prediction.md: "does not hold" is the opposite direction; n20 at the floor keeps, seed for
    seed, the share it had at 30,000 iterations (a tie, p = 1)."""
    from toobig.reports import findings
    rows = {r["claim"]: r for r in findings.settle(findings.long_runs(REPO / "results"))}
    tie = rows["Ten times longer (floor), n20 generalizes more than at the paper's length (pre-registered)"]
    assert tie["p"] == 1.0 and tie["verdict"] == "not significant after the correction"


def test_a_range_whose_ends_round_alike_is_one_number():
    from toobig.reports.findings import percent_range
    assert percent_range([0.995, 1.0, 1.0]) == "100%" and percent_range([0.21, 0.36, 0.3]) == "21-36%"
    claims = (REPO / "results/claims.md").read_text()
    assert "100-100%" not in claims and "training accuracy at the end 100% |" in claims


def test_the_capacity_predictions_tests_as_registered():
    from toobig.core.stats import holm
    from toobig.reports import findings
    widths = findings.WIDTHS
    classes = {8: "generalizes", 10: "generalizes", 12: "undecided", 14: "does not", 16: "does not", 20: "does not",
               28: "does not"}
    alone = {n: [0.9, 0.8, 1.0, 0.7, 0.9] if n < 12 else [0.0, 0.1, 0.0, 0.2, 0.0] for n in widths}
    paper = {n: [0.9, 1.0, 1.0, 0.8, 0.9] if n < 28 else [0.0] * 5 for n in widths}
    first, second, per_width = findings.settle(findings.capacity_prediction_rows(classes, alone, paper))
    assert first["n"] == "10 + 20 runs" and first["family"] == second["family"] == "capacity prediction"
    assert "generalizes: n8, n10; undecided: n12; does not: n14, n16, n20, n28" in first["effect"]
    assert first["verdict"] == "holds" and first["p"] < 0.001
    # test 2 reads n14-n20 (n28 answers none on the paper's table either) on both tables
    assert second["n"] == "15 + 15 runs" and second["effect"].startswith("n14, n16, n20: addition alone 6% [")
    assert second["verdict"] == "holds"
    assert [first["p_holm"], second["p_holm"]] == list(holm([first["p"], second["p"]]))  # Holm over the two
    # the rival readings, width by width, beside the tests and outside the family
    assert per_width["family"] is None and per_width["n"] == "35 + 35 runs"
    assert per_width["effect"].startswith("n8 (generalizes): 86% [") and "n28 (does not): 6% [" in per_width["effect"]
    # a width class left empty, or no width of n8-n20 predicted not to: reported as not testable
    none_shift = {n: "generalizes" for n in widths} | {28: "does not"}
    first, second, _ = findings.settle(findings.capacity_prediction_rows(none_shift, alone, paper))
    assert second["verdict"] == "not testable: the two readings agree on this table" and second["p"] is None
    first, *_ = findings.settle(findings.capacity_prediction_rows({n: "undecided" for n in widths}, alone, paper))
    assert first["verdict"] == "not testable: a class is empty"
    # equal shares in both classes: not significant, not "does not hold"
    level = {n: [0.0] * 5 for n in widths}
    first, second, _ = findings.settle(findings.capacity_prediction_rows(classes, level, level))
    assert first["verdict"] == second["verdict"] == "not significant after the correction"


def test_a_share_of_some_held_out_expressions_over_the_second_half():
    from toobig.reports import findings
    from toobig.runs.reading import heldout_share_late, load_run
    folder = REPO / "results/sweeps/math/math_n12_s2"
    four = findings.late_share(folder, ("5+7", "7+5", "5-7", "7-5"))
    assert four == pytest.approx(heldout_share_late(load_run(folder)["results"], 30000))
    assert findings.late_share(folder, ("5+7", "7+5")) == pytest.approx(0.63, abs=0.005)


def test_the_capacities_are_described_against_the_anchors_and_the_window():
    from toobig.reports import findings

    def width(n_params, bits, half, reached=True):
        return n_params, {"bits": bits, "low": bits - half, "high": bits + half, "reached": reached}, 3
    widths = {8: width(544, 170, 100), 14: width(1456, 520, 80), 20: width(2800, 800, 300), 28: width(5264, 990, 500)}
    anchors, crossing = findings.capacity_rows(widths, (791, 942), (544, 2800))
    assert anchors["verdict"] == "described: every upper end below 2" and anchors["n"] == "4 widths, 12 runs"
    assert anchors["effect"].startswith("n8 0.31 [0.13-0.50]; n14 0.36 [0.30-0.41]")
    assert crossing["verdict"] == "described, qualified: at n20 by the means; by the intervals anywhere from n20 to n28"
    # the window ending a width earlier than the crossing: does not hold
    ends_early = findings.capacity_rows(widths, (791, 942), (544, 1456))
    assert ends_early[1]["verdict"] == "described: not where the window ends"
    narrow = {**widths, 20: width(2800, 800, 10), 28: width(5264, 2000, 10)}
    assert findings.capacity_rows(narrow, (791, 942), (544, 2800))[1]["verdict"] == "described: at the window's end"
    # a width above 2 bits per parameter, or one whose largest table stores the most
    dense = findings.capacity_rows({4: width(176, 400, 10)}, (791, 942), (176, 176))
    assert dense[0]["verdict"] == "described: not below 2 at every width"
    assert findings.capacity_rows({**widths, 56: width(20000, 3000, 100, reached=False)}, (791, 942),
                                  (544, 2800))[0]["verdict"] == (
        "described: every upper end below 2; qualified: n56 only lower bounds")
    # a width of one seed (no interval) is named, not read as "nan"; given out of order, the widths are sorted
    one_seed = {56: (20000, {"bits": 3000, "low": math.nan, "high": math.nan, "reached": True}, 1), **widths}
    anchors, crossing = findings.capacity_rows(one_seed, (791, 942), (544, 2800))
    assert anchors["verdict"] == "described: every upper end below 2; qualified: n56 one seed, no interval"
    assert "nan" not in anchors["test"]
    assert anchors["effect"].startswith("n8 0.31") and anchors["effect"].endswith("n56 0.15")
    assert crossing["verdict"].startswith("described, qualified: at n20")
    # the window's last width unmeasured: no verdict on where it ends
    assert findings.capacity_rows({w: widths[w] for w in (8, 14, 28)}, (791, 942), (544, 2800))[1]["verdict"] == (
        "not measured: the window's last width has no capacity")


def test_the_capacity_prediction_reads_the_classes_committed_before_its_runs(tmp_path):
    from toobig.analysis.capacity_prediction import read_prediction_classes
    from toobig.reports import findings
    committed = REPO / "results/capacity/prediction_math_add.md"
    assert read_prediction_classes(committed) == {8: "generalizes", 10: "generalizes", 12: "undecided",
                                                  14: "undecided", 16: "does not", 20: "undecided", 28: "does not"}
    # capacities that now give n16 another class than the committed file: refused, not re-classed
    (tmp_path / "capacity").mkdir()
    (tmp_path / "sweeps").symlink_to(REPO / "results/sweeps")
    (tmp_path / "capacity/capacity.csv").symlink_to(REPO / "results/capacity/capacity.csv")
    (tmp_path / "capacity/prediction_math_add.md").write_text(
        committed.read_text().replace("| 1.69 [1.22-2.18] | does not |", "| 1.69 [1.22-2.18] | undecided |"))
    with pytest.raises(ValueError, match="differ .n16: the file 'undecided', the capacities 'does not'"):
        findings.capacity_prediction(tmp_path)
    (tmp_path / "capacity/prediction_math_add.md").write_text("no table\n")
    with pytest.raises(ValueError, match="holds no prediction table"):
        findings.capacity_prediction(tmp_path)


def test_n14s_facts_against_its_capacity(tmp_path):
    from tests.tools.test_capacity import fake_row
    from toobig.reports import findings
    from toobig.reports.capacity_report import capacity_csv

    def table(share_right, bits, sizes=(25, 50, 100)):  # the peak at 50 lines unless 50 is the largest
        (tmp_path / "capacity").mkdir(exist_ok=True)
        rows = [{**fake_row(14, size, seed, bits * min(size, 50) / 50 / (1 + (size > 50)) + 100 * seed),
                 "task": "random_facts", "n_params": 1932,
                 "run": f"out/random_facts_n14_s{seed}_t{size}", "table_seed": 0, "iter": 30000, "answers": size,
                 "entropy_bits": 42.0 * size, "code_length_bits": 0.0, "entropy_minus_code_length_bits": 0.0,
                 "bits_per_param": 0.0, "answers_right": seed - 1} for size in sizes for seed in (1, 2, 3)]
        (tmp_path / "capacity/capacity.csv").write_text(capacity_csv(rows))
        (tmp_path / "sweeps/facts").mkdir(parents=True, exist_ok=True)
        (tmp_path / "sweeps/facts/summary.csv").write_text(
            "task,n_embd,seed,finished,weight_decay,init_scale,facts_acc_at_best\n"
            + "".join(f"facts_char,14,{seed},True,0.0,1.0,{share_right}\n" for seed in (1, 2, 3))
            + "facts_char,14,1,True,0.1,1.0,0.99\nfacts_char,14,2,True,0.0,0.5,0.99\n")  # other settings: not read
        return findings.random_capitals_capacity(tmp_path)[0]
    low = table(0.1, 1300)  # stores 1,500 bits, 93% of the facts' larger estimate (77% by its low end), answers 10%
    assert low["n"] == "9 + 3 runs" and "capacity 1,500 [1,252-1,748] bits at 50 lines" in low["effect"]
    assert "times the facts' 1,621 (letters) to 214 (mapping) bits" in low["effect"]
    assert "writes 0-2 whole by seed" in low["effect"]  # the per-seed range, not a rounded mean
    assert low["verdict"] == ("described: does not match, the capacity covers 77% or more of the facts' bits (its "
                              "interval's low end), and n14 answers 10% [10-10] of their samples")
    assert table(0.85, 1300)["verdict"].startswith("described: matches")
    assert table(0.99, 1300)["verdict"] == ("described: does not match, n14 answers more (99% [99-99]) than its "
                                            "capacity covers (93%)")
    # the best table the largest measured: the capacity only a lower bound
    assert table(0.1, 1300, sizes=(12, 50))["verdict"].endswith("; qualified: the capacity is a lower bound")
    assert findings.random_capitals_capacity(tmp_path / "nothing") == []
