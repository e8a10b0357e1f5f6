"""toobig/interp/inside.py and tools/inspect_model.py: the measures on constructed inputs, the hooked attention against the model's, the CLI."""
import json

import numpy as np
import pytest
import torch

from toobig.interp import inside
from tools import inspect_model
from conftest import REPO, run_main
from model import GPT, GPTConfig
from toobig.study.tasks import CharCodec, math_expressions, task_text


def test_number_line_score_is_one_for_digits_in_order_on_a_line():
    rng = np.random.default_rng(0)
    direction = rng.normal(size=14)
    on_a_line = np.outer(np.arange(10), direction) + 0.01 * rng.normal(size=(10, 14))
    assert inside.number_line(on_a_line)["number_line_score"] == 1.0
    shuffled = on_a_line[[3, 7, 0, 9, 1, 5, 8, 2, 6, 4]]
    assert inside.number_line(shuffled)["number_line_score"] < 0.8


def test_the_answer_probe_reads_a_linear_code_and_misses_a_missing_one():
    rng = np.random.default_rng(1)
    values = rng.integers(-9, 19, size=200).astype(float)
    states = np.outer(values, rng.normal(size=14)) + 0.001 * rng.normal(size=(200, 14))
    probe = inside.answer_probe(states[:196], values[:196], states[196:], values[196:])
    assert probe["heldout_mae"] < 0.01 and probe["heldout_right"] == 4
    noise = rng.normal(size=(200, 14))
    assert inside.answer_probe(noise[:196], values[:196], noise[196:], values[196:])["heldout_mae"] > 1


def test_hooked_attention_is_the_models_and_inspecting_changes_nothing():
    torch.manual_seed(0)
    codec = CharCodec.from_text(task_text("as_math"))
    model = GPT(GPTConfig(block_size=9, vocab_size=17, n_layer=2, n_head=2, n_embd=16, bias=False)).eval()
    expressions = math_expressions()[:20]
    idx = torch.tensor([codec.encode(f"<{a}{op}{b}=") for a, op, b in expressions])
    before = model(idx)[0]
    outputs = {}
    hook = model.transformer.h[1].attn.register_forward_hook(lambda m, i, o: outputs.update(x=i[0], y=o))
    attention, residual = inside.inside_prompts(model, codec, expressions)
    hook.remove()
    assert torch.equal(model(idx)[0], before)  # no hook left behind, none changed the forward
    assert attention.shape == (2, 20, 2, 5) and np.allclose(attention.sum(axis=-1), 1)
    attn = model.transformer.h[1].attn
    v = attn.c_attn(outputs["x"]).split(16, dim=2)[2].view(20, 5, 2, 8).transpose(1, 2)   # (B, head, T, hs)
    last = torch.einsum("bht,bhtd->bhd", torch.tensor(attention[1], dtype=v.dtype), v).reshape(20, 16)
    torch.testing.assert_close(attn.c_proj(last), outputs["y"][:, -1], rtol=1e-4, atol=1e-5)
    assert residual.shape == (20, 16)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    import train_with_eval
    out_dir = tmp_path_factory.mktemp("inspect") / "math_14"
    result = run_main(train_with_eval.main, REPO / "config/train_math_mini_14.py", f"--out_dir={out_dir}", "--device=cpu",
                      "--compile=False", "--quiet", "--max_iters=300", "--eval_interval=150")
    assert result.returncode == 0, result.stderr
    return out_dir


def test_the_cli_writes_a_figure_or_prints_json(small_run):
    result = run_main(inspect_model.main, f"--out_dir={small_run}", "--ckpt=model_best.pt", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) >= {"digits", "attention", "probe", "grids", "heldout"}
    assert len(report["digits"]["pcs"]) == 10 and 0 <= report["digits"]["number_line_score"] <= 1
    assert np.array(report["attention"]["train"]).shape == (1, 1, 5)
    assert sum(map(sum, report["grids"]["addition"])) <= 1000 and set(report["heldout"]) == {"5+7", "7+5", "5-7", "7-5"}
    result = run_main(inspect_model.main, f"--out_dir={small_run}", "--ckpt=model_best.pt")
    assert result.returncode == 0 and (small_run / "inspect_model_best.png").stat().st_size > 10_000


def test_a_facts_model_is_refused_in_one_line(tmp_path):
    import train_with_eval
    run_main(train_with_eval.main, REPO / "config/train_facts_mini_14.py", f"--out_dir={tmp_path}", "--device=cpu",
             "--compile=False", "--quiet", "--max_iters=0")
    result = run_main(inspect_model.main, f"--out_dir={tmp_path}")
    assert result.returncode == 2 and "is not an arithmetic model" in result.stderr


def test_the_cli_says_which_checkpoint_and_iteration_it_looked_inside(small_run):
    """issue 36: the file and the iteration, in the text and as --json fields."""
    best = json.loads((small_run / "run.json").read_text())["best"]["combined_acc"]["iter"]
    report = json.loads(run_main(inspect_model.main, f"--out_dir={small_run}", "--ckpt=model_best.pt", "--json").stdout)
    assert (report["checkpoint"], report["iter"], report["checkpoint_holds"]) == \
        (str(small_run / "model_best.pt"), best, "the best-combined evaluation")
    text = run_main(inspect_model.main, f"--out_dir={small_run}").stdout
    assert text.startswith(f"scored {small_run / 'ckpt.pt'} (iteration 300: the last evaluation")
