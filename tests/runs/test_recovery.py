"""Nothing lost, nothing silently wrong (issue "twenty new situations"): a stop between any two
writes of an evaluation, and files that hold what no run writes."""
import csv
import json

import pytest
import torch

from toobig.runs import run_folder
import train_with_eval
from conftest import REPO, run_main

MATH_14 = REPO / "config/train_math_mini_14.py"
RUN = [MATH_14, "--device=cpu", "--compile=False", "--quiet", "--n_embd=8", "--eval_interval=5", "--max_iters=10",
       "--keep_evals=True"]
WRITERS = ("write_atomically", "append_csv_row", "put_in_place")  # every write of run_folder (save_torch: the first)
# what a resumed run may not share with one trained in one go: the times, where it is, how it started
UNSHARED = ("elapsed_s", "wall_time_s", "out_dir", "init_from", "overwrite")


class Killed(BaseException):
    """A stand-in for kill -9: nothing in the run may catch it."""


def counting_writes(monkeypatch, kill_before=None):
    """Make run_folder's writers log each write's file name, raising Killed just before write
    number `kill_before` (0-based); returns the log."""
    log = []
    for name in WRITERS:
        real = getattr(run_folder, name)

        def write(path, *args, _real=real):
            if len(log) == kill_before:
                raise Killed(path)
            log.append(str(path))
            return _real(path, *args)
        monkeypatch.setattr(run_folder, name, write)
    return log


def without_unshared(value):
    if isinstance(value, dict):
        return {k: without_unshared(v) for k, v in value.items() if k not in UNSHARED}
    if isinstance(value, (list, tuple)):
        return [without_unshared(v) for v in value]
    return value


def same(a, b):
    """a == b, tensors compared bit for bit."""
    if torch.is_tensor(a):
        return torch.is_tensor(b) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def contents(folder):
    """{relative path: what it holds, UNSHARED left out} for every file of a run folder."""
    found = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != run_folder.CLAIM_FILE):
        name = str(path.relative_to(folder))
        if path.suffix == ".pt":
            found[name] = without_unshared(torch.load(path, weights_only=False))
        elif path.suffix == ".json":
            found[name] = without_unshared(json.loads(path.read_text()))
        else:
            with open(path, newline="") as f:
                found[name] = [without_unshared(row) for row in csv.DictReader(f)]
    return found


def test_a_stop_between_any_two_writes_of_an_evaluation_loses_nothing(tmp_path, monkeypatch):
    with monkeypatch.context() as m:
        log = counting_writes(m)
        assert run_main(train_with_eval.main, *RUN, f"--out_dir={tmp_path / 'whole'}").returncode == 0
    expected = contents(tmp_path / "whole")
    commits = [i for i, path in enumerate(log) if path.endswith("ckpt.pt") and "best" not in path]
    assert len(commits) == 3  # evaluations at 0, 5 and 10
    # before every write of every evaluation: 0 (no checkpoint yet: started again), 5 and 10 (the last)
    for kill_before in range(len(log)):
        out_dir = tmp_path / f"stopped_{kill_before}"
        with monkeypatch.context() as m:
            counting_writes(m, kill_before)
            with pytest.raises(Killed):
                run_main(train_with_eval.main, *RUN, f"--out_dir={out_dir}")
        result = run_main(train_with_eval.main, "--init_from=resume", f"--out_dir={out_dir}")
        if kill_before <= commits[0]:  # the resume says how to go on
            assert result.returncode == 2 and "--init_from=scratch" in result.stderr, result.stderr
            assert ("--overwrite" in result.stderr) == (kill_before > 0)  # files of the run are there to replace
            result = run_main(train_with_eval.main, *RUN, f"--out_dir={out_dir}", "--overwrite")
        assert result.returncode == 0, (log[kill_before], result.stderr)
        found = contents(out_dir)
        assert found.keys() == expected.keys(), (log[kill_before], found.keys() ^ expected.keys())
        for name in expected:
            assert same(found[name], expected[name]), f"{name} differs after a stop before writing {log[kill_before]}"


def damaged_copy(tmp_path, name, line, column, text):
    """A copy of the committed n14 run whose `name` has `text` in one cell."""
    import shutil
    folder = tmp_path / "math_mini_14"
    shutil.copytree(REPO / "results/math_mini_14", folder)
    with open(folder / name, newline="") as f:
        rows = list(csv.reader(f))
    rows[line - 1][rows[0].index(column)] = text
    with open(folder / name, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return folder


@pytest.mark.parametrize("name, column, text", [("results.csv", "heldout_correct", "nan"),
                                                ("results.csv", "combined_acc", ""),
                                                ("items.csv", "5+7", ""),
                                                ("margins.csv", "7-5", "inf")])
def test_the_readers_name_a_damaged_cell_instead_of_reading_it(tmp_path, name, column, text):
    import plot_all_models
    import plot_results
    folder = damaged_copy(tmp_path, name, 20, column, text)
    message = f"{folder / name}, line 20, column {column}"
    result = run_main(plot_results.main, f"--model_folder={folder}")
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    if name != "items.csv":  # the grids read results.csv and margins.csv
        result = run_main(plot_all_models.main, f"--root={tmp_path}", f"--out={tmp_path / 'figures'}")
        assert result.returncode == 2 and message in result.stderr, result.stderr


def test_progress_refuses_a_run_whose_kept_weights_miss_an_evaluation(tmp_path):
    from tools import progress
    assert run_main(train_with_eval.main, *RUN, f"--out_dir={tmp_path}").returncode == 0
    progress.run_trace(tmp_path)
    (tmp_path / "evals" / "iter_000005.pt").unlink()
    with pytest.raises(ValueError, match="lacks the weights of 1 evaluation"):
        progress.run_trace(tmp_path)


@pytest.mark.parametrize("temperature", ["1e-40", "1e-45", "1e-46", "5e-324"])
def test_a_subnormal_temperature_scores_as_greedy_decoding_does(temperature):
    import eval_as_math
    run = [f"--out_dir={REPO / 'results/math_mini_14'}", "--ckpt=model_last.pt", "--json"]
    greedy = run_main(eval_as_math.main, *run, "--greedy")
    tiny = run_main(eval_as_math.main, *run, f"--temperature={temperature}")
    assert tiny.returncode == 0, tiny.stderr
    scores = [{k: v for k, v in json.loads(r.stdout).items() if k != "sampling"} for r in (tiny, greedy)]
    assert scores[0] == scores[1]


def test_a_run_saved_on_a_gpu_is_refused_on_a_cpu_in_one_line(tmp_path):
    assert run_main(train_with_eval.main, *RUN, f"--out_dir={tmp_path}").returncode == 0
    checkpoint = torch.load(tmp_path / "ckpt.pt", weights_only=False)
    for state in checkpoint["rng"]:  # as torch.cuda leaves them: a 16-byte Philox state, and a "cuda" entry
        state["batches"], state["cuda"] = torch.zeros(16, dtype=torch.uint8), torch.zeros(16, dtype=torch.uint8)
        state["device"] = "cuda"
    torch.save(checkpoint, tmp_path / "ckpt.pt")
    result = run_main(train_with_eval.main, "--init_from=resume", f"--out_dir={tmp_path}", "--max_iters=20")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "trained on cuda and cannot be resumed on cpu" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


ENTRY_POINTS = ["eval_as_math", "eval_capitals", "plot_all_models", "plot_results", "sample", "train_with_eval"]
CLIS = ["bench", "claims", "eval_as_math", "eval_capitals", "facts_order", "inspect_model", "intervene", "margins",
        "plot_all_models", "plot_results", "progress", "run_configs", "sample", "sweep", "train_with_eval", "why"]


@pytest.mark.parametrize("name", CLIS)
def test_every_cli_answers_the_machine_running_out_of_memory_in_one_line(name, monkeypatch):
    import importlib
    module = importlib.import_module(name if name in ENTRY_POINTS else f"tools.{name}")

    def out_of_memory(*args, **kwargs):
        raise MemoryError("out of memory (as the machine said it)")
    parser = "parse_overrides" if hasattr(module, "parse_overrides") else "parse_args"
    monkeypatch.setattr(module, parser, out_of_memory)
    result = run_main(module.main)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip() == "error: out of memory (as the machine said it)"


def test_a_figure_into_a_read_only_folder_is_one_line(tmp_path, monkeypatch):
    import shutil
    import matplotlib.figure
    import plot_results
    shutil.copytree(REPO / "results/math_mini_14", tmp_path / "run")

    def read_only(self, path, *args, **kwargs):  # root writes anywhere: the refusal the folder would give
        raise PermissionError(13, "Permission denied", str(path))
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", read_only)
    result = run_main(plot_results.main, f"--model_folder={tmp_path / 'run'}")
    assert result.returncode == 2 and "Permission denied" in result.stderr and "Traceback" not in result.stderr


def one_line(result, text):
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert text in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_prompt_file_that_is_a_folder_or_not_utf8_is_named(tmp_path):
    import sample
    run = f"--out_dir={REPO / 'results/math_mini_14'}"
    one_line(run_main(sample.main, run, f"--start=FILE:{tmp_path}"), f"--start=FILE:{tmp_path}: a folder, not a file")
    (tmp_path / "prompt.txt").write_bytes(b"5+\xff")
    one_line(run_main(sample.main, run, f"--start=FILE:{tmp_path / 'prompt.txt'}"),
             f"--start=FILE:{tmp_path / 'prompt.txt'} is not UTF-8 text (byte 2)")


def test_an_out_dir_that_is_a_file_is_said_alike_by_every_tool(tmp_path):
    import eval_as_math
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("")
    one_line(run_main(train_with_eval.main, *RUN, f"--out_dir={not_a_folder}"), "is a file, not a folder")
    one_line(run_main(train_with_eval.main, "--init_from=resume", f"--out_dir={not_a_folder}"), "a file, not a folder")
    one_line(run_main(eval_as_math.main, f"--out_dir={not_a_folder}"), "is a file, not a folder")


def test_a_resume_that_ends_earlier_keeps_no_file_of_the_lost_evaluation(tmp_path, monkeypatch):
    """Stopped just before the last evaluation's ckpt.pt, then resumed to an earlier end: the lost
    evaluation's best checkpoints, weights and answers never reach the folder."""
    with monkeypatch.context() as m:
        log = counting_writes(m)
        assert run_main(train_with_eval.main, *RUN, f"--out_dir={tmp_path / 'whole'}").returncode == 0
    last_commit = [i for i, path in enumerate(log) if path.endswith("ckpt.pt") and "best" not in path][-1]
    with monkeypatch.context() as m:
        counting_writes(m, last_commit)
        with pytest.raises(Killed):
            run_main(train_with_eval.main, *RUN, f"--out_dir={tmp_path / 'run'}")
    result = run_main(train_with_eval.main, "--init_from=resume", f"--out_dir={tmp_path / 'run'}", "--max_iters=7")
    assert result.returncode == 0, result.stderr
    for path in (tmp_path / "run").rglob("*.pt"):
        assert torch.load(path, weights_only=False)["iter_num"] <= 7, path.name
    assert json.loads((tmp_path / "run" / "answers.json").read_text())["last"]["iter"] == 7
    assert not (tmp_path / "run" / run_folder.PENDING).exists()


def test_a_table_cut_before_its_header_is_written_anew(tmp_path):
    from toobig.core.files import append_csv_row
    (tmp_path / "norms.csv").write_text("")
    append_csv_row(tmp_path / "norms.csv", {"iter": 0, "total": 1.0}, ["iter", "total"])
    assert (tmp_path / "norms.csv").read_text().splitlines() == ["iter,total", "0,1.0"]
    (tmp_path / "items.csv").write_text("")
    run_folder.RunFolder(tmp_path).resume_at(0)
    assert not (tmp_path / "items.csv").exists()
