"""The generated tables the READMEs show in full (toobig/reports/included.py, tools/readme_tables.py)."""
import pytest

from conftest import REPO, run_main
from toobig.reports.included import changed_paths, included_paths, with_included

LONG = "results/sweeps/long/long_runs.md"


def test_results_readme_shows_every_generated_table_as_its_file():
    text = (REPO / "results/README.md").read_text()
    assert len(included_paths(text)) >= 10
    assert with_included(text, REPO) == text, "run python tools/readme_tables.py"


def test_a_stale_block_is_rewritten_from_its_file_at_the_readmes_heading_level(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "t.md").write_text("# Title\n\n## Part\n\n| a |\n|---|\n| 2 |\n")
    text = "intro\n\n<!-- results/t.md -->\n#### Part\n\n| a |\n|---|\n| 1 |\n<!-- end of results/t.md -->\nafter\n"
    new = with_included(text, tmp_path)
    assert new == "intro\n\n<!-- results/t.md -->\n#### Part\n\n| a |\n|---|\n| 2 |\n<!-- end of results/t.md -->\nafter\n"
    assert included_paths(new) == ["results/t.md"] and changed_paths(text, new) == ["results/t.md"]
    assert changed_paths(new, with_included(new, tmp_path)) == []
    with pytest.raises(ValueError, match="results/gone.md"):
        with_included("<!-- results/gone.md -->\nx\n<!-- end of results/gone.md -->", tmp_path)
    with pytest.raises(ValueError, match="has no <!-- end of results/t.md -->"):
        with_included("<!-- results/t.md -->\nx\n<!-- end of results/t.mdd -->", tmp_path)


def test_headings_shift_to_the_blocks_level_and_code_is_left_alone(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "t.md").write_text("# Title\n\n## A\n\n```bash\n# a comment\n```\n\n### B\n")
    text = "<!-- results/t.md -->\n#### A\n<!-- end of results/t.md -->"
    assert with_included(text, tmp_path) == ("<!-- results/t.md -->\n#### A\n\n```bash\n# a comment\n```\n\n"
                                             "##### B\n<!-- end of results/t.md -->")


def test_readme_tables_checks_and_rewrites_a_readme(tmp_path):
    from tools import readme_tables
    readme = tmp_path / "README.md"
    readme.write_text(f"# R\n\n<!-- {LONG} -->\n| an old table |\n<!-- end of {LONG} -->\n")
    check = run_main(readme_tables.main, f"--readme={readme}", "--check")
    assert check.returncode == 1 and f"stale: {LONG}" in check.stdout
    assert run_main(readme_tables.main, f"--readme={readme}").returncode == 0
    assert (REPO / LONG).read_text().splitlines()[2] in readme.read_text()  # its first row
    assert run_main(readme_tables.main, f"--readme={readme}", "--check").returncode == 0
    missing = run_main(readme_tables.main, f"--readme={tmp_path / 'none.md'}")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "none.md" in missing.stderr
