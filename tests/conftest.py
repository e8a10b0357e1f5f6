import atexit
import io
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# The fused step's builds go to a cache that a fresh machine (CI) lacks: start every session
# without it, so that the tests see what CI sees (a build, and the compiler it needs).
os.environ["FUSED_STEP_CACHE"] = tempfile.mkdtemp(prefix="fused_step_cache_")
atexit.register(shutil.rmtree, os.environ["FUSED_STEP_CACHE"], ignore_errors=True)

from toobig.core import reproducible  # noqa: E402  first, before torch: the CPU kernels every run uses (toobig/core/reproducible.py)
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from toobig.study.tasks import CAPITALS, OPERATORS, CharCodec, fact_prompt, math_expressions, math_prompt, task_text  # noqa: E402


def run_cli(*args, timeout=300, cwd=REPO):
    """Run a repo script with the test interpreter; returns the CompletedProcess."""
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def run_main(main, *args):
    """A CLI's main(argv) run in this process, which spares the tests a Python and torch
    start-up per call; returns a CompletedProcess as run_cli does."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with redirect_stdout(out), redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as e:
            code = e.code
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


class LookupModel(nn.Module):
    """A stand-in GPT whose next-token logits come from an answer key: after any
    prefix of a key line it puts all the mass on that line's next character.
    It goes through the evaluation's real decoding, so sampling, batching and
    judging are real."""

    def __init__(self, codec, lines):
        super().__init__()
        self.codec = codec
        self.anchor = nn.Parameter(torch.zeros(1))  # gives the model a device
        self.config = type("Config", (), {"block_size": 64})()
        self.next_char = {}
        for line in lines:
            for i in range(len(line)):
                self.next_char.setdefault(line[:i], line[i])

    def forward(self, idx, targets=None):
        logits = torch.zeros(idx.size(0), idx.size(1), self.codec.vocab_size)
        for row, ids in enumerate(idx.tolist()):
            text = self.codec.decode(ids)
            for end in range(len(ids)):  # every position, as GPT.forward gives them
                start = text.rfind("\n", 0, end + 1) + 1
                logits[row, end, self.codec.stoi[self.next_char.get(text[start:end + 1], "\n")]] = 30.0
        return logits, None


def answer_key(math_answer=None, city_answer=None):
    """Key lines for every prompt; the answer functions may replace the right answers."""
    math_answer = math_answer or (lambda a, op, b: OPERATORS[op](a, b))
    city_answer = city_answer or (lambda country, city: city)
    lines = [f"{math_prompt(a, op, b)}{math_answer(a, op, b)}>   \n" for a, op, b in math_expressions()]
    lines += [f"{fact_prompt(country)}{city_answer(country, city)} \n" for country, city in CAPITALS]
    return lines


@pytest.fixture(scope="session")
def both_codec():
    return CharCodec.from_text(task_text("both_math_and_facts"))


def pytest_configure(config):
    # `-m "not slow"` for a quick pass while working; the README's test command (and CI) runs them all
    config.addinivalue_line("markers", "slow: takes more than a few seconds (real training, subprocesses)")
