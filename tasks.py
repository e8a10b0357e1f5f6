"""The three tasks of the study (SPEC §1): their text, their tokenizer, their prompts.

Everything that defines what a model is trained on and asked about lives here,
so data preparation, training and every evaluation CLI agree by construction.
"""
import os
import pickle
import random
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent
DATA_DIR = REPO / "data"

# --- arithmetic ---------------------------------------------------------------
DIGITS = range(10)
OPERATIONS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b}
HELD_OUT = {(5, "+", 7), (7, "+", 5), (5, "-", 7), (7, "-", 5)}  # never trained on
MATH_LINE_WIDTH = 8  # `<9+9=18>` is the longest line; shorter ones are space-padded
MATH_SHUFFLE_SEED = 1337
MATH_ANSWER_TOKENS = 4


def math_expressions():
    """All 200 (a, op, b) triples, addition first, in row-major (a, b) order."""
    return [(a, op, b) for op in OPERATIONS for a in DIGITS for b in DIGITS]


def math_prompt(a, op, b):
    return f"<{a}{op}{b}="


def math_lines():
    lines = [f"{math_prompt(a, op, b)}{OPERATIONS[op](a, b)}>".ljust(MATH_LINE_WIDTH)
             for a, op, b in math_expressions() if (a, op, b) not in HELD_OUT]
    random.Random(MATH_SHUFFLE_SEED).shuffle(lines)
    return [line + "\n" for line in lines]


# --- capital cities -----------------------------------------------------------
CAPITALS = [
    ("France", "Paris"), ("the USA", "Washington DC"), ("Japan", "Tokyo"),
    ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"), ("the UK", "London"),
    ("Canada", "Ottawa"), ("Australia", "Canberra"), ("India", "New Delhi"),
    ("China", "Beijing"), ("Russia", "Moscow"), ("Brazil", "Brasilia"),
    ("Mexico", "Mexico City"), ("South Korea", "Seoul"), ("Argentina", "Buenos Aires"),
    ("Egypt", "Cairo"), ("Saudi Arabia", "Riyadh"), ("Turkey", "Ankara"),
    ("Indonesia", "Jakarta"), ("Nigeria", "Abuja"), ("Pakistan", "Islamabad"),
    ("Colombia", "Bogota"), ("Thailand", "Bangkok"), ("Vietnam", "Hanoi"),
    ("the Netherlands", "Amsterdam"), ("Belgium", "Brussels"), ("Sweden", "Stockholm"),
    ("Norway", "Oslo"), ("Denmark", "Copenhagen"), ("Finland", "Helsinki"),
    ("Poland", "Warsaw"), ("Austria", "Vienna"), ("Switzerland", "Bern"),
    ("Portugal", "Lisbon"), ("Greece", "Athens"), ("Ireland", "Dublin"),
    ("New Zealand", "Wellington"), ("South Africa", "Pretoria"), ("Israel", "Jerusalem"),
    ("Iran", "Tehran"), ("Iraq", "Baghdad"), ("Syria", "Damascus"), ("Lebanon", "Beirut"),
    ("Jordan", "Amman"), ("Kuwait", "Kuwait City"), ("Qatar", "Doha"), ("Oman", "Muscat"),
    ("Bahrain", "Manama"), ("Zambia", "Lusaka"),
]
FACT_ANSWER_TOKENS = 20


def fact_prompt(country):
    return f"Capital of {country} is "


def fact_lines():
    # The trailing space before the newline is the paper's format: it makes the
    # joint corpus 3,311 characters, the size the paper reports.
    return [f"{fact_prompt(country)}{city} \n" for country, city in CAPITALS]


# --- tasks --------------------------------------------------------------------
# dataset folder -> (parts evaluated, text lines)
TASKS = {
    "as_math": (("math",), math_lines),
    "facts_char": (("facts",), fact_lines),
    "both_math_and_facts": (("math", "facts"), lambda: math_lines() + fact_lines()),
}


def task_parts(dataset):
    if dataset not in TASKS:
        raise ValueError(f"unknown dataset {dataset!r}; allowed: {', '.join(TASKS)}")
    return TASKS[dataset][0]


def task_text(dataset):
    task_parts(dataset)  # validates the name
    return "".join(TASKS[dataset][1]())


class CharCodec:
    """One character = one token id; ids are indices into the sorted vocabulary."""

    def __init__(self, stoi):
        self.stoi = dict(stoi)
        self.itos = {i: ch for ch, i in self.stoi.items()}

    @classmethod
    def from_text(cls, text):
        return cls({ch: i for i, ch in enumerate(sorted(set(text)))})

    @property
    def vocab_size(self):
        return len(self.stoi)

    def vocabulary(self):
        return "".join(self.itos[i] for i in range(self.vocab_size))

    def encode(self, text):
        unknown = sorted(set(text) - set(self.stoi))
        if unknown:
            raise ValueError(f"character(s) {', '.join(map(repr, unknown))} not in the "
                             f"model's vocabulary {self.vocabulary()!r}")
        return [self.stoi[ch] for ch in text]

    def decode(self, ids):
        return "".join(self.itos[int(i)] for i in ids)

    def meta(self):
        return {"vocab_size": self.vocab_size, "stoi": self.stoi, "itos": self.itos}


def prepare(dataset, data_dir=DATA_DIR):
    """Write input.txt, train.bin, val.bin (uint8 ids) and meta.pkl for one task."""
    text = task_text(dataset)
    codec = CharCodec.from_text(text)
    folder = Path(data_dir) / dataset
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "input.txt").write_text(text)
    ids = np.array(codec.encode(text), dtype=np.uint8)
    # The study has no held-out data: train and val are the same stream (SPEC §1).
    for split in ("train", "val"):
        _atomic_write_bytes(folder / f"{split}.bin", ids.tobytes())
    _atomic_write_bytes(folder / "meta.pkl", pickle.dumps(codec.meta()))
    return folder


def _atomic_write_bytes(path, payload):
    tmp = Path(f"{path}.tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, path)


def load_split(dataset, split, data_dir=DATA_DIR):
    return np.fromfile(Path(data_dir) / dataset / f"{split}.bin", dtype=np.uint8)


def load_codec(dataset, data_dir=DATA_DIR):
    with open(Path(data_dir) / dataset / "meta.pkl", "rb") as f:
        return CharCodec(pickle.load(f)["stoi"])


def is_prepared(dataset, data_dir=DATA_DIR):
    folder = Path(data_dir) / dataset
    return all((folder / name).exists() for name in ("train.bin", "val.bin", "meta.pkl"))
