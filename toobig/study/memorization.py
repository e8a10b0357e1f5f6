"""
Bits stored: how much of a random-answer table a model holds, in bits, the measure of capacity
of Morris et al. (2025), "How much do language models memorize?" (arXiv 2505.24832, §2-3).

A random-answer task (tasks.RANDOM_TASKS) has no rule to learn: each answer was drawn at
random, so a model can know it only by having stored it. An answer a drawn with probability
p(a) carries H(a) = -log2 p(a) bits (tasks.random_answer_bits; log2(28) = 4.81 for arithmetic).
The model codes it, teacher-forced after its prompt, in L(a) = -log2 q(a | prompt) bits: the
sum over the answer's tokens and the token that ends it (`>`; ` \\n` after a capital), so that
q is a distribution over whole answers, not over their prefixes, each token predicted from the
context sampling gives it (evaluation.answer_margins). What the model stores of an answer is
what its code saves, H(a) - L(a). Like Morris et al.'s estimate of unintended memorization,
which codes a sample by the better of the reference model and the trained one
(H^K(x | theta, theta_hat) ~ -log2 max(p, q)), an answer the model codes worse than the
distribution it was drawn from counts 0, not less:

    bits stored = sum over the table's answers of max(0, H(a) - L(a))

A model that predicts the drawing distribution stores 0; one that is sure of every answer stores
the table's entropy, sum H(a). The plain difference, sum H(a) - sum L(a), is kept beside it: it
is lower wherever a model is sure of wrong answers.
"""
import math
from dataclasses import dataclass

import numpy as np

from toobig.study.evaluation import answer_margins
from toobig.study.tasks import RANDOM_TASKS, random_answer_bits


@dataclass
class StoredBits:
    """What a model holds of one random table, in bits (sums over its answers)."""
    answers: int              # the table's answers
    entropy_bits: float       # sum of H(a): what the table holds, what a perfect lookup stores
    code_length_bits: float   # sum of L(a): the model's teacher-forced code length of the answers
    bits_stored: float        # sum of max(0, H(a) - L(a)) (Morris et al. 2025)
    answers_right: int        # answers greedy decoding writes whole (every token's margin > 0)

    @property
    def entropy_minus_code_length_bits(self):
        return self.entropy_bits - self.code_length_bits


def answer_code_lengths(model, codec, dataset, table):
    """Per answer of a random table ([(a, op, b, answer)] or [(country, capital)], tasks.random_table),
    in table order, three (n,) float64 arrays: H(a), its information in bits under the distribution
    it was drawn from; L(a), the model's teacher-forced code length of it in bits (its tokens and the
    one that ends it); and the smallest logit margin over those tokens (> 0: greedy decoding writes
    the answer). `model` is a GPT (or anything with its forward and config.block_size)."""
    if dataset not in RANDOM_TASKS:
        raise ValueError(f"dataset={dataset!r} has answers with a rule; bits stored are measured on "
                         f"{' or '.join(RANDOM_TASKS)}")
    part = RANDOM_TASKS[dataset].parts[0]
    margins = answer_margins(model, codec, (part,), {part: table})
    entropy = random_answer_bits(dataset, [row[-1] for row in table])
    code_length = np.array([-m.logprob for m in margins]) / math.log(2)  # nats -> bits
    return entropy, code_length, np.array([m.margin for m in margins])


def bits_stored(model, codec, dataset, table):
    """StoredBits of `model` on a random table (answer_code_lengths), summed over its answers."""
    entropy, code_length, margin = answer_code_lengths(model, codec, dataset, table)
    return StoredBits(answers=len(table), entropy_bits=float(entropy.sum()), code_length_bits=float(code_length.sum()),
                      bits_stored=float(np.maximum(entropy - code_length, 0.0).sum()),
                      answers_right=int((margin > 0).sum()))
