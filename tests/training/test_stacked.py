"""A stack of models trains each one as its own single run would (CPU, float32, dropout 0)."""
import csv

import pytest
import torch

from toobig.training import stacked
import train_with_eval
from toobig.runs.run_folder import RESULT_COLUMNS
from toobig.training.stacked import clip_grad_norm_per_model, train_stack

SEEDS = (1, 2, 3)


@pytest.fixture(autouse=True)
def one_thread():
    # models this small train as fast on one thread, which doesn't fight other processes for the cores
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def config(out_dir, seed, **overrides):
    # DEFAULTS is the n14 arithmetic model
    return train_with_eval.resolve({**train_with_eval.DEFAULTS, "compile": False, "device": "cpu", "quiet": True,
                                    "max_iters": 50, "eval_interval": 25, "seed": seed, "out_dir": str(out_dir),
                                    **overrides})


def rows(out_dir):
    with open(out_dir / "results.csv") as f:
        return list(csv.DictReader(f))


def test_stack_matches_single_runs(tmp_path):
    # grad_clip 0.6 lies between the three models' gradient norms (0.5-0.75 in these
    # iterations), so some are clipped and some not: clipping the stack as one model
    # instead would change the Adam moments by ~0.1 and the parameters by ~1e-4
    diverged = train_stack([config(tmp_path / f"stack_s{s}", s, grad_clip=0.6) for s in SEEDS])
    assert diverged == {}
    worst = 0.0
    for seed in SEEDS:
        single_dir, stack_dir = tmp_path / f"single_s{seed}", tmp_path / f"stack_s{seed}"
        train_with_eval.train(config(single_dir, seed, grad_clip=0.6))
        assert [r["iter"] for r in rows(stack_dir)] == ["0", "25", "50"]
        for a, b in zip(rows(single_dir), rows(stack_dir), strict=True):
            for key in set(RESULT_COLUMNS) - {"train_loss", "val_loss", "elapsed_s"}:
                assert a[key] == b[key], (seed, key, a, b)
            assert float(b["train_loss"]) == pytest.approx(float(a["train_loss"]), rel=1e-4)
        ckpt_a = torch.load(single_dir / "ckpt.pt", weights_only=False)
        ckpt_b = torch.load(stack_dir / "ckpt.pt", weights_only=False)
        assert ckpt_a.keys() == ckpt_b.keys() and ckpt_a["model_args"] == ckpt_b["model_args"]
        for name, p in ckpt_a["model"].items():
            worst = max(worst, (p - ckpt_b["model"][name]).abs().max().item())
        # the optimizer state is the single run's too
        opt_a, opt_b = ckpt_a["optimizer"], ckpt_b["optimizer"]
        assert opt_a["param_groups"] == opt_b["param_groups"]
        for i, state in opt_a["state"].items():
            assert state["step"] == opt_b["state"][i]["step"]
            torch.testing.assert_close(state["exp_avg"], opt_b["state"][i]["exp_avg"], rtol=0, atol=1e-6)
        assert torch.equal(ckpt_a["rng"][0]["batches"], ckpt_b["rng"][0]["batches"])
        assert (stack_dir / "ckpt_best_math.pt").exists() and (stack_dir / "run.json").exists()
    # float rounding only (~1e-8): the warm-up keeps these 50 steps small. At full learning rate
    # from step 0, rounding grows chaotically (switching a single run's attention kernel moves
    # its parameters by up to 7e-2 within 50 steps), so no test can ask for more than this.
    print(f"max |stacked - single| parameter difference: {worst:.2e}")
    assert worst < 1e-6
    # so an interrupted stacked run can be finished as a single run
    for run in ("single_s1", "stack_s1"):
        train_with_eval.train(config(tmp_path / run, 1, grad_clip=0.6, max_iters=75, init_from="resume"))
    a, b = rows(tmp_path / "single_s1")[-1], rows(tmp_path / "stack_s1")[-1]
    assert a["iter"] == b["iter"] == "75" and a["add_correct"] == b["add_correct"]
    assert float(b["train_loss"]) == pytest.approx(float(a["train_loss"]), rel=1e-4)


def test_configs_must_share_everything_but_seed_and_out_dir(tmp_path):
    with pytest.raises(ValueError, match="n_embd"):
        train_stack([config(tmp_path / "a", 1), config(tmp_path / "b", 2, n_embd=28)])
    with pytest.raises(ValueError, match="weight_decay"):
        train_stack([config(tmp_path / "a", 1), config(tmp_path / "b", 2, weight_decay=0.1)])
    with pytest.raises(ValueError, match="out_dir"):
        train_stack([config(tmp_path / "a", 1), config(tmp_path / "a", 2)])
    assert not (tmp_path / "a").exists()


def clip_as_one_model(grads, max_norm=1.0):
    """clip_grad_norm_ on copies of `grads`, as if they were one model's gradients."""
    params = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    torch.nn.utils.clip_grad_norm_(params, max_norm)
    return [p.grad for p in params]


def test_clipping_is_per_model():
    # a stack of two models with two tensors each: model 0's gradient has norm 10, model 1's 0.5
    a, b = torch.zeros(2, 3, requires_grad=True), torch.zeros(2, 2, 2, requires_grad=True)
    a.grad = torch.tensor([[6.0, 0.0, 0.0], [0.3, 0.0, 0.0]])
    b.grad = torch.tensor([[[8.0, 0.0], [0.0, 0.0]], [[0.0, 0.4], [0.0, 0.0]]])
    single_runs = [clip_as_one_model([a.grad[k], b.grad[k]]) for k in range(2)]
    as_one_model = clip_as_one_model([a.grad, b.grad])
    norms = clip_grad_norm_per_model([a, b], 1.0)
    torch.testing.assert_close(norms, torch.tensor([10.0, 0.5]))
    for k in range(2):
        torch.testing.assert_close([a.grad[k], b.grad[k]], single_runs[k])
    assert a.grad[1, 0] == 0.3 and b.grad[1, 0, 1] == 0.4  # model 1 is under the limit: untouched
    torch.testing.assert_close(a.grad[0], torch.tensor([0.6, 0.0, 0.0]))  # model 0 scaled to norm 1
    # clipping the stack as one model (norm ~10.01) shrinks model 1's gradient ten-fold too
    assert as_one_model[0][1, 0] < 0.031


def test_a_diverging_model_leaves_the_others_alone(tmp_path, monkeypatch):
    clean = train_stack([config(tmp_path / f"clean_s{s}", s, max_iters=50) for s in (1, 2)])
    clip, steps = stacked.clip_grad_norm_per_model, []

    def poison_model_0(params, max_norm):  # a NaN gradient for model 0 at step 10
        params = list(params)
        steps.append(None)
        if len(steps) == 10:
            params[0].grad[0].fill_(float("nan"))
        return clip(params, max_norm)
    monkeypatch.setattr(stacked, "clip_grad_norm_per_model", poison_model_0)
    diverged = train_stack([config(tmp_path / f"poisoned_s{s}", s, max_iters=50) for s in (1, 2)])
    assert clean == {} and list(diverged) == [str(tmp_path / "poisoned_s1")]
    assert [r["iter"] for r in rows(tmp_path / "poisoned_s1")] == ["0"]  # no row after the NaN
    a, b = (torch.load(tmp_path / run / "ckpt.pt", weights_only=False)["model"] for run in ("clean_s2", "poisoned_s2"))
    assert all(torch.equal(a[name], b[name]) for name in a)
