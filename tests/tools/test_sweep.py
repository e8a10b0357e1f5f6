import csv

import pytest

from toobig.runs import reading as runs
from tools import sweep
from toobig.reports import sweep_figures
from toobig.analysis import sweep_summary
from conftest import run_cli, run_main

TINY = ["--max_iters=20", "--device=cpu", "--compile=False", "--jobs=2"]


def summary(folder):
    with open(folder / "summary.csv") as f:
        return list(csv.DictReader(f))


def test_math_sweep_trains_skips_and_summarizes(tmp_path):
    out = tmp_path / "sweep_math"
    args = ["tools/sweep.py", "--task=math", "--sizes=8,14", "--seeds=1,2", f"--out={out}", *TINY]
    result = run_cli(*args, "--shard=1/2")
    assert result.returncode == 0, result.stderr
    # the second of two interleaved shards: runs 1 and 3 of (n8 s1, n8 s2, n14 s1, n14 s2)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["math_n14_s2", "math_n8_s2"]
    assert result.stdout.rstrip().endswith("from 2 of 4 runs (2 finished)")
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert "math_n8_s2: finished" in result.stdout and "math_n8_s1: new -> train" in result.stdout
    rows = summary(out)
    assert [(r["n_embd"], r["seed"]) for r in rows] == [("8", "1"), ("8", "2"), ("14", "1"), ("14", "2")]
    assert {r["n_params"] for r in rows if r["n_embd"] == "14"} == {"1456"}
    assert all(r["finished"] == "True" and r["final_heldout"] != "" and r["facts_acc_at_best"] == "" for r in rows)
    assert (out / "phase.png").stat().st_size > 10_000
    assert all(0 <= float(r["number_line_final"]) <= 1 and float(r["probe_error_at_best"]) >= 0 for r in rows)
    assert (out / "inside.png").stat().st_size > 10_000
    assert not (out / "capacity.md").exists() and not (out / "held_out.png").exists()  # one pair
    assert "| n14 | 1,456 | 0 | 2 of 2 |" in (out / "sizes.md").read_text()
    assert (out / "norms.png").stat().st_size > 10_000


def test_an_init_scale_sweep_scales_the_initial_weights_and_tells_the_settings_apart(tmp_path):
    out = tmp_path / "sweep_scale"
    result = run_main(sweep.main, "--task=math", "--sizes=8", "--seeds=1", "--init_scales=0.5,2", f"--out={out}", *TINY)
    assert result.returncode == 0, result.stderr
    rows = summary(out)
    assert [r["init_scale"] for r in rows] == ["0.5", "2.0"]
    norms = {scale: runs.read_item_table(out / f"math_n8_s1_is{scale}", "norms.csv") for scale in ("0.5", "2")}
    first = {scale: values[names.index("total"), 0] for scale, (iters, names, values) in norms.items()}
    assert norms["2"][0][0] == 0 and abs(first["2"] / first["0.5"] - 4) < 1e-3  # one seed, one init, scaled
    assert "| n8 | 544 | 0 | 0.5 | 1 of 1 |" in (out / "sizes.md").read_text()
    assert (out / "norms.png").stat().st_size > 10_000


def test_a_weight_norm_sweep_holds_each_run_at_its_norm_and_says_so(tmp_path):
    out = tmp_path / "sweep_norm"
    result = run_main(sweep.main, "--task=math", "--sizes=8", "--seeds=1", "--weight_norms=3,9", f"--out={out}", *TINY)
    assert result.returncode == 0, result.stderr
    rows = summary(out)
    assert [r["weight_norm"] for r in rows] == ["3.0", "9.0"]
    for norm in (3, 9):  # the whole weight vector at its norm at every evaluation
        iters, names, values = runs.read_item_table(out / f"math_n8_s1_wn{norm}", "norms.csv")
        assert abs(values[names.index("total")] - norm).max() < 1e-4 and len(iters) > 1
    assert "| n8 | 544 | 0 | 9 | 1 of 1 |" in (out / "sizes.md").read_text()
    assert "weight norm held at" in (out / "sizes.md").read_text()


def test_a_sweep_without_held_norms_writes_no_weight_norm_column(tmp_path):
    rows = [{column: None for column in sweep_summary.SUMMARY_COLUMNS} | {"weight_norm": 0.0}]
    sweep_summary.write_summary(rows, tmp_path / "summary.csv")
    assert "weight_norm" not in (tmp_path / "summary.csv").read_text().splitlines()[0]


def test_the_matrix_norm_leaves_out_the_layernorm_gains_weight_decay_does_not_touch(tmp_path):
    (tmp_path / "norms.csv").write_text("iter,total,transformer.wte.weight,transformer.h.0.ln_1.weight,"
                                        "transformer.h.0.mlp.c_fc.weight,transformer.ln_f.weight\n"
                                        "0,1.0,3.0,100.0,4.0,100.0\n250,1.0,0.0,100.0,2.0,50.0\n")
    iters, norm = runs.matrix_norm(tmp_path)
    assert list(iters) == [0, 250] and norm.tolist() == [5.0, 2.0]
    assert runs.matrix_norm(tmp_path / "no_run") is None


@pytest.mark.parametrize("flag,message", [("--sizes=0", "math_n0_s1: n_embd=0 must be"),
                                          ("--init_scales=0", "init_scale=0.0 must be a positive finite number"),
                                          ("--weight_decays=-1", "weight_decay=-1.0 must be"),
                                          ("--weight_norms=0,15", "each held norm must be above 0"),
                                          ("--decay_gains=True", "--decay_gains needs a weight decay above 0")])
def test_a_sweep_checks_every_run_before_any_starts(tmp_path, flag, message):
    result = run_main(sweep.main, "--task=math", "--sizes=8", "--seeds=1", flag, f"--out={tmp_path / 'sweep'}", *TINY)
    assert result.returncode == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "sweep").exists()


def test_facts_sweep_reports_capacity(tmp_path):
    out = tmp_path / "sweep_facts"
    result = run_cli("tools/sweep.py", "--task=facts", "--sizes=10", "--seeds=1", f"--out={out}", *TINY)
    assert result.returncode == 0, result.stderr
    (row,) = summary(out)
    assert row["heldout_at_best"] == row["held_out"] == "" and 0 <= float(row["facts_acc_at_best"]) <= 1
    assert row["number_line_final"] == "" and not (out / "inside.png").exists()  # no digits to look at
    assert "log2(50!) = 214 bits" in (out / "capacity.md").read_text()


def test_bad_sweep_options(tmp_path):
    for option, message in [("--task=poetry", "--task=poetry is not allowed"),
                            ("--shard=2/2", "expected i/N with 0 <= i < N"),
                            ("--sizes=8,x", "comma-separated list of ints")]:
        result = run_main(sweep.main, option, f"--out={tmp_path}")
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_bench_pool_compares_processes_with_threads():
    result = run_cli("tools/bench.py", "--pool=2", "--iters=20", "--compile=False", "--device=cpu")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "1 process x 2 threads" in lines[-2] and "2 processes x 1 thread" in lines[-1]
    rates = [float(line.split(" model-iterations/s")[0].split("= ")[-1]) for line in lines[-2:]]
    assert all(rate > 0 for rate in rates)


def test_capacity_threshold_counts_only_sizes_whose_seeds_all_finished():
    from toobig.analysis.sweep_summary import capacity_report

    def run(n_embd, n_params, acc, finished=True):
        return {"n_embd": n_embd, "n_params": n_params, "weight_decay": 0.0, "held_out": "5:7",
                "facts_acc_at_best": acc, "finished": finished}

    rows = [run(12, 1000, 1.0), run(12, 1000, 1.0, finished=False),   # all 100% but one seed unfinished
            run(16, 2000, 1.0), run(16, 2000, 0.98),                   # one seed short of 50/50
            run(20, 3000, 1.0), run(20, 3000, 1.0),
            run(24, 4000, 1.0), run(24, 4000, 0.9)]
    report = capacity_report(rows, n_seeds=2)
    assert "**3,000 parameters**" in report
    assert "[1 of 2 seeds finished]" in report and "Not monotone: at larger n24" in report
    assert f"{214 / 3000:.3f} to" in report
    assert "none among the finished sizes" in capacity_report(rows[:4], n_seeds=2)


def test_sizes_table_counts_finished_seeds():
    from toobig.analysis.sweep_summary import sizes_table

    def run(seed, first, at_best, chosen, final, share, finished=True):
        return {"n_embd": 14, "n_params": 1456, "weight_decay": 0.0, "held_out": "5:7", "seed": seed,
                "finished": finished, "first_iter_heldout_all_right": first, "heldout_total": 40,
                "heldout_at_best": at_best, "heldout_at_train_best": chosen, "final_heldout": final,
                "heldout_share_late": share, "facts_acc_at_best": None, "best_combined_acc": 0.99}

    rows = [run(1, 3000, 40, 40, 40, 0.9), run(2, 5000, 40, 30, 30, 0.7), run(3, None, 30, 30, 20, 0.5),
            run(4, 1000, 40, 40, 40, 1.0, finished=False)]
    table = sizes_table(rows, n_seeds=4).splitlines()
    assert len(table) == 3 and "facts" not in table[0]
    # issue 36: each label says what it counts, so that "any evaluation" and "the best-combined
    # evaluation" (one evaluation, chosen on combined accuracy) may differ without contradiction
    assert ("seeds with held-out 40/40 at any evaluation | 40/40 at the best-combined evaluation (test-selected) | "
            "40/40 at the train-best evaluation | 40/40 at the last evaluation") in table[0]
    assert table[2] == "| n14 | 1,456 | 0 | 3 of 4 | 2/3 | 2/3 | 1/3 | 1/3 | 70% (50-90) | 4,000 | 99.0-99.0% |"


def test_summary_places_the_held_out_four_among_the_quadruples_and_reads_margins(tmp_path):
    # four evaluations; the held-out four all right at 500 and 750; the training quadruple
    # (1,2) first all right at 750, every other one at 250: the four come 44th of 45
    header = "iter,train_loss,val_loss,lr,add_correct,add_total,sub_correct,sub_total,heldout_correct,heldout_total," \
             "facts_correct,facts_total,math_acc,facts_acc,combined_acc,elapsed_s"
    rows = ["0,3,3,0,0,1000,0,1000,0,40,,,0,,0,1", "250,1,1,0,960,1000,960,1000,0,40,,,0.96,,0.96,2",
            "500,1,1,0,980,1000,980,1000,40,40,,,0.98,,0.98,3", "750,1,1,0,1000,1000,1000,1000,40,40,,,1,,1,4"]
    (tmp_path / "results.csv").write_text("\n".join([header, *rows]) + "\n")
    (tmp_path / "run.json").write_text('{"finished": true, "n_params": 1456, "config": {"max_iters": 750}}')
    names = [f"{a}{op}{b}" for op in "+-" for a in range(10) for b in range(10)]
    late = {"5+7": 2, "7+5": 2, "5-7": 2, "7-5": 2, "1+2": 3, "2+1": 3, "1-2": 3, "2-1": 3}
    table = [[250 * e] + [10 if e >= late.get(n, 1) else 0 for n in names] for e in range(4)]
    (tmp_path / "items.csv").write_text("\n".join([",".join(["iter", *names])]
                                                  + [",".join(map(str, r)) for r in table]) + "\n")
    (tmp_path / "margins.csv").write_text("\n".join([",".join(["iter", *names]), "500," + ",".join(
        "0.50" if n == "5-7" else "2.00" for n in names), "750," + ",".join("-1.25" if n == "5-7" else "3.00"
                                                                            for n in names)]) + "\n")
    config = {"out_dir": str(tmp_path), "dataset": "as_math", "n_embd": 14, "seed": 1, "weight_decay": 0.0,
              "held_out": "5:7"}
    row = sweep_summary.summarize_run(config)
    assert (row["first_iter_heldout_all_right"], row["evals_heldout_all_right"]) == (500, 2)
    assert (row["heldout_quadruple_rank"], row["quadruples_before_heldout"]) == (44.0, 43)
    assert row["all_training_seen_before_heldout"] is False  # 1+2 and its kin only at 750
    assert (row["best_iter"], row["train_best_iter"], row["heldout_at_train_best"]) == (750, 750, 40)
    assert row["heldout_share_late"] == 1.0  # evaluations at 375 and later: 500 and 750
    assert row["heldout_margins_at_best"] == row["heldout_margins_final"] == [3.0, 3.0, -1.25, 3.0]
    assert row["samples_split"] == 0.0 and row["train_fit_kept"] is None  # all 196 first at the last evaluation
    sweep_summary.write_summary([row], tmp_path / "summary.csv")
    written = open(tmp_path / "summary.csv").read()
    assert "3.00 3.00 -1.25 3.00" in written and ",False," in written
    figure = sweep_figures.timing_figure([row, {**row, "seed": 2, "heldout_quadruple_rank": 2.0}], "test")
    assert "median place 23" in figure.axes[0].get_title()


def test_a_width_has_one_colour_in_every_figure():
    # n8 never fits its training expressions, so it is absent from timing.png; n14 must still
    # be drawn in the colour inside.png gives it
    def run(size, fit):
        return {"n_embd": size, "seed": 1, "first_iter_train_all_right": fit, "first_iter_heldout_all_right": 250,
                "evals_heldout_all_right": 3, "heldout_at_best": 40, "final_heldout": 40,
                "heldout_quadruple_rank": 40.0 if fit else None,
                "number_line_at_best": 0.9, "number_line_final": 0.9, "probe_error_at_best": 1.0,
                "probe_error_final": 1.0}
    rows = [run(8, None), run(14, 500), run(14, 750)]
    colour = lambda ax: tuple(ax.collections[0].get_facecolor()[0])  # noqa: E731
    inside, timing = sweep_figures.inside_figure(rows, "test"), sweep_figures.timing_figure(rows, "test")
    n14_inside = tuple(inside.axes[0].collections[1].get_facecolor()[0])
    assert colour(timing.axes[0]) == colour(timing.axes[1]) == n14_inside
    assert [t.get_text() for t in timing.legends[0].get_texts()] == ["n14"]


def test_summary_counts_each_held_out_expression_and_the_table_takes_the_median(tmp_path):
    from toobig.analysis.sweep_summary import evals_each_heldout_right, sizes_table
    names = [f"{a}{op}{b}" for op in "+-" for a in range(10) for b in range(10)]
    right = {"1+2": [10, 10, 10], "2+1": [10, 10, 9], "1-2": [0, 3, 0], "2-1": [10, 0, 10]}  # three evaluations
    table = [[250 * e] + [right.get(name, [10] * 3)[e] for name in names] for e in range(3)]
    (tmp_path / "items.csv").write_text("\n".join([",".join(["iter", *names])] + [",".join(map(str, r)) for r in table]))
    run_ = {"folder": tmp_path, "config": {"held_out": "2:1", "eval_samples": 10}}
    assert evals_each_heldout_right(run_) == [3, 2, 0, 2]   # a+b, b+a, a-b, b-a
    assert evals_each_heldout_right({**run_, "folder": tmp_path / "none"}) is None

    def run(seed, each):
        return {"n_embd": 14, "n_params": 1456, "weight_decay": 0.0, "held_out": "1:2", "seed": seed, "finished": True,
                "first_iter_heldout_all_right": None, "heldout_total": 40, "heldout_at_best": 30, "final_heldout": 30,
                "heldout_at_train_best": 30, "heldout_share_late": 0.75,
                "evals_each_heldout_right": each, "facts_acc_at_best": None, "best_combined_acc": 0.99}
    lines = sizes_table([run(1, [3, 2, 0, 2]), run(2, [5, 4, 1, 0]), run(3, None)], n_seeds=3).splitlines()
    assert "a+b / b+a / a-b / b-a (median)" in lines[0] and "| 4 / 3 / 0.5 / 1 |" in lines[2]


def test_keep_evals_reaches_every_run_and_leaves_the_names_alone():
    plain, _ = sweep.grid({**sweep.OPTIONS, "sizes": "8,14", "seeds": "1"})
    kept, _ = sweep.grid({**sweep.OPTIONS, "sizes": "8,14", "seeds": "1", "keep_evals": True})
    assert [name for name, _, _ in kept] == [name for name, _, _ in plain] == ["math_n8_s1", "math_n14_s1"]
    assert all("--keep_evals=True" in args and config["keep_evals"] for _, args, config in kept)
    assert not any(config["keep_evals"] for _, _, config in plain)


def test_a_sweep_figure_without_data_says_so_and_never_shows_nan():
    """issue 36: a short sweep (no run fits, none gets the held-out four) drew empty panels titled
    "Spearman +nan"; a panel whose correlation is undefined says why."""
    def run(seed, fit=None, evals=0, rank=None, number_line=None):
        return {"n_embd": 14, "seed": seed, "first_iter_train_all_right": fit, "evals_heldout_all_right": evals,
                "heldout_quadruple_rank": rank, "number_line_at_best": number_line, "number_line_final": number_line,
                "probe_error_at_best": None, "probe_error_final": None, "heldout_at_best": 0, "final_heldout": 0}

    def texts(fig):
        return [ax.get_title() for ax in fig.axes] + [t.get_text() for ax in fig.axes for t in ax.texts]
    for short in ([run(1, rank=40), run(2)], [run(1), run(2)]):  # the held-out four once, or never
        shown = texts(sweep_figures.timing_figure(short, "short"))
        assert not [t for t in shown if "nan" in t], shown
        assert "no data:\nno run gets every training expression right" in shown
    assert "no data:\nno run gets the held-out four all right" in shown
    fitted = [run(s, fit=1000 * s, number_line=0.1 * s) for s in (1, 2, 3)]  # held-out never right: rho undefined
    shown = texts(sweep_figures.timing_figure(fitted, "fitted")) + texts(sweep_figures.inside_figure(fitted, "inside"))
    assert not [t for t in shown if "nan" in t], shown
    assert "all 3 runs that fit: no Spearman (held-out evaluations constant)" in shown
    assert "at the best evaluation: no Spearman (held-out count constant) over 3 runs" in shown
    assert "no data:\nno run has the probe error measured" in shown


def test_a_long_sweep_stretches_the_schedule_and_thins_the_evaluations():
    options = {**sweep.OPTIONS, "sizes": "28", "seeds": "1", "max_iters": 300000, "lr_decay_iters": 300000,
               "eval_interval": 1000}
    ((name, args, config),) = sweep.grid(options)[0]
    assert name == "math_n28_s1" and "--lr_decay_iters=300000" in args and "--eval_interval=1000" in args
    assert (config["max_iters"], config["lr_decay_iters"], config["eval_interval"]) == (300000, 300000, 1000)
    ((_, args, config),) = sweep.grid({**sweep.OPTIONS, "sizes": "28", "seeds": "1"})[0]  # 0: the config's
    assert (config["lr_decay_iters"], config["eval_interval"]) == (25000, 250)
    assert not any(a.startswith(("--lr_decay_iters", "--eval_interval")) for a in args)
