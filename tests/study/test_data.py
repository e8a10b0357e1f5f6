import pickle

import numpy as np
import pytest

from conftest import run_cli
from toobig.study.tasks import CAPITALS, TEXT_SHA256, CharCodec, held_out_expressions, math_lines, prepare, task_text, text_sha256


def test_math_lines_are_the_196_training_expressions():
    lines = math_lines()
    assert len(lines) == 196
    assert all(len(line) == 9 and line.endswith("\n") and line[0] == "<" for line in lines)
    expressions = {line.split("=")[0][1:] for line in lines}
    assert len(expressions) == 196
    assert not {f"{a}{op}{b}" for a, op, b in held_out_expressions()} & expressions
    for line in lines:
        lhs, rhs = line.strip()[1:-1].split("=")
        assert eval(lhs) == int(rhs)  # the written answer is the true one
    assert lines[:3] == ["<1-4=-3>\n", "<7-7=0> \n", "<9-1=8> \n"]  # the paper's order
    assert "<9+9=18>\n" in lines and "<0-9=-9>\n" in lines and "<1+1=2> \n" in lines


def test_facts_are_the_50_capitals_in_order():
    lines = task_text("facts_char").splitlines()
    assert len(CAPITALS) == 50 and len(lines) == 50
    assert lines[0] == "Capital of France is Paris "
    assert lines[1] == "Capital of the USA is Washington DC "
    assert lines[-1] == "Capital of Zambia is Lusaka "


@pytest.mark.parametrize("dataset,vocab_size,length", [
    ("as_math", 17, 1764), ("facts_char", 51, 1547), ("both_math_and_facts", 66, 3311)])
def test_prepare_writes_nanogpt_files_that_round_trip(tmp_path, dataset, vocab_size, length):
    folder = prepare(dataset, data_dir=tmp_path)
    text = (folder / "input.txt").read_text()
    meta = pickle.load(open(folder / "meta.pkl", "rb"))
    assert meta["vocab_size"] == vocab_size == len(set(text))
    assert len(text) == length and text == task_text(dataset)
    for split in ("train", "val"):
        ids = np.fromfile(folder / f"{split}.bin", dtype=np.uint8)
        assert len(ids) == length
        assert "".join(meta["itos"][i] for i in ids) == text
    assert CharCodec(meta["stoi"]).decode(ids) == text


@pytest.mark.parametrize("dataset,sha256", [
    ("as_math", "027df0cd21c838283f9d990a5984975bb968edd4f794170f2197a9dc60a3b926"),
    ("facts_char", "c4df90002ce251a6e3a6c4ecddbdf4df5368b15d738892687e58df42fac3feb7"),
    ("both_math_and_facts", "078ebbe290ef4e78ee33da82b58ec8c1b2504d30f9b47597aa2cb873dcb12fb1")])
def test_texts_are_byte_identical_to_the_papers(dataset, sha256):
    # the hashes of the paper authors' files, written out here so that a change to
    # toobig/study/tasks.py and its TEXT_SHA256 together cannot pass
    assert text_sha256(task_text(dataset)) == sha256 == TEXT_SHA256[dataset]


def test_joint_task_is_math_then_facts():
    assert task_text("both_math_and_facts") == task_text("as_math") + task_text("facts_char")


def test_committed_text_matches_the_generator():
    from toobig.study.tasks import DATA_DIR
    for dataset in ("as_math", "facts_char", "both_math_and_facts"):
        assert (DATA_DIR / dataset / "input.txt").read_text() == task_text(dataset)


def test_prepare_script_writes_where_it_is_told(tmp_path):
    result = run_cli("data/as_math/prepare.py", tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "as_math" / "input.txt").read_text() == task_text("as_math")


def test_training_data_is_the_task_text_whatever_the_bins_hold(monkeypatch):
    """Stale or tampered bins (here: the held-out sums appended) never reach training."""
    import train_with_eval
    tampered = task_text("as_math") + "<5+7=12>\n<7+5=12>\n<5-7=-2>\n<7-5=2> \n"
    codec = CharCodec.from_text(task_text("as_math"))
    monkeypatch.setattr(np, "fromfile", lambda *args, **kwargs: np.array(codec.encode(tampered), dtype=np.uint8))
    data, data_codec = train_with_eval.load_data("as_math", "cpu")
    assert data_codec.decode(data.tolist()) == task_text("as_math")
