"""toobig/interp/interventions.py, toobig/interp/mechanism.py and tools/intervene.py: each intervention against a model whose
answer to it is known (hand-set weights, or the same change made in the weights)."""
import csv
import json

import numpy as np
import pytest
import torch

from toobig.interp import circuits
from tools import intervene
from toobig.interp import mechanism
from toobig.interp import readout
from tools import why
from toobig.analysis import wrong_answers
from conftest import REPO, run_main
from toobig.interp.interventions import (ROLES, activations, answer_margin, answer_token_margins, math_batch, mean_of, patch_from,
                           uniform_pattern, zero_unit)
from model import GPT, GPTConfig
from toobig.study.tasks import OPERATORS, CharCodec, math_expressions, task_text

CODEC = CharCodec.from_text(task_text("as_math"))
SOME = [(0, "+", 3), (9, "+", 9), (2, "-", 7), (7, "-", 2), (5, "-", 5)]


def random_model(seed=0, bias=False):
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=CODEC.vocab_size, n_embd=8, bias=bias)).eval()
    with torch.no_grad():  # larger than the init's 0.02, so that every part moves the logits
        for p in model.parameters():
            p.mul_(20 if p.dim() > 1 else 1)
    return model


def test_math_batch_aligns_each_answer_token_with_the_position_that_predicts_it():
    batch = math_batch(CODEC, SOME)
    for i, (a, op, b) in enumerate(SOME):
        line = f"<{a}{op}{b}={OPERATORS[op](a, b)}>"
        roles = mechanism.ROLES
        present = [r for k, r in enumerate(roles) if batch.positions[i, k] >= 0]
        expected = {"0+3": ["units", "end"], "9+9": ["tens", "units", "end"], "2-7": ["sign", "units", "end"],
                    "7-2": ["units", "end"], "5-5": ["units", "end"]}[f"{a}{op}{b}"]
        assert present == expected
        for k in range(len(roles)):
            p = int(batch.positions[i, k])
            if p >= 0:  # the token at p + 1 of the line is the one position p predicts
                assert CODEC.itos[int(batch.targets[i, k])] == line[p + 1]
                assert CODEC.decode(batch.idx[i, :p + 1].tolist()) == line[:p + 1]


def test_answer_margin_of_a_model_with_hand_set_logits():
    # every weight zero but the final LayerNorm's bias c: each position's logits are wte @ c
    model = random_model(bias=True)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.transformer.ln_f.bias.copy_(torch.arange(8.0) / 8)
        model.lm_head.weight.copy_(torch.randn(CODEC.vocab_size, 8))
    logits = (model.lm_head.weight @ model.transformer.ln_f.bias).detach()
    batch = math_batch(CODEC, SOME)
    margins = answer_token_margins(model, batch)
    for i in range(len(SOME)):
        for k in range(len(ROLES)):
            if batch.positions[i, k] < 0:
                assert torch.isnan(margins[i, k])
            else:
                t = int(batch.targets[i, k])
                expected = logits[t] - torch.cat([logits[:t], logits[t + 1:]]).max()
                assert margins[i, k] == pytest.approx(float(expected), abs=1e-5)
    assert torch.equal(answer_margin(margins), torch.nan_to_num(margins, nan=float("inf")).min(dim=1).values)


def test_ablating_a_neuron_is_zeroing_its_output_weights():
    model, batch = random_model(), math_batch(CODEC, math_expressions())
    ablated = answer_token_margins(model, batch, [zero_unit("mlp_hidden", 3)])
    with torch.no_grad():
        model.transformer.h[0].mlp.c_proj.weight[:, 3] = 0
    torch.testing.assert_close(ablated, answer_token_margins(model, batch), equal_nan=True)


def test_ablating_the_attention_output_is_zeroing_its_projection():
    model, batch = random_model(), math_batch(CODEC, math_expressions())
    ablated = answer_token_margins(model, batch, [zero_unit("attn_out")])
    assert not torch.allclose(ablated, answer_token_margins(model, batch), equal_nan=True)
    with torch.no_grad():
        model.transformer.h[0].attn.c_proj.weight.zero_()
    torch.testing.assert_close(ablated, answer_token_margins(model, batch), equal_nan=True)


def test_a_uniform_pattern_is_a_model_whose_queries_are_zero():
    model, batch = random_model(), math_batch(CODEC, math_expressions())
    uniform = answer_token_margins(model, batch, [uniform_pattern()])
    with torch.no_grad():
        model.transformer.h[0].attn.c_attn.weight[:8] = 0  # q = 0: every score equal, softmax uniform
    torch.testing.assert_close(uniform, answer_token_margins(model, batch), equal_nan=True)


@pytest.mark.parametrize("site", ["embed", "attn_pattern", "attn_out", "resid_mid", "mlp_pre", "mlp_hidden", "mlp_out",
                                  "resid_post"])
def test_patching_a_prompts_own_activations_or_its_own_mean_changes_nothing(site):
    model, batch = random_model(), math_batch(CODEC, SOME[:1])
    base = answer_token_margins(model, batch)
    own = activations(model, batch, [(site, 0)])[(site, 0)]
    torch.testing.assert_close(answer_token_margins(model, batch, [patch_from(site, own)]), base, equal_nan=True)
    torch.testing.assert_close(answer_token_margins(model, batch, [mean_of(site, own)]), base, equal_nan=True)


@pytest.mark.parametrize("site", ["resid_mid", "resid_post"])
def test_patching_the_whole_residual_stream_gives_the_source_prompts_logits(site):
    # two prompts with answers of one length: after the residual stream nothing else reads the prompt
    model = random_model()
    source, target = math_batch(CODEC, [(4, "-", 6)]), math_batch(CODEC, [(5, "-", 7)])
    acts = activations(model, source, [(site, 0)])[(site, 0)]
    torch.testing.assert_close(answer_token_margins(model, target, [patch_from(site, acts)]), answer_token_margins(model, source),
                               equal_nan=True)


def test_resid_mid_is_each_layers_input_plus_its_attention_output():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=CODEC.vocab_size, n_embd=8, n_layer=2)).eval()
    batch = math_batch(CODEC, SOME)
    sites = [("embed", 0), ("attn_out", 0), ("resid_mid", 0), ("resid_post", 0), ("attn_out", 1), ("resid_mid", 1)]
    acts = activations(model, batch, sites)
    torch.testing.assert_close(acts[("resid_mid", 0)], acts[("embed", 0)] + acts[("attn_out", 0)])
    torch.testing.assert_close(acts[("resid_mid", 1)], acts[("resid_post", 0)] + acts[("attn_out", 1)])
    base = answer_token_margins(model, batch)
    clean = patch_from("resid_mid", acts[("resid_mid", 1)], layer=1)
    broken = zero_unit("mlp_out", layer=0)
    assert not torch.allclose(answer_token_margins(model, batch, [broken]), base, equal_nan=True)
    # all that reaches layer 1's MLP and the head is layer 1's resid_mid: the clean one restores the output
    torch.testing.assert_close(answer_token_margins(model, batch, [broken, clean]), base, equal_nan=True)


def test_a_bad_site_or_layer_is_refused_and_leaves_no_hook_behind():
    model, batch = random_model(), math_batch(CODEC, SOME)
    base = answer_token_margins(model, batch)
    for bad, named in (((zero_unit("attn_out"), zero_unit("mlp_out", layer=3)), "layer 3"),
                       ((zero_unit("attn_out"), zero_unit("nowhere")), "'nowhere'")):
        with pytest.raises(ValueError, match=named):
            answer_token_margins(model, batch, bad)
        torch.testing.assert_close(answer_token_margins(model, batch), base, equal_nan=True)
    with pytest.raises(ValueError, match="no units"):
        zero_unit("attn_pattern", unit=2)


def test_a_mean_ablation_averages_tokens_not_padding():
    # 9+9=18> is a token longer than 0+3=3>: at the position that predicts 18's '>' only 9+9 has a token
    model = random_model()
    target, reference = math_batch(CODEC, [(9, "+", 9)]), math_batch(CODEC, [(9, "+", 9), (9, "+", 9), (0, "+", 3)])
    assert reference.real.tolist()[2] == [True] * 6 + [False]
    acts = activations(model, reference, [("attn_out", 0)])[("attn_out", 0)]
    base = answer_token_margins(model, target)
    masked = mean_of("attn_out", acts, positions=[6], real=reference.real)
    torch.testing.assert_close(answer_token_margins(model, target, [masked]), base, equal_nan=True)
    padded = mean_of("attn_out", acts, positions=[6])  # the padding's activation pulls the mean away
    assert not torch.allclose(answer_token_margins(model, target, [padded]), base, equal_nan=True)


def test_patching_a_prompt_into_itself_changes_nothing_and_another_prompt_into_it_does():
    model = random_model()
    same = mechanism.patch_report(model, CODEC, (5, "-", 7), (5, "-", 7))
    assert same["target_margin_patched"] == same["target_margin_before"]
    other = mechanism.patch_report(model, CODEC, (1, "-", 8), (5, "-", 7))
    assert other["target_margin_patched"] != other["target_margin_before"] and other["source_answer"] == -7


def test_the_reductions_keep_what_their_description_says_and_remove_the_rest():
    expressions = math_expressions()
    rows = list(range(200))
    batch = math_batch(CODEC, expressions)
    idx = batch.idx
    rng = np.random.default_rng(0)
    table = torch.tensor(rng.normal(size=(9, CODEC.vocab_size, 3)))
    additive = sum(table[p][idx[:, p]] for p in range(5))[:, None, :].expand(-1, idx.shape[1], -1).clone()
    fitted = mechanism.additive_fit(additive, batch, rows, [4])
    torch.testing.assert_close(fitted[:, 4], additive[:, 4])
    interacting = additive.clone()
    interacting[:, 4, 0] += (idx[:, 1] == idx[:, 3]).double()  # a = b: not a sum of per-token vectors
    assert not torch.allclose(mechanism.additive_fit(interacting, batch, rows, [4])[:, 4], interacting[:, 4])
    per_result = torch.tensor([[OPERATORS[op](a, b) + 100 * (op == "+")] for a, op, b in expressions], dtype=torch.float64)
    act = per_result[:, None, :].expand(-1, 6, -1).clone()
    replaced, grouped = mechanism.result_means(act, expressions, rows, [4])
    torch.testing.assert_close(replaced, act)
    alone = [expressions[i] for i in range(200) if not grouped[i]]
    assert alone == [(0, "+", 0), (9, "+", 9), (0, "-", 9), (9, "-", 0)]  # no other item has their result
    i = expressions.index((1, "+", 2))
    act[i, 4] += 1.0  # something about (a, b) beyond the result is what result_means removes
    assert mechanism.result_means(act, expressions, rows, [4])[0][i, 4] == per_result[i]


def test_the_order_split_is_exact_and_the_reduction_keeps_what_it_names():
    model = random_model()
    expressions = math_expressions()
    batch, symmetric, antisymmetric = mechanism.order_parts(model, CODEC, expressions)
    own = activations(model, batch, [("attn_out", 0)])[("attn_out", 0)]
    torch.testing.assert_close(symmetric + antisymmetric, own)
    for a, op, b in [(3, "+", 3), (6, "-", 6)]:  # a op a is its own swap
        assert antisymmetric[expressions.index((a, op, b))].abs().max() == 0
    i, j = expressions.index((2, "+", 7)), expressions.index((7, "+", 2))  # same answer tokens both ways
    torch.testing.assert_close(symmetric[i], symmetric[j])
    torch.testing.assert_close(antisymmetric[i], -antisymmetric[j])
    # a subtraction's swap is run on the subtraction's own answer: 7-2 teacher-forced on `-5>`
    i = expressions.index((2, "-", 7))
    swapped = activations(model, math_batch(CODEC, [(7, "-", 2)], [-5]), [("attn_out", 0)])[("attn_out", 0)]
    torch.testing.assert_close(symmetric[i] - antisymmetric[i], swapped[0, :symmetric.shape[1]])
    # an antisymmetric part along one direction per position is kept whole with k = 1, dropped with k = 0
    direction = torch.nn.functional.normalize(torch.randn(symmetric.shape[-1]), dim=0)
    rank_one = torch.randn(len(expressions), symmetric.shape[1], 1) * direction
    positions = list(range(mechanism.EQUALS, batch.idx.shape[1]))
    found = mechanism.order_directions(rank_one, batch, list(range(200)), positions)
    torch.testing.assert_close(found[mechanism.EQUALS].abs(), direction[None].abs())
    kept = mechanism.averaged_with_order(symmetric, rank_one, found)
    torch.testing.assert_close(kept[:, positions], (symmetric + rank_one)[:, positions])
    none = mechanism.order_directions(rank_one, batch, list(range(200)), positions, k=0)
    torch.testing.assert_close(mechanism.averaged_with_order(symmetric, rank_one, none), symmetric)


def test_without_position_embeddings_a_pair_lies_on_its_chord():
    # a digit then writes the same value, with the same score, at a's and b's position: the state
    # of a op b is a reweighted mean of those of a op a and b op b, exactly
    model = random_model()
    assert mechanism.chord_offset(model, CODEC) > 1e-3
    with torch.no_grad():
        model.transformer.wpe.weight.zero_()
    assert mechanism.chord_offset(model, CODEC) < 1e-4


def test_a_readout_already_on_its_curve_is_kept_and_another_is_changed():
    model = random_model()
    digits = [CODEC.stoi[str(d)] for d in range(10)]
    powers = torch.stack([torch.arange(10.0) ** k for k in range(4)], dim=1)  # (10 digits, 4)
    with torch.no_grad():  # digit rows that are a cubic in the digit: rank 3 around their mean
        model.lm_head.weight[digits] = powers @ torch.randn(4, model.config.n_embd) / 50
    batch = math_batch(CODEC, SOME)
    for basis in ("polynomial", "principal"):  # either fit is then exact
        reduced, r2 = readout.digit_readout(model, CODEC, basis)
        assert r2 > 0.9999
        torch.testing.assert_close(answer_token_margins(reduced, batch), answer_token_margins(model, batch), equal_nan=True)
    with torch.no_grad():
        model.lm_head.weight[digits[3]] += 5.0  # one digit off the curve
    reduced, r2 = readout.digit_readout(model, CODEC)
    assert r2 < 0.99 and not torch.equal(reduced.lm_head.weight[digits[3]], model.lm_head.weight[digits[3]])
    assert torch.equal(reduced.transformer.wte.weight, model.transformer.wte.weight)  # the input side as it was
    with pytest.raises(ValueError, match="basis='fourier' is not allowed"):
        readout.digit_readout(model, CODEC, "fourier")


def test_the_shipped_n14_decides_the_sign_along_its_order_direction():
    from toobig.runs.checkpoints import load_model
    model, codec, _ = load_model(REPO / "results/math_mini_14/model_best.pt")
    flips = mechanism.order_patches(model, codec, "5:7")
    assert flips["of"] == 88  # 90 subtractions a != b, less 5-7 and 7-5
    assert flips["order direction"] >= 80 and flips["everything else"] <= 10
    reduced = mechanism.reduced_models(model, codec, "5:7")["attention: a and b averaged, their order in one direction"]
    assert reduced["train"]["right"] >= 180



def test_neurons_needed_keeps_the_decisions_with_the_set_it_names():
    from toobig.runs.checkpoints import load_model
    from toobig.interp.interventions import math_batch
    from toobig.interp.mechanism import ablation, rows_of, training_reference
    model, codec, _ = load_model(REPO / "results/math_mini_14/model_best.pt")
    needed = circuits.neurons_needed(model, codec, "5:7", controls=2)
    assert len(needed["units"]["neurons"]) >= 12  # the units digit spreads over (nearly) every neuron
    assert needed["units"]["held_out_right"] == 4 and needed["carry"]["held_out_right"] == 3  # 5+7, 7+5 and 7-5 (5-7 < 0)
    expressions, train, _ = rows_of("5:7")
    batch = math_batch(codec, expressions)
    base = circuits.decision_margins(model, codec, batch)
    reference = training_reference(model, batch, train, ("mlp_hidden",))
    for d, decision in enumerate(circuits.DECISIONS):  # the named set does keep 95% of what the model makes right
        rest = [n for n in range(14) if n not in needed[decision]["neurons"]]
        kept = circuits.decision_margins(model, codec, batch, [ablation("mean", "mlp_hidden", reference, rest)])
        rows = [i for i in train if base[i, d] > 0]
        assert (kept[rows, d] > 0).sum() >= 0.95 * len(rows)
    with torch.no_grad():
        model.transformer.h[0].mlp.c_proj.weight.zero_()  # no neuron reaches the logits any more
    assert all(v["neurons"] == [] for v in circuits.neurons_needed(model, codec, "5:7", controls=1).values())


def test_decision_margins_count_both_sides_of_a_yes_no_decision(monkeypatch):
    from toobig.runs.checkpoints import load_model
    from toobig.interp.interventions import math_batch
    _, codec, _ = load_model(REPO / "results/math_mini_14/model_best.pt")
    batch = math_batch(codec, [(1, "+", 2), (5, "+", 7), (2, "-", 3), (1, "+", 0), (7, "-", 5)])
    logits = torch.zeros(*batch.idx.shape, len(codec.stoi))
    logits[:, :, codec.stoi["1"]] = 1.0  # a model that writes `1` everywhere: right only where a `1` is due
    monkeypatch.setattr(circuits, "answer_logits", lambda model, batch, interventions: logits)
    margins = circuits.decision_margins(None, codec, batch)
    sign, carry = circuits.DECISIONS.index("sign"), circuits.DECISIONS.index("carry")
    assert margins[1, carry] > 0 > margins[0, carry] and margins[4, carry] < 0  # 12 has a tens `1`; 3 and 2 have not
    assert torch.isnan(margins[2, carry]) and torch.isnan(margins[3, carry])  # a negative answer; an answer of 1
    assert margins[2, sign] < 0 < margins[0, sign]  # `-` is due for 2-3 only


def test_the_margins_match_the_ones_training_logged():
    # the same teacher-forced margin, computed by toobig/interp/interventions.py and by the evaluation during training
    from toobig.runs.checkpoints import load_model
    folder = REPO / "results/math_mini_14"
    model, codec, checkpoint = load_model(folder / "model_best.pt")
    with open(folder / "margins.csv") as f:
        row = next(r for r in csv.DictReader(f) if int(r["iter"]) == checkpoint["iter_num"])
    expressions = math_expressions()
    ours = answer_margin(answer_token_margins(model, math_batch(codec, expressions)))
    logged = torch.tensor([float(row[f"{a}{op}{b}"]) for a, op, b in expressions])
    torch.testing.assert_close(ours, logged, atol=0.006, rtol=0)


def test_the_cli_reports_on_the_shipped_weights_and_refuses_bad_options():
    result = run_main(intervene.main, "--out_dir=results/math_mini_14", "--ckpt=model_best.pt", "--json",
                      "--patch=4-6:5-7")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["baseline"]["train"]["of"] == 196 and len(report["neurons"]) == 14
    assert set(report["components"]) >= {"attention output", "MLP output", "embedding direction 13"}
    assert report["patches"][0]["source"] == "4-6" and report["patches"][0]["target_answer"] == -2
    for bad, named in (("--site=nowhere", "--site=nowhere"), ("--patch=4-6", "--patch=4-6"),
                       ("--patch=45-6:5-7", "'45-6'"), ("--kind=half", "--kind=half")):
        result = run_main(intervene.main, "--out_dir=results/math_mini_14", "--ckpt=model_best.pt", bad)
        assert result.returncode == 2 and named in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_why_reports_each_width_with_its_tests(tmp_path):
    held_out_sweep = REPO / "results/sweeps/held_out"
    runs = [REPO / "results/math_mini_14_wd", held_out_sweep / "math_n28_s1_ho57"]
    result = run_main(why.main, f"--runs={runs[0]},{runs[1]}", f"--errors={held_out_sweep}", f"--out={tmp_path}")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "why.json").read_text())
    assert [r["n_embd"] for r in report["runs"]] == [14, 28]
    assert report["runs"][1]["heldout_share_late"] < report["runs"][0]["heldout_share_late"]  # from results.csv
    n14 = report["runs"][0]
    assert n14["baseline"]["held_out"]["right"] == 4  # n14 with weight decay holds the four to the end
    assert set(n14["neurons_needed"]) == {"sign", "carry", "units"}
    assert [p["source"] for p in n14["patches"]["same difference"]] == ["3-5", "4-6", "6-8", "7-9"]
    assert all(p["target"] == "5-7" and p["target_answer"] == -2 for p in n14["patches"]["difference one away"])
    table = (tmp_path / "why.md").read_text()
    assert "| n14 | 1 | 1/1 |" in table and "| n28 | 1 | 0/1 |" in table
    assert "math_n12_s1_ho12: 1-2 = -1, answered 0" in table  # the held-out sweep's answers.json
    assert "with a difference of 1, 9 of 16; with a larger difference, 0 of 36. Per run: 6 of 8 runs" in table
    assert "order direction / everything else" in table
    assert (tmp_path / "why.png").stat().st_size > 10_000


def test_a_progress_measures_rise_time_and_the_held_out_onset():
    from tools import progress
    iters = np.arange(0, 1100, 100)
    trace = {"iters": iters, "held_out_margin": np.array([-5, -4, -3, -1, 0, 0.5, -0.2, 1, 2, 2, 2.0]),
             "up": np.array([0, 0, 1, 3, 6, 9, 10, 10, 10, 10, 10.0]), "down": 1 - iters / 1000.0,
             "flat": np.ones(11)}
    assert progress.onset(trace) == 500  # the first evaluation with all four right, not the last crossing
    assert progress.rise_time(trace, "up") == 400  # half of the way from 0 to 10 is reached at 6
    assert progress.rise_time(trace, "down") == 400  # its second-half median is 0.25: half-way down is 0.625
    assert progress.rise_time(trace, "flat") is None
    assert progress.onset({**trace, "held_out_margin": -np.ones(11)}) is None
    # over the second half (iterations 500-1000) "down" falls while this margin rises: -1
    assert progress.covariation({**trace, "held_out_margin": iters / 100.0}, "down") == pytest.approx(-1)
    assert progress.covariation({**trace, "same": trace["held_out_margin"]}, "same") == pytest.approx(1)


def test_the_errors_section_counts_what_its_sentences_say():
    answers = [("math_n14_s1_ho12", 14, "1-2", -1, "0", True), ("math_n14_s1_ho12", 14, "2-1", 1, "1", True), ("math_n14_s1_ho12", 14, "1+2", 3, "3", True),
               ("math_n14_s1_ho12", 14, "2+1", 3, "3", True), ("math_n14_s1_ho57", 14, "5-7", -2, "-1", True), ("math_n14_s1_ho57", 14, "7-5", 2, "2", True),
               ("math_n14_s1_ho57", 14, "5+7", 12, "12", True), ("math_n14_s1_ho57", 14, "7+5", 12, "12", True),
               ("math_n28_s1_ho57", 28, "5-7", -2, "0", True), ("math_n28_s1_ho57", 28, "7-5", 2, "2", True)]  # another width: left out
    text = "\n".join(wrong_answers.errors_section(answers, (12, 14, 16)))
    assert text.startswith("### n14: 2 runs, 8 held-out expressions")
    assert "with a difference of 1, 1 of 2; with a larger difference, 0 of 2. Per run: 1 of 1 runs answer one of theirs 0, against 0 of 1" in text
    assert "smaller than the right one's in 2, larger in 0" in text and "the sign is right in 1 of the 1 that are not 0" in text
    assert "has: (1,2)) with at least one of the four wrong: 1 of 1; runs holding out other pairs: 1 of 1" in text
    assert "One step toward 0 (0 itself for a difference of 1): 1 of 2 against 1 of 2" in text
    assert "Left out, their result on no training line: none." in text
    assert wrong_answers.errors_section(answers, (20,)) == []  # no run of that width: no empty section



def test_why_refuses_an_errors_folder_without_arithmetic_answers(tmp_path):
    # a facts sweep used to pass silently, leaving the wrong-answers section out
    result = run_main(why.main, "--runs=results/math_mini_14", "--errors=results/sweeps/facts", f"--out={tmp_path}")
    assert result.returncode == 2 and "no arithmetic-only run" in result.stderr

def test_readout_changes_count_runs_as_the_unit():
    def report(before, poly, control, units):
        held = {"right_expressions": before, "mean_margin": {"units": 0.0}}
        return {"n_embd": 28, "baseline": {"held_out": held}, "order_patches": {"order direction": 80, "everything else": 2},
                "reduced_models": {"readout: poly": {"held_out": {"right_expressions": poly, "mean_margin": {"units": units}}},
                                   "readout, control: pca": {"held_out": {"right_expressions": control, "mean_margin": {"units": 0.0}}}}}
    reports = [report([], ["5+7", "7+5", "5-7"], [], 3.0), report(["5+7"], [], ["5+7"], -1.0)]
    lines = why.readout_changes(reports, (28,))
    assert "held-out answers right 1 -> 3 of 8 (3 gained, 1 lost); per run, 1 of 2 runs gain on net, 1 lose" in lines[0]
    assert "1 -> 1 of 8 (0 gained, 0 lost); per run, 0 of 2 runs gain on net, 0 lose" in lines[1]
    assert "polynomial digit readout: the held-out answers' mean units margin rises in 1 of 2 runs" in lines[2]
    assert "principal (control) digit readout: the held-out answers' mean units margin rises in 0 of 2 runs" in lines[3]
    assert "flips more first tokens than everything else in 2 of 2 runs" in lines[4]
    assert "more held-out answers right in 1 runs, fewer in 1" in lines[5]


def test_why_takes_a_held_out_pair_without_two_digit_sums(tmp_path):
    # (1,2): 1+2 and 2+1 have no tens digit, so the held-out answers have no tens margin (a KeyError before)
    run = REPO / "results/sweeps/held_out/math_n14_s1_ho12"
    result = run_main(why.main, f"--runs={run}", "--errors=", f"--out={tmp_path}")
    assert result.returncode == 0, result.stderr
    assert "| n14 | 1 | " in (tmp_path / "why.md").read_text()
    assert "none" in (tmp_path / "why.md").read_text().split("| n14 | 1 | ")[1].split("|")[1]  # tens: none


def test_steering_along_a_segment_walks_the_shipped_n14s_units_in_order():
    from toobig.runs.checkpoints import load_model
    assert CODEC.itos[int(math_batch(CODEC, [(5, "+", 7)]).idx[0, 5])] == "1"  # two-digit sums: the units after `1`
    walks = {}
    for width in (14, 28):
        model, codec, _ = load_model(REPO / f"results/math_mini_{width}/model_best.pt")
        walks[width] = {kind: (w["in order"], w["of"]) for kind, w in readout.segment_walks(model, codec).items()}
    # n14 answers 0+0 wrong (`1`): the four one-digit segments from it are left out; n28 skips or goes back
    assert walks[14] == {"one digit": (6, 6), "two digits": (10, 10), "across ten": (19, 20)}
    assert walks[28] == {"one digit": (6, 10), "two digits": (6, 10), "across ten": (4, 25)}
    # a model whose digit readout is scrambled cannot walk a number line
    model, codec, _ = load_model(REPO / "results/math_mini_14/model_best.pt")
    digits = [codec.stoi[str(d)] for d in range(10)]
    model.lm_head = torch.nn.Linear(model.config.n_embd, codec.vocab_size, bias=False)
    with torch.no_grad():
        model.lm_head.weight.copy_(model.transformer.wte.weight)
        model.lm_head.weight[digits] = model.lm_head.weight[[digits[i] for i in (3, 7, 1, 9, 0, 5, 2, 8, 4, 6)]]
    assert sum(w["in order"] for w in readout.segment_walks(model, codec).values()) <= 2
    assert readout.dedup([8, 8, 7, 6, 4, 3, 1]) == [8, 7, 6, 4, 3, 1] != readout.dedup([8, 9, 9, 1])


def test_the_cli_says_which_checkpoint_and_iteration_it_intervened_on(tmp_path):
    """issue 36: the file and the iteration, in the text and as --json fields; a copy, since the
    text report writes its figure beside the checkpoint."""
    import shutil
    run = tmp_path / "math_mini_14"
    shutil.copytree(REPO / "results" / "math_mini_14", run)
    result = run_main(intervene.main, f"--out_dir={run}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"scored {run / 'model_last.pt'} (iteration 30,000: the last evaluation; the "
                                    f"best-combined evaluation is in {run / 'model_best.pt'}, iteration 16,500: --ckpt=model_best.pt)")
    report = json.loads(run_main(intervene.main, f"--out_dir={run}", "--ckpt=model_best.pt", "--json").stdout)
    assert (report["iter"], report["checkpoint_holds"]) == (16500, "the best-combined evaluation")
