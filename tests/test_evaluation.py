import torch

from conftest import LookupModel, answer_key
from evaluation import (Sampling, evaluate, evaluate_facts, evaluate_math, fact_answer, parse_integer,
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
    from tasks import OPERATIONS
    miss_held = LookupModel(both_codec, answer_key(lambda a, op, b: 99 if (a, op, b) in held else OPERATIONS[op](a, b)))
    row, _ = evaluate(miss_held, both_codec, ("math",), Sampling(), seed=0)
    assert (row["add_correct"], row["sub_correct"], row["heldout_correct"]) == (980, 980, 0)
    assert row["facts_total"] == "" and row["combined_acc"] == 0.98
    only_held = LookupModel(both_codec, answer_key(lambda a, op, b: OPERATIONS[op](a, b) if (a, op, b) in held else 99))
    row, _ = evaluate(only_held, both_codec, ("math",), Sampling(), seed=0)
    assert (row["add_correct"], row["sub_correct"], row["heldout_correct"]) == (20, 20, 40)


def test_case_and_a_trailing_period_do_not_matter():
    import string
    from tasks import CharCodec, task_text
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
