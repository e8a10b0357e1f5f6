"""What the study fixes (docs/STUDY.md §2-4), pinned: a change to any of these changes the experiment."""
import math
from contextlib import nullcontext

import pytest
import torch

from toobig.study.evaluation import Sampling
from model import GPT, GPTConfig
from toobig.study.tasks import FACT_ANSWER_TOKENS, MATH_ANSWER_TOKENS, TASKS
from train_with_eval import DEFAULTS, get_lr, resolve, train_step


@pytest.mark.parametrize("it,lr", [(0, 1e-2 / 2001), (1999, 1e-2 * 2000 / 2001), (2000, 1e-2),
                                   (13500, 1e-4 + 0.5 * (1e-2 - 1e-4)), (25000, 1e-4), (30000, 1e-4)])
def test_learning_rate_schedule(it, lr):
    assert get_lr(it, DEFAULTS) == pytest.approx(lr, rel=1e-12)


def test_training_constants():
    assert (DEFAULTS["max_iters"], DEFAULTS["warmup_iters"], DEFAULTS["lr_decay_iters"]) == (30000, 2000, 25000)
    assert (DEFAULTS["beta1"], DEFAULTS["beta2"], DEFAULTS["grad_clip"], DEFAULTS["seed"]) == (0.9, 0.99, 1.0, 1337)
    assert (DEFAULTS["eval_interval"], DEFAULTS["learning_rate"], DEFAULTS["min_lr"]) == (250, 1e-2, 1e-4)
    shapes = {dataset: (resolve({**DEFAULTS, "dataset": dataset})["batch_size"],
                        resolve({**DEFAULTS, "dataset": dataset})["block_size"]) for dataset in TASKS}
    assert shapes == {"as_math": (882, 9), "facts_char": (576, 24), "both_math_and_facts": (576, 24)}


def test_sampling_constants():
    assert Sampling() == Sampling(num_samples=10, temperature=0.01, top_k=10, greedy=False)
    assert (DEFAULTS["eval_samples"], DEFAULTS["eval_temperature"], DEFAULTS["eval_top_k"]) == (10, 0.01, 10)
    assert (MATH_ANSWER_TOKENS, FACT_ANSWER_TOKENS) == (4, 20)


def test_weight_decay_goes_to_the_2d_tensors_only():
    model = GPT(GPTConfig(block_size=9, vocab_size=17, n_layer=1, n_head=1, n_embd=14, bias=False, mlp_expansion=1))
    decay, no_decay = model.configure_optimizers(0.1, 1e-2, (0.9, 0.99), "cpu").param_groups
    name = {p: n for n, p in model.named_parameters()}
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert sorted(name[p] for p in decay["params"]) == [
        "transformer.h.0.attn.c_attn.weight", "transformer.h.0.attn.c_proj.weight", "transformer.h.0.mlp.c_fc.weight",
        "transformer.h.0.mlp.c_proj.weight", "transformer.wpe.weight", "transformer.wte.weight"]  # wte is lm_head
    assert sorted(name[p] for p in no_decay["params"]) == [
        "transformer.h.0.ln_1.weight", "transformer.h.0.ln_2.weight", "transformer.ln_f.weight"]


class RecordingSGD(torch.optim.SGD):
    """Records the gradient norm each step sees."""
    norms = []

    def step(self, closure=None):
        grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
        self.norms.append(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item())
        return super().step(closure)


@pytest.mark.parametrize("grad_clip,scale,expected", [(1.0, 1000.0, 1.0), (1.0, 1e-6, None), (0.0, 1000.0, None)])
def test_gradients_are_clipped_to_norm_grad_clip(grad_clip, scale, expected):
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=9, vocab_size=17, n_layer=1, n_head=1, n_embd=14, bias=False, mlp_expansion=1))
    X, Y = torch.randint(17, (4, 9)), torch.randint(17, (4, 9))
    raw = torch.autograd.grad(model(X, Y)[1] * scale, list(model.parameters()))
    raw_norm = torch.linalg.vector_norm(torch.stack([g.norm() for g in raw])).item()
    optimizer = RecordingSGD(model.parameters(), lr=0.0)
    optimizer.norms = []
    train_step(lambda x, y: model(x, y)[1] * scale, model.parameters(), optimizer, X, Y, nullcontext(), grad_clip)
    assert optimizer.norms[0] == pytest.approx(expected if expected is not None else raw_norm, rel=1e-5)
    assert math.isfinite(optimizer.norms[0])
