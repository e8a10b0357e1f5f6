import pytest
import torch

from conftest import LookupModel, answer_key
from toobig.study.evaluation import (Sampling, evaluate, evaluate_facts, evaluate_math, fact_answer, parse_integer,
                        split_loss, summarize)
from model import GPT, GPTConfig

PARTS = ("math", "facts")


def test_parse_integer():
    assert parse_integer("12> ") == 12
    assert parse_integer("-3>\n") == -3
    assert parse_integer("07>") == 7
    assert parse_integer(">12") is None and parse_integer(" 1") is None and parse_integer("-") is None


def test_fact_answer():
    assert fact_answer("Paris \nCapital") == "Paris"
    assert fact_answer("Washington DC.\n") == "Washington DC"
    assert fact_answer("  New Delhi  ") == "New Delhi"


def test_oracle_scores_everything(both_codec):
    row, _ = evaluate(LookupModel(both_codec, answer_key()), both_codec, PARTS, Sampling(), seed=0)
    assert (row["add_correct"], row["add_total"], row["sub_correct"], row["sub_total"]) == (1000, 1000, 1000, 1000)
    assert (row["heldout_correct"], row["heldout_total"]) == (40, 40)
    assert (row["facts_correct"], row["facts_total"]) == (500, 500)
    assert row["math_acc"] == row["facts_acc"] == row["combined_acc"] == 1.0


def test_wrong_model_scores_nothing(both_codec):
    wrong = LookupModel(both_codec, answer_key(lambda a, op, b: a + b + 1 if op == "+" else a - b - 1,
                                               lambda country, city: city[::-1]))
    row, _ = evaluate(wrong, both_codec, PARTS, Sampling(), seed=0)
    assert row["add_correct"] == row["sub_correct"] == row["heldout_correct"] == row["facts_correct"] == 0
    assert row["combined_acc"] == 0.0


def test_held_out_counted_on_their_own_and_inside_the_operations(both_codec):
    held = {(5, "+", 7), (7, "+", 5), (5, "-", 7), (7, "-", 5)}
    from toobig.study.tasks import OPERATORS
    miss_held = LookupModel(both_codec, answer_key(lambda a, op, b: 99 if (a, op, b) in held else OPERATORS[op](a, b)))
    row, _ = evaluate(miss_held, both_codec, ("math",), Sampling(), seed=0)
    assert (row["add_correct"], row["sub_correct"], row["heldout_correct"]) == (980, 980, 0)
    assert row["facts_total"] == "" and row["combined_acc"] == 0.98
    only_held = LookupModel(both_codec, answer_key(lambda a, op, b: OPERATORS[op](a, b) if (a, op, b) in held else 99))
    row, _ = evaluate(only_held, both_codec, ("math",), Sampling(), seed=0)
    assert (row["add_correct"], row["sub_correct"], row["heldout_correct"]) == (20, 20, 40)


def test_case_and_a_trailing_period_do_not_matter():
    import string
    from toobig.study.tasks import CharCodec, task_text
    codec = CharCodec.from_text(task_text("both_math_and_facts") + string.ascii_lowercase + ".")
    shouty = LookupModel(codec, answer_key(city_answer=lambda country, city: city.lower() + ". "))
    items = evaluate_facts(shouty, codec, Sampling(num_samples=2))
    assert sum(i.correct for i in items) == 100


def test_per_item_results_and_greedy_totals(both_codec):
    items = evaluate_math(LookupModel(both_codec, answer_key()), both_codec, Sampling(greedy=True), operations="-")
    assert len(items) == 100 and all(i.key[1] == "-" and i.correct == i.total == 10 for i in items)
    assert summarize(items)["sub_total"] == 1000


def test_split_loss_is_the_mean_over_every_window():
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=9, vocab_size=17, n_layer=1, n_head=1, n_embd=14, bias=False, mlp_expansion=1))
    data = torch.randint(17, (200,))
    losses = [model(data[i:i + 9][None], data[i + 1:i + 10][None])[1].item() for i in range(200 - 9)]
    assert abs(split_loss(model, data, 9, windows_per_forward=50) - sum(losses) / len(losses)) < 1e-5


def test_answer_margins_match_one_forward_per_token():
    """The batched teacher-forced margins against a direct computation: one forward per
    answer token, on the context sampling would give it (cropped to block_size)."""
    from toobig.study.evaluation import answer_margins, answer_targets
    from toobig.study.tasks import CharCodec, task_text
    torch.manual_seed(0)
    codec = CharCodec.from_text(task_text("both_math_and_facts"))
    model = GPT(GPTConfig(block_size=24, vocab_size=codec.vocab_size, n_layer=1, n_head=1, n_embd=14, bias=False,
                          mlp_expansion=1)).eval()
    scores = answer_margins(model, codec, PARTS)
    targets = answer_targets(PARTS)
    assert [s.name for s in scores] == [name for name, _, _ in targets] and len(scores) == 250
    for score, (name, prompt, target) in list(zip(scores, targets))[::23]:  # a spread of sums and facts
        logprob, margins = 0.0, []
        for k in range(len(target)):
            context = codec.encode(prompt + target[:k])[-24:]
            with torch.no_grad():
                logits = model(torch.tensor([context]))[0][0, -1].double()
            label = codec.stoi[target[k]]
            logprob += float(torch.log_softmax(logits, -1)[label])
            margins.append(float(logits[label] - torch.cat([logits[:label], logits[label + 1:]]).max()))
        assert score.logprob == pytest.approx(logprob, abs=1e-4)
        assert score.token_margins == pytest.approx(margins, abs=1e-4) and score.margin == min(score.token_margins)
    facts = [s for s in scores if s.name == "the Netherlands"][0]  # a prompt longer than the block: cropped
    assert len(facts.token_margins) == len("Amsterdam \n")


def test_a_positive_margin_means_greedy_decoding_answers_right():
    """On the committed n14 weights: at the end 5-7 is answered -1 (README), and its margin says so."""
    from toobig.runs.checkpoints import load_model
    from toobig.study.evaluation import answer_margins
    from conftest import REPO
    model, codec, _ = load_model(REPO / "results" / "math_mini_14" / "model_last.pt")
    scores = {s.name: s.margin for s in answer_margins(model, codec, ("math",))}
    items = {i.name: i for i in evaluate_math(model, codec, Sampling(greedy=True))}
    assert scores["5-7"] < 0 and items["5-7"].correct == 0
    for name, margin in scores.items():
        if margin > 0:
            assert items[name].correct == 10, name
