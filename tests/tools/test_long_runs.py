"""tools/long_runs.py and toobig/analysis/long_training.py on the committed long runs."""
import numpy as np
import pytest

from conftest import REPO, run_main
from toobig.analysis import long_training
from tools import long_runs as tool


def test_kept_from_is_the_start_of_the_last_unbroken_stretch_of_all_four_right():
    results = {"iter": np.array([0, 250, 500, 750, 1000]), "heldout_total": np.full(5, 40.0),
               "heldout_correct": np.array([0, 40, 10, 40, 40.0])}
    assert long_training.kept_from(results) == 750
    results["heldout_correct"][-1] = 30
    assert long_training.kept_from(results) is None  # not right at the end: never kept
    results["heldout_correct"][:] = 40
    assert long_training.kept_from(results) == 0


def test_the_tool_tables_and_draws_each_setting_against_its_baselines(tmp_path):
    for setting, run in (("floor", "math_n28_s1"), ("wd0.1", "math_n28_s2_wd0.1_dg")):
        (tmp_path / setting).mkdir()
        (tmp_path / setting / run).symlink_to(REPO / "results/sweeps/long" / setting / run)
    result = run_main(tool.main, f"--root={tmp_path}", f"--baseline={REPO / 'results/sweeps/math'}")
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "long_runs.md").read_text()
    row = long_training.long_run_row(tmp_path / "floor" / "math_n28_s1")
    # the committed long n28 seed 1 at the floor never has the four after its start: 0% over its last tenth
    assert row["share_last_tenth"] == 0 and row["kept_from"] is None and row["train_acc_last"] > 0.95
    assert "| floor | n28 | 1 | 300,000 of 300,000 | 0% | – |" in text and "| wd0.1 | n28 | 2 |" in text
    assert text.startswith("2 of the 30 runs of prediction.md's grid finished; groups complete, and so tested "
                           "in results/claims.md: none yet.")
    assert (tmp_path / "long_runs.png").stat().st_size > 10_000


def test_a_root_without_runs_is_one_line(tmp_path):
    result = run_main(tool.main, f"--root={tmp_path}")
    assert result.returncode == 2 and "holds no runs yet in its setting folders (floor, wd0.1, wd1" in result.stderr
    result = run_main(tool.main, f"--root={tmp_path / 'none'}")
    assert result.returncode == 2 and "is not a folder" in result.stderr


def test_a_run_without_an_evaluation_is_left_out_not_a_traceback(tmp_path):
    (tmp_path / "floor").mkdir()
    (tmp_path / "floor" / "math_n28_s1").symlink_to(REPO / "results/sweeps/long/floor/math_n28_s1")
    (tmp_path / "wd1" / "math_n28_s2").mkdir(parents=True)
    header = (REPO / "results/sweeps/math/math_n28_s2/results.csv").read_text().splitlines()[0]
    (tmp_path / "wd1" / "math_n28_s2" / "results.csv").write_text(header + "\n")  # just started
    result = run_main(tool.main, f"--root={tmp_path}", f"--baseline={REPO / 'results/sweeps/math'}")
    assert result.returncode == 0, result.stderr
    assert "| wd1 |" not in (tmp_path / "long_runs.md").read_text()


def test_a_group_is_complete_and_tested_once_all_its_registered_runs_have_finished(tmp_path, monkeypatch):
    """The committed long runs of n28 (seeds 1 and 2 in (a) and (b)) under a grid of two seeds per group."""
    from toobig.reports import findings
    grid = {"floor": {28: range(1, 3)}, "wd0.1": {28: range(1, 3)}, "wd1": {28: range(1, 3)}}
    monkeypatch.setattr(long_training, "GRID", grid)
    monkeypatch.setattr(findings, "GRID", grid)
    (tmp_path / "sweeps/long/floor").mkdir(parents=True)
    (tmp_path / "sweeps/math").symlink_to(REPO / "results/sweeps/math")
    (tmp_path / "sweeps/long/floor/math_n28_s1").symlink_to(REPO / "results/sweeps/long/floor/math_n28_s1")
    assert long_training.grid_status(tmp_path / "sweeps/long") == (1, 6, [])
    assert findings.long_runs(tmp_path) == []  # one of two: not tested yet
    (tmp_path / "sweeps/long/floor/math_n28_s2").symlink_to(REPO / "results/sweeps/long/floor/math_n28_s2")
    (tmp_path / "sweeps/long/wd0.1").symlink_to(REPO / "results/sweeps/long/wd0.1")
    assert long_training.grid_status(tmp_path / "sweeps/long") == (4, 6, [("floor", 28), ("wd0.1", 28)])
    (tmp_path / "sweeps/decay_all").symlink_to(REPO / "results/sweeps/decay_all")
    floor, decay, same_decay = findings.long_runs(tmp_path)
    assert floor["claim"].startswith("Ten times longer (floor), n28") and floor["family"] == "long runs"
    assert decay["claim"].startswith("Ten times longer (wd0.1), n28") and "300,000 iterations 29% [25-34]" in decay["effect"]
    # time alone: against 30,000 iterations at the same decay (sweeps/decay_all seeds 1 and 2: 0% and 25%)
    assert same_decay["family"] == "long runs, same decay" and "(exploratory)" in same_decay["claim"]
    assert "30,000 with the same decay 12% [0-25]" in same_decay["effect"]
    assert tool.status(tmp_path / "sweeps/long").startswith(
        "4 of the 6 runs of prediction.md's grid finished; groups complete, and so tested in results/claims.md: "
        "n28 (floor), n28 (wd0.1).")
    # the n14 reference, never tested, is named once all its runs have finished
    assert "; the reference" not in tool.status(tmp_path / "sweeps/long")


def test_the_committed_grid_is_complete_with_its_reference():
    assert tool.status(REPO / "results/sweeps/long") == (
        "30 of the 30 runs of prediction.md's grid finished; groups complete, and so tested in results/claims.md: "
        "n28 (floor), n20 (floor), n28 (wd0.1), n20 (wd0.1), n28 (wd1), n20 (wd1); the reference, complete "
        "(described, not tested): n14 (wd0.1), n14 (wd1).\n\n")


def test_a_run_of_another_design_in_a_settings_place_is_an_error(tmp_path):
    (tmp_path / "floor").mkdir()
    (tmp_path / "floor/math_n28_s1").symlink_to(REPO / "results/sweeps/math/math_n28_s1")  # 30,000 iterations
    with pytest.raises(ValueError, match="is not a run of setting floor .* max_iters 30000"):
        long_training.grid_status(tmp_path)


def test_the_curve_is_the_share_over_the_second_half_so_far():
    from toobig.runs.reading import heldout_share_late, load_run
    folder = REPO / "results/sweeps/math/math_n20_s1"  # evaluated every 250 iterations, the held-out four at times
    results = load_run(folder)["results"]
    iters, share = long_training.share_along(folder)
    assert iters[0] == 250 and len(iters) == len(results["iter"]) - 1  # iteration 0 has no place on a log axis
    for k in (3, 40, len(iters) - 1):  # the run as it stood at iters[k], its second half
        so_far = {key: values[:k + 2] for key, values in results.items()}
        assert np.isclose(share[k], heldout_share_late(so_far, iters[k]))
    assert share[-1] == heldout_share_late(results, 30_000) > 0
