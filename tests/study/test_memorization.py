"""Bits stored (toobig/study/memorization.py): nothing for a model that predicts the distribution the
answers were drawn from, everything for one sure of every answer, and per answer never below 0."""
import math
from collections import Counter

import pytest
import torch
import torch.nn as nn

from conftest import LookupModel
from toobig.study.memorization import answer_code_lengths, bits_stored
from toobig.study.tasks import RANDOM_ANSWERS, random_lines, random_table, task_codec

CODEC = {dataset: task_codec(dataset, "") for dataset in ("random_math", "random_facts")}


class PriorModel(nn.Module):
    """Predicts the arithmetic answers as they were drawn, uniformly over RANDOM_ANSWERS: after `=`
    each next character has the share of the 28 answers (with their closing `>`) that continue
    the answer so far with it."""

    def __init__(self, codec):
        super().__init__()
        self.codec, self.answers = codec, [f"{answer}>" for answer in RANDOM_ANSWERS]
        self.anchor = nn.Parameter(torch.zeros(1))  # gives the model a device
        self.config = type("Config", (), {"block_size": 64})()

    def forward(self, idx, targets=None):
        logits = torch.full((*idx.shape, self.codec.vocab_size), -40.0)
        for row, ids in enumerate(idx.tolist()):
            text = self.codec.decode(ids)
            for end in range(len(ids)):
                head, equals, written = text[:end + 1].rpartition("=")
                following = Counter(a[len(written)] for a in self.answers if a.startswith(written) and a != written)
                for char, n in following.items():
                    logits[row, end, self.codec.stoi[char]] = math.log(n)
        return logits, None


def test_a_model_that_predicts_the_drawing_distribution_stores_nothing():
    table = random_table("random_math", 120, 3)
    stored = bits_stored(PriorModel(CODEC["random_math"]), CODEC["random_math"], "random_math", table)
    assert stored.entropy_bits == pytest.approx(120 * math.log2(28))
    assert stored.code_length_bits == pytest.approx(stored.entropy_bits, abs=1e-3)  # float32 logits
    assert stored.bits_stored == pytest.approx(0, abs=1e-3)


@pytest.mark.parametrize("dataset,size", [("random_math", 300), ("random_facts", 70)])
def test_a_model_sure_of_every_answer_stores_the_whole_table(dataset, size):
    table = random_table(dataset, size, 1)
    codec = CODEC[dataset]
    stored = bits_stored(LookupModel(codec, random_lines(dataset, table)), codec, dataset, table)
    assert stored.code_length_bits < 1e-6 and stored.answers_right == size
    assert stored.bits_stored == pytest.approx(stored.entropy_bits, rel=1e-9)
    assert stored.entropy_bits > (size * 39 if dataset == "random_facts" else size * 4.8)


def test_an_answer_coded_worse_than_chance_counts_nothing_not_less():
    """Sure of the right answers in the first half of the table and of wrong ones in the second: the
    first half's bits are stored, the second half's count 0, and the plain difference goes negative."""
    table = random_table("random_math", 200, 2)
    wrong = [(a, op, b, answer if i < 100 else (answer + 1 if answer < 18 else -9))
             for i, (a, op, b, answer) in enumerate(table)]
    model = LookupModel(CODEC["random_math"], random_lines("random_math", wrong))
    entropy, code_length, margin = answer_code_lengths(model, CODEC["random_math"], "random_math", table)
    assert entropy.shape == code_length.shape == margin.shape == (200,)
    assert (code_length[:100] < 1e-6).all() and (code_length[100:] > 40).all()  # nats of 30-logit mistakes, in bits
    stored = bits_stored(model, CODEC["random_math"], "random_math", table)
    assert stored.bits_stored == pytest.approx(100 * math.log2(28), rel=1e-9) and stored.answers_right == 100
    assert stored.entropy_minus_code_length_bits < -1000


def test_the_papers_tasks_have_no_bits_stored_to_measure():
    with pytest.raises(ValueError, match="has answers with a rule"):
        answer_code_lengths(None, None, "as_math", [])
