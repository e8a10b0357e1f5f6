"""The three tasks of the study (docs/STUDY.md §1, §3, §5): their text, their tokenizer,
their prompts, their batch shapes and the paper's numbers for them; and beside them the
random-answer tasks that measure capacity in bits (RANDOM_TASKS, issue 39).

Everything that defines what a model is trained on and asked about lives here,
so data preparation, training, every evaluation CLI and every table agree by
construction.
"""
import functools
import hashlib
import math
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toobig import REPO
from toobig.core.files import write_atomically

DATA_DIR = REPO / "data"

# --- arithmetic ---------------------------------------------------------------
DIGITS = range(10)
OPERATORS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b}  # each operator and what it computes
PAPER_HELD_OUT = "5:7"  # the paper's held-out pair: 5+7, 7+5, 5-7 and 7-5 are never trained on


def parse_held_out(text):
    """'5:7' -> (5, 7): a pair of different digits, smaller first ('7:5' is the same four)."""
    a, sep, b = str(text).partition(":")
    if not (sep and a.isdigit() and b.isdigit() and len(a) == len(b) == 1 and a != b):
        raise ValueError(f"held_out={text!r} is not allowed; give two different digits a:b, e.g. 5:7 or 1:2")
    return tuple(sorted((int(a), int(b))))


def held_out_label(held_out=PAPER_HELD_OUT):
    """'5:7' -> '(5,7)': how tables, figures and logs name a held-out pair."""
    return "({},{})".format(*parse_held_out(held_out))


def held_out_expressions(held_out=PAPER_HELD_OUT, operations="+-"):
    """The four expressions a pair withholds, in the roles a+b, b+a, a-b, b-a; those of
    `operations` alone for a table of one operation (OPERATION_TASKS: a+b, b+a or a-b, b-a)."""
    a, b = parse_held_out(held_out)
    return [e for e in [(a, "+", b), (b, "+", a), (a, "-", b), (b, "-", a)] if e[1] in operations]


MATH_LINE_WIDTH = 8  # `<9+9=18>` is the longest line; shorter ones are space-padded
MATH_ANSWER_TOKENS = 4


def math_expressions(operations="+-"):
    """All 200 (a, op, b) triples, addition first, in row-major (a, b) order (the 100 of one
    operation for a table of `operations` alone)."""
    return [(a, op, b) for op in OPERATORS if op in operations for a in DIGITS for b in DIGITS]


def math_prompt(a, op, b):
    return f"<{a}{op}{b}="


# The order of the 196 training lines in the paper authors' own data file
# (their data/as_math/train.txt): a fact of the study, not something a seed
# regenerates. With it the arithmetic and joint texts are byte-identical to
# theirs (sha256 in TEXT_SHA256).
PAPER_MATH_ORDER = """
1-4 7-7 9-1 2+5 7+2 1-3 6+2 7+7 9+9 0+4 3+1 8+3 2-7 3-9 4-9 9-8 4-3 0-7 7-2
4+7 7+9 5+5 9+2 3-0 2-3 7+4 7+3 3-5 7+8 8+2 5+0 4+3 3+2 9+5 9+3 2-0 9-4 8-6
8-3 2+7 8-1 1+1 9+6 0-5 7-0 1+0 8-4 3-6 1+6 6+9 3+5 2-2 3+4 6-8 9+1 6+8 2-1
8-2 7+1 5-1 2-5 8-7 4+4 6+0 1+7 8+4 7-9 2+3 4-0 9-6 0-4 4+1 1-0 6-4 3+6 1-7
0+2 4+6 3-4 0+8 0+9 8+8 4+8 5+2 3-7 7-1 4+9 4-1 1-1 1-9 6-6 0-3 3-3 9-0 9-2
9-9 9-3 0+7 5+4 8+7 3+7 6+1 1-5 0+0 6-3 3-8 0-1 2-8 2+8 5-0 1+5 2+4 8+1 2+1
9-7 7+6 6-7 9-5 1+3 4+2 4-5 9+0 4-4 5+9 6+3 4-8 2+6 5-3 4-2 6+5 8-0 0+6 6-0
7-3 4-7 6+4 8-5 6-1 5-2 1+8 5+1 1-6 5+3 3+9 5+6 0+5 2-4 1-8 8-9 2-9 6-2 2+0
0-9 2+9 5-6 6+7 4+0 0-8 5-4 7+0 5-9 5-8 0-2 0-6 8-8 7-4 5-5 3+0 8+9 6-5 0+3
7-6 1-2 0+1 4-6 3+3 1+2 8+6 6-9 3-1 3-2 6+6 1+9 1+4 8+5 7-8 0-0 9+4 9+8 5+8
9+7 4+5 2+2 2-6 8+0 3+8
""".split()


def math_line(a, op, b, answer, width=MATH_LINE_WIDTH):
    """`<a+b=c>`, space-padded to `width` characters, and a newline: one line of the text."""
    return f"{math_prompt(a, op, b)}{answer}>".ljust(width) + "\n"


def math_lines(held_out=PAPER_HELD_OUT, operations="+-"):
    """The 196 training lines `<a+b=c>`, space-padded, in the paper's order. Another
    held-out pair's four lines give their places to the paper's four, role for role
    (a+b to 5+7, b+a to 7+5, a-b to 5-7, b-a to 7-5): the order of all other lines stays.
    A table of one operation keeps that operation's 98 lines, in the same order."""
    swap = dict(zip(held_out_expressions(held_out), held_out_expressions(PAPER_HELD_OUT)))
    training = [swap.get(e, e) for e in ((int(e[0]), e[1], int(e[2])) for e in PAPER_MATH_ORDER)]
    return [math_line(a, op, b, OPERATORS[op](a, b)) for a, op, b in training if op in operations]


def math_table(operations="+-"):
    """The 200 (a, op, b, answer) the arithmetic evaluation asks, in math_expressions' order
    (the 100 of one operation for a table of `operations` alone)."""
    return [(a, op, b, OPERATORS[op](a, b)) for a, op, b in math_expressions(operations)]


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
# how every evaluation samples (docs/STUDY.md §4): 10 samples per prompt at temperature 0.01, top-k 10
EVAL_SAMPLING = {"num_samples": 10, "temperature": 0.01, "top_k": 10}


def check_sampling(num_samples, temperature, top_k, names=("num_samples", "temperature", "top_k")):
    """Raise ValueError naming the first bad sampling setting and what is allowed: the one
    check for training's eval_* keys, sample.py and the evaluation tools (`names` are
    theirs, e.g. ("--num_samples", ...))."""
    for name, value in ((names[0], num_samples), (names[2], top_k)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}={value!r} must be an integer of at least 1")
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or not 0 <= temperature < float("inf"):
        raise ValueError(f"{names[1]}={temperature!r} must be a number of at least 0 (0: greedy)")


def fact_prompt(country):
    return f"Capital of {country} is "


def fact_lines(capitals=CAPITALS):
    # The trailing space before the newline is the paper's format: it makes the
    # joint corpus 3,311 characters, the size the paper reports.
    return [f"{fact_prompt(country)}{city} \n" for country, city in capitals]


# --- tasks --------------------------------------------------------------------
# the paper's models -> the suffix of their config and run names (config/train_math_mini_14.py)
PAPER_MODELS = {"n14": "mini_14", "n28": "mini_28", "n56": "mini_56", "MLT": "mlt"}


@dataclass(frozen=True)
class Task:
    """One task of the study: what it trains on, how, and what the paper reports for it."""
    name: str         # the runs' prefix: config/train_<name>_mini_14.py, results/<name>_mlt
    dataset: str      # its folder under data/
    parts: tuple      # what it is trained and evaluated on, in text order: "math", "facts"
    batch_size: int
    block_size: int
    title: str        # figure title
    table: str        # the paper's table
    figure: str       # the paper's figure (file name)
    columns: tuple    # the table's columns after the parameter count
    paper: dict       # model -> (params, *columns), as printed in the paper (docs/STUDY.md §5)


TASKS = {task.dataset: task for task in (
    Task("math", "as_math", ("math",), 882, 9, "Arithmetic only", "Table 2: arithmetic only", "grid_math",
         ("addition", "subtraction", "(5,7)"),
         {"n14": ("1.46k", "100.0%", "100.0%", "40/40"), "n28": ("5.26k", "98%", "98%", "0/40"),
          "n56": ("19.94k", "98%", "98%", "0/40"), "MLT": ("10.63M", "98%", "98%", "0/40")}),
    Task("facts", "facts_char", ("facts",), 576, 24, "Facts only", "Table 3: facts only", "grid_facts",
         ("facts",),
         {"n14": ("1.93k", "8.2%"), "n28": ("6.22k", "100.0%"), "n56": ("21.84k", "100.0%"),
          "MLT": ("10.64M", "100.0%")}),
    Task("both", "both_math_and_facts", ("math", "facts"), 576, 24, "Arithmetic and facts jointly",
         "Table 4: both tasks jointly", "grid_combined",
         ("addition", "subtraction", "facts", "combined", "(5,7)"),
         {"n14": ("2.14k", "31.2%", "39.4%", "2.0%", "28.6%", "0/40"),
          "n28": ("6.64k", "95.0%", "97%", "87.6%", "94.3%", "0/40"),
          "n56": ("22.68k", "98%", "98%", "100.0%", "98.4%", "0/40"),
          "MLT": ("10.65M", "98%", "98%", "100.0%", "98.4%", "0/40")}),
)}


@dataclass(frozen=True)
class VariantTask(Task):
    """A task on another table in the format of the paper's task `like`, whose format, vocabulary,
    batch and block size it keeps; the paper reports nothing for it."""
    like: str = ""


def variant_of(like, name, dataset, title, kind, **fields):
    """A VariantTask subclass `kind` of the paper's task `like`, its parts, batch and block."""
    paper = TASKS[like]
    return kind(name, dataset, paper.parts, paper.batch_size, paper.block_size, title, "", "", (), {}, like, **fields)


@dataclass(frozen=True)
class OperationTask(VariantTask):
    """The paper's arithmetic table cut to one operation (issue 39's table the paper never trained:
    half the answers to store, the same rule): its lines in the paper's order, its held-out pair's
    two expressions of that operation withheld and evaluated."""
    operations: str = ""  # the operation it keeps, "+" or "-"


OPERATION_TASKS = {task.dataset: task for task in (
    variant_of("as_math", "math_add", "as_math_add", "Addition alone", OperationTask, operations="+"),
    variant_of("as_math", "math_sub", "as_math_sub", "Subtraction alone", OperationTask, operations="-"),
)}


def task_operations(dataset):
    """The arithmetic operations a task's table holds: "+-" for the paper's, "+" or "-" for OPERATION_TASKS."""
    return OPERATION_TASKS[dataset].operations if dataset in OPERATION_TASKS else "+-"


def get_task(dataset):
    """The paper's task, the random-answer task (RANDOM_TASKS) or the one-operation table (OPERATION_TASKS)
    whose data folder is `dataset`."""
    tasks = {**TASKS, **RANDOM_TASKS, **OPERATION_TASKS}
    if dataset not in tasks:
        raise ValueError(f"dataset={dataset!r} is not allowed; choose one of {', '.join(tasks)}")
    return tasks[dataset]


def task_named(name):
    """The task whose runs are called <name>_...: math, facts, both, random_math, random_facts, math_add
    or math_sub."""
    tasks = [*TASKS.values(), *RANDOM_TASKS.values(), *OPERATION_TASKS.values()]
    for task in tasks:
        if task.name == name:
            return task
    raise ValueError(f"{name!r} is not a task; choose one of {', '.join(t.name for t in tasks)}")


# sha256 of each task's text: the paper authors' files, byte for byte
TEXT_SHA256 = {
    "as_math": "027df0cd21c838283f9d990a5984975bb968edd4f794170f2197a9dc60a3b926",
    "facts_char": "c4df90002ce251a6e3a6c4ecddbdf4df5368b15d738892687e58df42fac3feb7",
    "both_math_and_facts": "078ebbe290ef4e78ee33da82b58ec8c1b2504d30f9b47597aa2cb873dcb12fb1",
}


def task_text(dataset, held_out=PAPER_HELD_OUT, table_size=0, table_seed=0):
    """The task's whole text: the lines of its parts, in order (the joint task: arithmetic,
    then facts), the arithmetic without the held-out pair's four expressions. A random-answer
    task's text is its table of `table_size` lines drawn with `table_seed` (random_lines); a
    one-operation table's, that operation's lines (OPERATION_TASKS)."""
    if dataset in RANDOM_TASKS:
        return "".join(random_lines(dataset, random_table(dataset, table_size, table_seed)))
    lines = {"math": lambda: math_lines(held_out, task_operations(dataset)), "facts": fact_lines}
    return "".join(line for part in get_task(dataset).parts for line in lines[part]())


def text_sha256(text):
    return hashlib.sha256(text.encode()).hexdigest()


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


def task_codec(dataset, text):
    """The tokenizer of a task's text: one id per character of it, in sorted order. A random-answer
    task or a one-operation table keeps the vocabulary of the paper's task it mirrors (its `like`)
    whatever its table holds, so that a width has the paper's parameter count."""
    if dataset in RANDOM_TASKS or dataset in OPERATION_TASKS:
        text = task_text(get_task(dataset).like)
    return CharCodec.from_text(text)


def prepare(dataset, data_dir=DATA_DIR, table_size=0, table_seed=0):
    """Write nanoGPT's files for one task: input.txt, train.bin, val.bin (uint8 ids) and
    meta.pkl. Training itself builds the text in memory (step.load_data), so
    these files are for reading and for other nanoGPT tools, never a stale input.
    A random-answer task's files hold the table of `table_size` lines drawn with `table_seed`."""
    text = task_text(dataset, table_size=table_size, table_seed=table_seed)
    codec = task_codec(dataset, text)
    folder = Path(data_dir) / dataset
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically(folder / "input.txt", text)
    ids = np.array(codec.encode(text), dtype=np.uint8)
    # the study has no held-out text: train and val are the same stream (docs/STUDY.md §1)
    for split in ("train", "val"):
        write_atomically(folder / f"{split}.bin", ids.tobytes())
    write_atomically(folder / "meta.pkl", pickle.dumps(codec.meta()))
    return folder


def prepare_main(script, options, argv):
    """The command line of a data/<dataset>/prepare.py that takes --key=value `options` (prepare's
    keyword arguments and their defaults): writes the dataset named by the folder `script` is run
    from, not a link's target's, so that one script serves every folder linked to it. Bad input is
    one line and exit code 2."""
    from configurator import exit_with_error, parse_args
    try:
        values = parse_args(options, argv, allow_config_files=False)
        print(f"wrote {prepare(Path(script).parent.name, **values)}")
    except (ValueError, OSError) as e:
        exit_with_error(e)


# --- random-answer tasks: capacity, measured in bits (issue 39) ---------------------------------
# The paper's formats with answers that carry no rule: whatever a model predicts of them better
# than the distribution they were drawn from, it has stored (Morris et al. 2025, "How much do
# language models memorize?", arXiv 2505.24832, measure capacity on uniformly random data the same
# way). Each task keeps its paper task's format, vocabulary, batch and block; only the table changes.
RANDOM_ANSWERS = range(-9, 19)  # the paper's 28 answers, 0-9 .. 9+9: log2(28) = 4.81 bits each when drawn uniformly
RANDOM_OPERANDS = range(100)    # 0..99: 2 x 100 x 100 = 20,000 prompts, the largest arithmetic table
RANDOM_FACTS_MAX = 5000         # the largest facts table: the 50 countries and 4,950 invented ones
CAPITAL_LETTERS = "".join(sorted(set("".join(city for _, city in CAPITALS)) - {" "}))       # 40 letters
COUNTRY_LETTERS = "".join(sorted(set("".join(country for country, _ in CAPITALS)) - {" "}))  # 46 letters


@dataclass(frozen=True)
class RandomTask(VariantTask):
    """A task whose answers are drawn at random, in the format of the paper's task `like`."""


RANDOM_TASKS = {task.dataset: task for task in (
    variant_of("as_math", "random_math", "random_math", "Arithmetic, random answers", RandomTask),
    variant_of("facts_char", "random_facts", "random_facts", "Facts, random capitals", RandomTask),
)}


def check_paper_task(dataset, source):
    """Raise ValueError when `dataset` is a random-answer task (RANDOM_TASKS) or a one-operation
    table (OPERATION_TASKS): its run shares the paper's vocabulary, so a tool that scores the
    paper's 200 sums, the held-out four or the capitals would read it without complaint and report
    numbers that mean nothing. `source` names the run in the error."""
    if dataset in RANDOM_TASKS:
        raise ValueError(f"{source} was trained on {dataset}, random answers for measuring capacity in bits: "
                         f"it has no held-out sums or capitals to score; read it with tools/capacity.py")
    if dataset in OPERATION_TASKS:
        raise ValueError(f"{source} was trained on {dataset}, {OPERATION_TASKS[dataset].title.lower()}: it has "
                         f"two held-out expressions, not the paper's four; read it with plot_results.py or a "
                         f"tools/sweep.py --task={OPERATION_TASKS[dataset].name} summary (operations.md)")


@functools.lru_cache(maxsize=4)
def random_math_rows(table_seed):
    """Every prompt a random arithmetic table can hold, in table order, each with its answer drawn
    uniformly from RANDOM_ANSWERS by `table_seed`: a tuple of (a, op, b, answer).

    Why the table grows by its operands: the paper's 200 single-digit prompts hold only
    200 x log2(28) = 961 bits, below what a width stores at Allen-Zhu & Li's 2 or Morris et al.'s
    3.6 bits per parameter from n14 (1,456 parameters: 2,900 to 5,200 bits) up. Operands over 0..99
    give 20,000 prompts, 96k bits, above n56's (19,936 parameters) 72k at 3.6. The answers stay the paper's -9..18, so that every answer carries
    the same log2(28) bits at every table size and every line keeps the paper's characters;
    a wider answer range would change both, and its 3-character answers would need a longer
    block. With two-digit operands the longest context an answer token needs, `<99-99=-9`
    before its `>`, is 9 characters: the paper's block of 9 still sees every prompt whole.

    The prompts come in order of their larger operand (for op, then a, then b), so that the
    first 200 are the paper's single-digit ones, and every prompt's answer is drawn once per
    seed: a table of n lines is the first n of every larger table of its seed (nested)."""
    prompts = [(a, op, b) for m in RANDOM_OPERANDS for op in OPERATORS for a in range(m + 1) for b in range(m + 1)
               if max(a, b) == m]
    answers = np.random.default_rng(table_seed).choice(RANDOM_ANSWERS, size=len(prompts))
    return tuple((a, op, b, int(answer)) for (a, op, b), answer in zip(prompts, answers))


def random_strings(rng, letters, lengths, count):
    """`count` strings, each of a length drawn uniformly from the list `lengths` (so with their
    frequencies), then that many characters each drawn uniformly from `letters`."""
    drawn = rng.choice(lengths, size=count)
    ids = rng.integers(len(letters), size=(count, max(lengths)))
    return ["".join(letters[i] for i in row[:n]) for row, n in zip(ids.tolist(), drawn.tolist())]


@functools.lru_cache(maxsize=4)
def random_facts_rows(table_seed):
    """Every (country, capital) a random facts table can hold, in table order: the 50 countries in
    the paper's order, then 4,950 invented ones, each with a random capital drawn by `table_seed`.

    A random capital has a length drawn from the 50 real capitals' lengths (4 to 13) and letters
    drawn uniformly from theirs (CAPITAL_LETTERS; the space is left out, since the space before
    the newline ends a line's answer and the judge strips it), so that it carries
    random_answer_bits: 39.7 bits on average, 1,987 expected for the 50 countries (2,100 in table
    seed 0's). That is below what n28 (6,216 parameters) stores at 2 to 3.6 bits per parameter, so
    the table grows past 50 with invented countries, names drawn the same way from the countries'
    lengths and letters (COUNTRY_LETTERS), each unlike every other and every real one. Nested like random_math_rows:
    a table of n lines is the first n of every larger table of its seed."""
    rng = np.random.default_rng(table_seed)
    capitals = random_strings(rng, CAPITAL_LETTERS, [len(city) for _, city in CAPITALS], RANDOM_FACTS_MAX)
    countries = [country for country, _ in CAPITALS]
    for name in random_strings(rng, COUNTRY_LETTERS, [len(c) for c in countries], 2 * RANDOM_FACTS_MAX):
        if len(countries) == RANDOM_FACTS_MAX:
            break
        if name not in countries:  # a list, searched once per seed (0.2 s)
            countries.append(name)
    return tuple(zip(countries, capitals))


RANDOM_ROWS = {"random_math": random_math_rows, "random_facts": random_facts_rows}
LARGEST_TABLE = {"random_math": 2 * len(RANDOM_OPERANDS) ** 2, "random_facts": RANDOM_FACTS_MAX}


def check_table(dataset, table_size, table_seed, held_out=PAPER_HELD_OUT):
    """Raise ValueError naming a table setting `dataset` does not allow: a random-answer task needs
    1 to its largest table of lines and a seed of at least 0, and withholds nothing (held_out stays
    the default, unused); the paper's tasks take no table."""
    if dataset in RANDOM_TASKS and held_out != PAPER_HELD_OUT:
        raise ValueError(f"held_out={held_out!r} applies to the paper's arithmetic, and dataset={dataset!r} "
                         f"withholds nothing; leave held_out at {PAPER_HELD_OUT}")
    if dataset not in RANDOM_TASKS:
        if table_size:
            raise ValueError(f"table_size={table_size!r} applies to the random-answer tasks "
                             f"({', '.join(RANDOM_TASKS)}), and dataset={dataset!r} is the paper's; leave it at 0")
        return
    largest = LARGEST_TABLE[dataset]
    if not isinstance(table_size, int) or isinstance(table_size, bool) or not 1 <= table_size <= largest:
        raise ValueError(f"table_size={table_size!r} is not allowed for dataset={dataset!r}; give the table's "
                         f"number of lines, 1 to {largest:,}")
    if not isinstance(table_seed, int) or isinstance(table_seed, bool) or table_seed < 0:
        raise ValueError(f"table_seed={table_seed!r} must be an integer of at least 0")


def random_table(dataset, table_size, table_seed):
    """The first `table_size` rows (random_math_rows, random_facts_rows) of a random-answer task's
    table drawn with `table_seed`: [(a, op, b, answer)] or [(country, capital)]."""
    check_table(dataset, table_size, table_seed)
    return list(RANDOM_ROWS[dataset](table_seed)[:table_size])


def random_lines(dataset, table):
    """A random table's lines in its paper task's format, in table order: arithmetic lines padded to
    the paper's 8 characters or to the table's longest line (up to 10 with two-digit operands), facts as
    fact_lines writes them. Not shuffled: batches are windows at uniform offsets, so where a line
    stands does not change how often it is trained on."""
    if dataset == "random_facts":
        return fact_lines(table)
    width = max(MATH_LINE_WIDTH, *(len(f"{math_prompt(a, op, b)}{answer}>") for a, op, b, answer in table))
    return [math_line(a, op, b, answer, width) for a, op, b, answer in table]


def task_tables(dataset, table_size=0, table_seed=0):
    """{part: table} of what a task's evaluation asks where it is not the paper's: a random-answer
    task's table under its part ("math" or "facts"), a one-operation table's 100 sums under "math";
    {} for the paper's tasks."""
    if dataset in OPERATION_TASKS:
        return {"math": math_table(task_operations(dataset))}
    if dataset not in RANDOM_TASKS:
        return {}
    return {RANDOM_TASKS[dataset].parts[0]: random_table(dataset, table_size, table_seed)}


def random_answer_bits(dataset, answers):
    """(n,) float64, bits: each answer's information, -log2 of its probability under the distribution
    its table drew it from. Arithmetic: log2(28) for every answer in RANDOM_ANSWERS. Facts: the
    length's -log2 P(length) (the 50 capitals' lengths) plus log2(40) for each letter."""
    if dataset == "random_math":
        if any(answer not in RANDOM_ANSWERS for answer in answers):
            raise ValueError(f"an answer outside {RANDOM_ANSWERS.start}..{RANDOM_ANSWERS.stop - 1}")
        return np.full(len(answers), math.log2(len(RANDOM_ANSWERS)))
    lengths = [len(city) for _, city in CAPITALS]
    per_letter = math.log2(len(CAPITAL_LETTERS))
    return np.array([-math.log2(lengths.count(len(answer)) / len(lengths)) + len(answer) * per_letter
                     for answer in answers])
