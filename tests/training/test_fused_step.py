"""The fused CPU step (toobig/training/fused_step.cpp): its gradients against autograd, its two builds against
each other, and its place in training (default, fallback, resume across steps)."""
import json
import platform

import pytest
import torch

from toobig.training import fused_step
import train_with_eval
from conftest import REPO, run_main
from model import GPT, GPTConfig
from toobig.study.tasks import CharCodec
from toobig.training.step import load_data

MATH_14 = REPO / "config/train_math_mini_14.py"
FAST = ["--device=cpu", "--quiet"]


def model_and_step(n_embd, dataset="as_math", block_size=9, mlp_expansion=1, vectorized=None, seed=0):
    torch.manual_seed(seed)
    data, codec = load_data(dataset, "cpu")
    model = GPT(GPTConfig(block_size=block_size, vocab_size=codec.vocab_size, n_embd=n_embd,
                          mlp_expansion=mlp_expansion))
    with torch.no_grad():  # gains away from 1, so that their gradients are not special
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(0.2 * torch.randn_like(p))
    optimizer = model.configure_optimizers(0.1, 1e-2, (0.9, 0.99), "cpu")
    return model, optimizer, data, codec


@pytest.mark.parametrize("n_embd,dataset,block_size,mlp_expansion", [
    (14, "as_math", 9, 1), (12, "facts_char", 11, 2), (20, "both_math_and_facts", 24, 1)])
def test_gradients_match_autograd_in_float64(n_embd, dataset, block_size, mlp_expansion):
    """The float32 step's gradient against autograd's in float64, relative to the largest entry of
    each tensor: within 2e-6 (measured: at most 4e-7)."""
    model, optimizer, data, codec = model_and_step(n_embd, dataset, block_size, mlp_expansion)
    reference = GPT(model.config).double()
    reference.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
    step = fused_step.FusedStep(model, optimizer, {"grad_clip": 0.0}, data)
    starts = torch.randint(len(data) - block_size, (37, 1), generator=torch.Generator().manual_seed(1))
    offsets = torch.arange(block_size)
    _, loss = reference(data[starts + offsets], data[starts + offsets + 1])
    loss.backward()
    before = step.flat.clone()
    assert step(starts, 0.0) == pytest.approx(loss.item(), rel=1e-5)
    assert torch.equal(step.flat, before)  # learning rate 0: the parameters stay
    offset = 0
    for name in fused_step.PARAM_NAMES:
        grad = dict(reference.named_parameters())[name].grad.reshape(-1)
        mine = step.grad[offset:offset + len(grad)].double()
        assert (mine - grad).abs().max() <= 2e-6 * grad.abs().max(), name
        offset += len(grad)


def train_steps(step, data, n, batch=882, block_size=9, seed=1):
    generator = torch.Generator().manual_seed(seed)
    for it in range(n):
        loss = step(torch.randint(len(data) - block_size, (batch, 1), generator=generator), 1e-2 * (it + 1) / n)
    return loss


def test_after_100_steps_the_parameters_are_the_torch_steps_up_to_float_rounding():
    """The study's n14 run, its first 100 steps (warm-up, seed 1337's batches) with each step:
    close, and not equal, as two orders of adding floats give. (Through a loss spike, as a
    run has later, any two orders drift apart, as two thread counts of the torch step do.)"""
    from toobig.training.step import get_lr, train_step
    from toobig.study.training_config import DEFAULTS
    torch.manual_seed(1337)
    data, codec = load_data("as_math", "cpu")
    model = GPT(GPTConfig(block_size=9, vocab_size=codec.vocab_size, n_embd=14, mlp_expansion=1))
    twin = GPT(model.config)
    twin.load_state_dict(model.state_dict())
    step = fused_step.FusedStep(model, model.configure_optimizers(0.0, 1e-2, (0.9, 0.99), "cpu"), {"grad_clip": 1.0},
                                data)
    twin_optimizer = twin.configure_optimizers(0.0, 1e-2, (0.9, 0.99), "cpu")
    generator, offsets = torch.Generator().manual_seed(1337), torch.arange(9)
    for it in range(100):
        starts = torch.randint(len(data) - 9, (882, 1), generator=generator)
        step(starts, get_lr(it, DEFAULTS))
        for group in twin_optimizer.param_groups:
            group["lr"] = get_lr(it, DEFAULTS)
        train_step(lambda x, y: twin(x, y)[1], twin.parameters(), twin_optimizer, data[starts + offsets],
                   data[starts + offsets + 1], torch.autocast("cpu", enabled=False), 1.0)
    gap = max((p - q).abs().max().item() for p, q in zip(model.parameters(), twin.parameters()))
    assert 0 < gap < 1e-5  # measured: 2.4e-7


def test_weight_decay_on_the_gains_is_the_torch_steps_and_only_where_asked():
    """decay_gains puts the LayerNorm gains under weight decay in both steps (the weight-norm
    experiments); without it the gains are not decayed, as in nanoGPT."""
    from toobig.training.step import train_step
    data, codec = load_data("as_math", "cpu")
    gains = {}
    for decay_gains in (False, True):
        torch.manual_seed(1)
        model = GPT(GPTConfig(block_size=9, vocab_size=codec.vocab_size, n_embd=14, mlp_expansion=1))
        twin = GPT(model.config)
        twin.load_state_dict(model.state_dict())
        step = fused_step.FusedStep(model, model.configure_optimizers(1.0, 1e-2, (0.9, 0.99), "cpu", decay_gains),
                                    {"grad_clip": 1.0}, data)
        twin_optimizer = twin.configure_optimizers(1.0, 1e-2, (0.9, 0.99), "cpu", decay_gains)
        generator, offsets = torch.Generator().manual_seed(1), torch.arange(9)
        for _ in range(20):
            starts = torch.randint(len(data) - 9, (64, 1), generator=generator)
            step(starts, 1e-2)
            train_step(lambda x, y: twin(x, y)[1], twin.parameters(), twin_optimizer, data[starts + offsets],
                       data[starts + offsets + 1], torch.autocast("cpu", enabled=False), 1.0)
        assert max((p - q).abs().max().item() for p, q in zip(model.parameters(), twin.parameters())) < 1e-5
        gains[decay_gains] = model.transformer.ln_f.weight.detach().clone()
    assert (gains[True] < gains[False]).all()  # 20 steps of p *= 1 - lr wd on top of the same updates


@pytest.mark.skipif(not fused_step.vector_path(), reason="the vectorized build needs x86-64 with AVX2 and FMA")
def test_the_vectorized_and_the_portable_build_give_the_same_bits():
    """What makes an ARM machine's run the same as an x86 one's: both builds, 100 steps, equal."""
    flats = []
    for vectorized in (True, False):
        model, optimizer, data, _ = model_and_step(14)
        step = fused_step.FusedStep(model, optimizer, {"grad_clip": 1.0}, data, vectorized=vectorized)
        loss = train_steps(step, data, 100, batch=64)
        flats.append((step.flat.clone(), step.m.clone(), step.v.clone(), loss))
    assert all(torch.equal(a, b) for a, b in zip(flats[0][:3], flats[1][:3])) and flats[0][3] == flats[1][3]


def rows(path):
    return [line.split(",")[:-1] for line in (path / "results.csv").read_text().splitlines()]  # elapsed_s aside


def test_a_run_repeats_bit_for_bit_and_says_which_step_trained_it(tmp_path):
    for name in ("a", "b"):
        result = run_main(train_with_eval.main, MATH_14, *FAST, f"--out_dir={tmp_path / name}", "--max_iters=500")
        assert result.returncode == 0, result.stderr
    assert rows(tmp_path / "a") == rows(tmp_path / "b") and len(rows(tmp_path / "a")) == 4
    a, b = (torch.load(tmp_path / n / "model_last.pt", weights_only=False)["model"] for n in "ab")
    assert all(torch.equal(a[k], b[k]) for k in a)
    step = json.loads((tmp_path / "a" / "run.json").read_text())["step"]
    assert step["kind"] == "fused" and "-ffp-contract=off" in step["flags"] and "-march=native" not in step["flags"]
    assert step["path"] == ("avx2" if fused_step.vector_path() else "portable")


@pytest.mark.parametrize("first,then", [("fused", "torch"), ("torch", "fused")])
def test_a_run_saved_with_one_step_resumes_with_the_other(tmp_path, first, then):
    args = [*FAST, "--compile=False", "--eval_interval=50"]
    assert run_main(train_with_eval.main, MATH_14, *args, f"--out_dir={tmp_path}", "--max_iters=100",
                    f"--step={first}").returncode == 0
    result = run_main(train_with_eval.main, "--init_from=resume", f"--out_dir={tmp_path}", "--max_iters=200",
                      f"--step={then}", "--quiet")
    assert result.returncode == 0, result.stderr
    table = rows(tmp_path)
    assert [r[0] for r in table[1:]] == ["0", "50", "100", "150", "200"]
    assert float(table[-1][1]) < float(table[-2][1]) < float(table[1][1])  # it went on learning
    assert json.loads((tmp_path / "run.json").read_text())["step"]["kind"] == then


def test_a_model_outside_the_family_takes_the_torch_step(tmp_path):
    result = run_main(train_with_eval.main, MATH_14, *FAST, "--compile=False", f"--out_dir={tmp_path / 'auto'}",
                      "--max_iters=0", "--n_layer=2")
    assert result.returncode == 0 and json.loads((tmp_path / "auto" / "run.json").read_text())["step"]["kind"] == "torch"
    result = run_main(train_with_eval.main, MATH_14, *FAST, f"--out_dir={tmp_path / 'fused'}", "--max_iters=0",
                      "--n_layer=2", "--step=fused")
    assert result.returncode == 2 and "step='fused' does not cover this run (n_layer=2)" in result.stderr


def test_without_a_compiler_the_torch_step_trains_with_a_notice(tmp_path, monkeypatch):
    monkeypatch.setenv("CXX", "/no/such/compiler")
    result = run_main(train_with_eval.main, MATH_14, *FAST, "--compile=False", f"--out_dir={tmp_path}", "--max_iters=0")
    assert result.returncode == 0 and "notice: the fused step cannot run here" in result.stderr
    assert json.loads((tmp_path / "run.json").read_text())["step"]["kind"] == "torch"


def test_a_held_weight_norm_is_the_same_in_both_steps_and_stays_held():
    """weight_norm (Omnigrok's fixed norm): after each step of either kind hold_norm rescales every
    weight together to the norm; the two steps stay within float rounding of each other."""
    from toobig.training.step import hold_norm, train_step
    data, codec = load_data("as_math", "cpu")
    torch.manual_seed(2)
    model = GPT(GPTConfig(block_size=9, vocab_size=codec.vocab_size, n_embd=14, mlp_expansion=1))
    hold_norm(list(model.parameters()), 20.0)
    twin = GPT(model.config)
    twin.load_state_dict(model.state_dict())
    step = fused_step.FusedStep(model, model.configure_optimizers(0.0, 1e-2, (0.9, 0.99), "cpu"), {"grad_clip": 1.0},
                                data)
    twin_optimizer = twin.configure_optimizers(0.0, 1e-2, (0.9, 0.99), "cpu")
    generator, offsets = torch.Generator().manual_seed(2), torch.arange(9)
    for _ in range(20):
        starts = torch.randint(len(data) - 9, (64, 1), generator=generator)
        step(starts, 1e-2)
        hold_norm(list(model.parameters()), 20.0)
        train_step(lambda x, y: twin(x, y)[1], twin.parameters(), twin_optimizer, data[starts + offsets],
                   data[starts + offsets + 1], torch.autocast("cpu", enabled=False), 1.0)
        hold_norm(list(twin.parameters()), 20.0)
    for m in (model, twin):
        total = torch.linalg.vector_norm(torch.cat([p.detach().reshape(-1) for p in m.parameters()]))
        assert abs(total.item() - 20.0) < 1e-4
    assert max((p - q).abs().max().item() for p, q in zip(model.parameters(), twin.parameters())) < 1e-5
