"""plot_results.py and plot_all_models.py on small hand-written run folders."""
import json
import math

import pytest

import plot_all_models
import plot_results
from conftest import REPO, run_cli

HEADER = ("iter,train_loss,val_loss,lr,add_correct,add_total,sub_correct,sub_total,heldout_correct,heldout_total,"
          "facts_correct,facts_total,math_acc,facts_acc,combined_acc,elapsed_s")


def write_run(folder, dataset, n_params, rows, finished=True):
    """A run folder as train_with_eval.py leaves it; rows are (iter, add, sub, heldout, facts) correct
    counts, None for a part the task lacks. Accuracies are computed as evaluation.summarize does."""
    folder.mkdir(parents=True)
    lines = [HEADER]
    for it, add, sub, held, facts in rows:
        parts = ([(add, 1000), (sub, 1000)] if add is not None else []) + ([(facts, 500)] if facts is not None else [])
        math_acc = "" if add is None else (add + sub) / 2000
        facts_acc = "" if facts is None else facts / 500
        combined = sum(c for c, _ in parts) / sum(t for _, t in parts)
        counts = (f"{add},1000,{sub},1000,{held},40" if add is not None else ",,,,,") + \
                 (f",{facts},500" if facts is not None else ",,")
        lines.append(f"{it},{2.5 - it / 1000},{2.5 - it / 1000},0.001,{counts},{math_acc},{facts_acc},{combined},1.0")
    (folder / "results.csv").write_text("\n".join(lines) + "\n")
    (folder / "run.json").write_text(json.dumps({
        "config": {"dataset": dataset, "n_embd": 14, "n_layer": 1, "out_dir": str(folder), "max_iters": 1000},
        "n_params": n_params, "device": "cpu", "wall_time_s": 1.0, "finished": finished, "best": {}}))


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    # iterations 250 and 500 tie on combined (1700/2000): the earliest, 250, is the entry
    write_run(root / "math_mini_14", "as_math", 1456,
              [(0, 0, 0, 0, None), (250, 900, 800, 40, None), (500, 800, 900, 0, None), (750, 500, 500, 40, None)])
    write_run(root / "math_mlt", "as_math", 10628352,
              [(0, 0, 0, 0, None), (250, 1000, 980, 0, None)], finished=False)
    write_run(root / "facts_mini_28", "facts_char", 6220,
              [(0, None, None, None, 0), (250, None, None, None, 480), (500, None, None, None, 500),
               (750, None, None, None, 500)])
    # the best combined is (312 + 394 + 10) / 2500 at 250; 500 has (5,7) right but a lower combined
    write_run(root / "both_mini_14", "both_math_and_facts", 2140,
              [(0, 0, 0, 0, 0), (250, 312, 394, 0, 10), (500, 200, 200, 40, 100)])
    (root / "both_mini_28").mkdir()  # a folder without results.csv is a run not (yet) started
    return root


@pytest.fixture(scope="module")
def written(root, tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    result = run_cli("plot_all_models.py", f"--root={root}", f"--out={out}")
    assert result.returncode == 0, result.stderr
    return out


def parse_tables(text):
    """{('Table 2', 'n14'): {column: cell}} from tables.md."""
    tables, title, header = {}, None, None
    for line in text.splitlines():
        if line.startswith("## "):
            title, header = line[3:].split(":")[0], None
        elif line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if header is None:
                header = cells
            else:
                tables[title, cells[0]] = dict(zip(header, cells))
    return tables


def test_plot_results_writes_plot_png(root):
    result = run_cli("plot_results.py", f"--model_folder={root / 'both_mini_14'}")
    assert result.returncode == 0, result.stderr
    assert (root / "both_mini_14" / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_all_models_writes_the_grids_and_tables(written):
    for name in ("grid_math.png", "grid_facts.png", "grid_combined.png"):
        assert (written / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (written / "tables.md").is_file()


def test_each_grid_has_four_titled_panels_and_one_legend(root):
    runs = plot_all_models.load_runs(root, "")
    fig = plot_all_models.grid_figure(runs, "math")
    panels = [ax for ax in fig.axes if ax.get_title()]  # the twin loss axes carry no title
    assert [ax.get_title() for ax in panels] == ["n14 (1.46k params)", "n28", "n56", "MLT (10.63M params, stopped at 0.25k)"]
    assert [ax.get_subplotspec().get_geometry()[:2] for ax in panels] == [(2, 2)] * 4
    assert [t.get_text() for t in panels[1].texts] == ["not run"]
    assert len(fig.legends) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == \
        ["addition", "subtraction", "train loss", "(5,7) all right"]
    assert fig.axes[0].get_xticklabels()[-1].get_text() == "1k"  # iterations in thousands
    facts = plot_all_models.grid_figure(runs, "facts")
    assert len([ax for ax in facts.axes if ax.get_title()]) == 4
    assert [t.get_text() for t in facts.legends[0].get_texts()] == ["facts", "train loss"]


def test_tables_hold_the_best_combined_rows(written):
    tables = parse_tables((written / "tables.md").read_text(encoding="utf-8"))
    n14 = tables["Table 2", "n14"]
    assert (n14["params"], n14["params (paper)"], n14["best iter"]) == ("1.46k", "1.46k", "250")
    assert (n14["addition"], n14["subtraction"], n14["(5,7)"]) == ("90.0%", "80.0%", "40/40")
    assert (n14["addition (paper)"], n14["(5,7) (paper)"]) == ("100.0%", "40/40")
    mlt = tables["Table 2", "MLT"]  # an unfinished run is marked
    assert (mlt["params"], mlt["best iter"], mlt["subtraction"], mlt["(5,7)"]) == ("10.63M", "250*", "98.0%", "0/40")
    assert "\\* run not finished (MLT to iteration 250 of 1,000)" in (written / "tables.md").read_text(encoding="utf-8")
    assert set(tables["Table 2", "n28"].values()) - {"n28", "5.26k", "98%", "0/40"} == {"–"}
    facts = tables["Table 3", "n28"]
    assert (facts["params"], facts["best iter"], facts["facts"], facts["facts (paper)"]) == \
        ("6.22k", "500", "100.0%", "100.0%")
    both = tables["Table 4", "n14"]
    columns = ("best iter", "addition", "subtraction", "facts", "combined", "(5,7)")
    assert [both[c] for c in columns] == ["250", "31.2%", "39.4%", "2.0%", "28.6%", "0/40"]
    missing = tables["Table 4", "n28"]  # folder present, no results.csv
    assert missing["combined"] == missing["params"] == missing["best iter"] == "–"
    assert missing["combined (paper)"] == "94.3%"


def test_suffix_selects_runs_and_names_outputs(root, tmp_path):
    import shutil
    shutil.copytree(root / "math_mini_14", root / "math_mini_14_wd")
    plot_all_models.main([f"--root={root}", f"--out={tmp_path}", "--suffix=_wd"])
    assert sorted(p.name for p in tmp_path.iterdir()) == \
        ["grid_combined_wd.png", "grid_facts_wd.png", "grid_math_wd.png", "tables_wd.md"]
    text = (tmp_path / "tables_wd.md").read_text(encoding="utf-8")
    assert parse_tables(text)["Table 2", "n14"]["addition"] == "90.0%" and parse_tables(text)["Table 2", "n28"]["addition"] == "–"
    assert "main runs only" in text  # the paper has no _wd numbers: its columns are only a reference
    shutil.rmtree(root / "math_mini_14_wd")
    result = run_cli("plot_all_models.py", f"--root={root}", f"--out={tmp_path}", "--suffix=_none")
    assert result.returncode == 2 and "holds none of the paper's runs" in result.stderr  # no empty figures


@pytest.mark.parametrize("main,args,message", [
    (plot_results.main, ["--model_fold=x"], "did you mean model_folder"),
    (plot_results.main, [], "--model_folder is required"),
    (plot_results.main, ["--model_folder=/no/such/run"], "does not exist"),
    (plot_results.main, ["--model_folder={root}/both_mini_28"], "has no results.csv"),
    (plot_results.main, ["config/x.py"], "options are --key=value"),
    (plot_all_models.main, ["--root=/no/such/root"], "is not a folder"),
    (plot_all_models.main, ["--suffx=_wd"], "did you mean suffix"),
])
def test_bad_input_is_a_one_line_error(main, args, message, root, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([a.format(root=root) for a in args])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_a_broken_results_csv_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "math_mini_14").mkdir()
    (tmp_path / "math_mini_14" / "results.csv").write_text("iter,train_loss\n0,1.0\n")
    with pytest.raises(SystemExit) as exit_info:
        plot_results.main([f"--model_folder={tmp_path / 'math_mini_14'}"])
    assert exit_info.value.code == 2 and "lacks the column(s) add_correct" in capsys.readouterr().err
    result = run_cli("plot_all_models.py", f"--root={tmp_path}", f"--out={tmp_path}")  # a real process
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1


def test_items_figure_sorts_items_by_when_they_are_first_learned(tmp_path):
    import numpy as np
    from toobig.reports import figures
    from toobig.runs import reading as runs
    (tmp_path / "items.csv").write_text("iter,1+1,5+7,9-9\n0,0,0,0\n250,10,0,3\n500,10,10,0\n750,4,10,0\n")
    iters, names, counts = runs.read_items(tmp_path)
    assert list(iters) == [0, 250, 500, 750] and names == ["1+1", "5+7", "9-9"]
    assert list(runs.first_learned(counts, 10)) == [1, 2, 4]  # 9-9: never all right
    fig = figures.items_figure(iters, names, counts, 10, "a run")
    ax = fig.axes[0]
    labels = ax.get_yticklabels()
    assert [label.get_text() for label in labels] == ["1+1", "5+7", "9-9"]
    assert [label.get_color() for label in labels] == ["black", "red", "black"]  # the held-out item stands out
    assert np.array_equal(ax.images[0].get_array(), counts)


def test_facts_order_correlates_when_a_fact_is_learned_with_its_properties(tmp_path):
    from tools import facts_order
    from conftest import run_main
    from toobig.study.tasks import CAPITALS
    # a fact is learned (10/10) at evaluation = the length of its answer: a perfect correlation
    countries = [country for country, _ in CAPITALS]
    lengths = [len(city) for _, city in CAPITALS]
    lines = ["iter," + ",".join(countries)]
    for k in range(16):
        lines.append(f"{250 * k}," + ",".join("10" if k >= n else "3" for n in lengths))
    (tmp_path / "items.csv").write_text("\n".join(lines) + "\n")
    row = facts_order.facts_order(tmp_path)
    assert row["facts learned"] == "50 of 50" and row["answer length"] == pytest.approx(1.0)
    assert row["first learned"].split(", ")[0] in ("Rome", "Oslo", "Bern", "Doha")  # the four-letter capitals
    result = run_main(facts_order.main, str(tmp_path), f"--out={tmp_path / 'order.md'}")
    assert result.returncode == 0 and "| +1.00 |" in (tmp_path / "order.md").read_text()
    assert run_main(facts_order.main, str(tmp_path / "nothing")).returncode == 2
    # two facts learned: no correlation, shown as a dash rather than "+nan"
    few = tmp_path / "few"
    few.mkdir()
    (few / "items.csv").write_text("\n".join(lines[:1] + [f"{250 * k}," + ",".join(
        "10" if k >= 3 and i < 2 else "3" for i in range(50)) for k in range(6)]) + "\n")
    row = facts_order.facts_order(few)
    assert row["facts learned"] == "2 of 50" and "| – | – | – |" in facts_order.table([row])
    # agreement between runs: the same order +1, the reverse order -1, too few shared facts a dash
    backwards = tmp_path / "backwards"
    backwards.mkdir()
    longest = max(lengths)
    (backwards / "items.csv").write_text("\n".join(lines[:1] + [f"{250 * k}," + ",".join(
        "10" if k >= longest + 1 - n else "3" for n in lengths) for k in range(16)]) + "\n")
    rows = facts_order.agreement([tmp_path, backwards, few])
    assert [rows[0]["1"], rows[0]["2"], rows[1]["1"]] == pytest.approx([1.0, -1.0, -1.0])
    assert math.isnan(rows[0]["3"]) and rows[2]["run"] == f"3: {few}"


def test_items_summary_counts_fit_lapses_and_held_out_items():
    import numpy as np
    names = ["1+1", "5+7", "9-9"]
    counts = np.array([[0, 10, 10, 4], [0, 0, 10, 10], [0, 3, 10, 10]])  # 1+1 lost once after it is learned
    line = plot_results.items_summary(np.array([0, 250, 500, 750]), names, counts, 10)
    assert line == ("items: 3 of 3 ever all right; all 2 outside the held-out four first at iteration 500, then at "
                    "1 of 4 evaluations; a learned item is wrong again at 0.5 later evaluations on average; "
                    "held-out items all right at 5+7 2 of 4 evaluations")


def test_plot_all_models_writes_beside_the_runs_and_names_the_folders_it_lacks(tmp_path, monkeypatch):
    """issue 36: with no arguments after one run of one's own, the figures go beside the runs
    (--root, out/), never over the committed results/; the runs not there are named as folders."""
    import shutil
    from conftest import REPO, run_main
    run = tmp_path / "out" / "math_mini_14"
    run.mkdir(parents=True)
    for name in ("results.csv", "run.json"):
        shutil.copy(REPO / "results" / "math_mini_14" / name, run / name)
    monkeypatch.chdir(tmp_path)
    result = run_main(plot_all_models.main)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == \
        ["grid_combined.png", "grid_facts.png", "grid_math.png", "math_mini_14", "tables.md"]
    assert not (tmp_path / "results").exists()
    assert "from 1 of 12 runs under out" in result.stdout
    assert "11 run folder(s) without an evaluation" in result.stdout
    assert "out/math_mini_28, out/math_mini_56, out/math_mlt, out/facts_mini_14" in result.stdout


def test_the_committed_figures_are_rewritten_only_where_out_names_them(tmp_path, monkeypatch):
    from conftest import REPO, run_main
    committed = REPO / "results"
    before = {p.name: p.stat().st_mtime_ns for p in committed.glob("grid_*")}
    monkeypatch.chdir(tmp_path)
    result = run_main(plot_all_models.main, f"--root={committed}", "--suffix=_wd")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out" / "figures").iterdir()) == \
        ["grid_combined_wd.png", "grid_facts_wd.png", "grid_math_wd.png", "tables_wd.md"]
    assert (tmp_path / "out" / "figures" / "tables_wd.md").read_text().startswith("# Tables 2-4 (runs *_wd)")
    assert {p.name: p.stat().st_mtime_ns for p in committed.glob("grid_*")} == before
    assert not (tmp_path / "results").exists()
