import pytest
import torch

from toobig.study.evaluation import Sampling, complete, sample_ragged
from model import GPT, GPTConfig
from toobig.study.tasks import CAPITALS, fact_prompt, math_expressions, math_prompt

SMALL = dict(n_layer=1, n_head=1, mlp_expansion=1, bias=False)
MLT = dict(n_layer=6, n_head=6, n_embd=384, mlp_expansion=4, bias=False)


@pytest.mark.parametrize("vocab_size,counts", [
    (17, [1456, 5264, 19936, 10628352]),
    (51, [1932, 6216, 21840, 10641408]),
    (66, [2142, 6636, 22680, 10647168]),
])
def test_parameter_counts_match_the_paper(vocab_size, counts):
    small = [GPT(GPTConfig(block_size=24, vocab_size=vocab_size, n_embd=e, **SMALL)).get_num_params()
             for e in (14, 28, 56)]
    with torch.device("meta"):  # the MLT count without allocating 10M parameters
        mlt = GPT(GPTConfig(block_size=24, vocab_size=vocab_size, **MLT)).get_num_params()
    assert small + [mlt] == counts


def test_state_dict_uses_nanogpt_names():
    keys = set(GPT(GPTConfig(block_size=9, vocab_size=17, n_embd=14, **SMALL)).state_dict())
    assert {"transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.attn.c_attn.weight",
            "transformer.h.0.mlp.c_fc.weight", "transformer.ln_f.weight", "lm_head.weight"} <= keys


def test_mlp_expansion_sets_hidden_size():
    model = GPT(GPTConfig(block_size=9, vocab_size=17, n_embd=14, n_layer=1, n_head=1, mlp_expansion=3))
    assert model.transformer.h[0].mlp.c_fc.weight.shape == (42, 14)


def test_batched_generation_equals_one_by_one_under_greedy(both_codec):
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=24, vocab_size=both_codec.vocab_size, n_embd=28, **SMALL)).eval()
    prompts = [math_prompt(*e) for e in math_expressions()[::7]] + [fact_prompt(c) for c, _ in CAPITALS[::3]]
    greedy = Sampling(num_samples=10, greedy=True)
    batched = complete(model, both_codec, prompts, 20, greedy, stop_char="\n")
    single = [complete(model, both_codec, [p], 20, greedy, stop_char="\n")[0] for p in prompts]
    assert batched == single
    # and greedy decoding is what 10 samples at temperature 0.01 nearly always give
    sampled = complete(model, both_codec, prompts, 20, Sampling(num_samples=10), torch.Generator().manual_seed(0),
                       stop_char="\n")
    agree = sum(s.most_common(1)[0][0].split("\n")[0] == b.most_common(1)[0][0].split("\n")[0]
                for s, b in zip(sampled, batched))
    assert agree >= 0.9 * len(prompts)


def test_sample_ragged_stops_once_every_row_has_the_stop_token():
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=24, vocab_size=17, n_embd=14, **SMALL)).eval()
    idx, lengths = torch.zeros(3, 2, dtype=torch.long), torch.full((3,), 2)
    full = sample_ragged(model, idx, lengths, 10, temperature=0, top_k=None)
    stop = int(full[0, 2])  # the first token generated for every row
    assert sample_ragged(model, idx, lengths, 10, temperature=0, top_k=None, stop_token=stop).shape == (3, 3)


def reference_greedy(model, ids, max_new_tokens):
    """nanoGPT's generate loop, one prompt, argmax: the semantics batching must keep."""
    idx = torch.tensor([ids])
    for _ in range(max_new_tokens):
        logits, _ = model(idx[:, -model.config.block_size:])
        idx = torch.cat([idx, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    return idx[0, len(ids):].tolist()


def test_ragged_batch_matches_nanogpt_generate_with_cropping(both_codec):
    torch.manual_seed(1)
    model = GPT(GPTConfig(block_size=24, vocab_size=both_codec.vocab_size, n_embd=28, **SMALL)).eval()
    prompts = [both_codec.encode(p) for p in ("<3+4=", fact_prompt("Japan"), fact_prompt("the Netherlands"))]
    lengths = torch.tensor([len(p) for p in prompts])
    padded = torch.zeros(3, int(lengths.max()), dtype=torch.long)
    for i, p in enumerate(prompts):
        padded[i, :len(p)] = torch.tensor(p)
    out = sample_ragged(model, padded, lengths, 12, temperature=0, top_k=None)
    for i, p in enumerate(prompts):
        expected = reference_greedy(model, p, 12)
        assert out[i, len(p):len(p) + 12].tolist() == expected


def test_forward_gives_logits_at_every_position_and_the_mean_loss():
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=9, vocab_size=17, n_embd=14, **SMALL))
    idx = torch.randint(17, (4, 9))
    logits, loss = model(idx)
    assert logits.shape == (4, 9, 17) and loss is None
    inputs, targets = idx[:, :-1].contiguous(), idx[:, 1:].contiguous()
    _, loss = model(inputs, targets)
    torch.testing.assert_close(loss, torch.nn.functional.cross_entropy(model(inputs)[0].transpose(1, 2), targets))
