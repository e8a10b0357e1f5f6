"""tools/claims.py: the committed claims table is what the code computes from the committed runs."""
from conftest import REPO, run_main


def test_the_committed_claims_table_regenerates_from_the_committed_runs(tmp_path):
    from tools import claims
    result = run_main(claims.main, f"--root={REPO / 'results'}", f"--out={tmp_path / 'claims.md'}")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "claims.md").read_text() == (REPO / "results" / "claims.md").read_text()


def test_verdicts_follow_the_stated_rule():
    from toobig.reports import findings
    assert findings.verdict(0.01, True) == "holds"
    assert findings.verdict(0.01, True, selected=True).startswith("qualified: only with the evaluation selected")
    assert findings.verdict(0.2, True).startswith("qualified: not significant")
    assert findings.verdict(0.001, False) == "does not hold"


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
    assert readme.count("\n- **") >= len(claims.HEADLINE)
