"""The house's plan, enforced: the top level is the design card's; the library's layers import
only downward (toobig/__init__.py); no import cycle; no entry point imports another; tools that
only read runs load neither torch nor the trainer."""
import ast
import subprocess
import sys

import pytest

from conftest import REPO

CARD = {"data", "config", "model.py", "train_with_eval.py", "sample.py", "eval_as_math.py", "eval_capitals.py",
        "plot_results.py", "plot_all_models.py", "configurator.py", "requirements.txt", "README.md"}
BESIDE_THE_CARD = {"toobig", "tools", "results", "tests", "docs", ".ci", ".gitignore"}
# bottom to top; the root's configurator.py and model.py stand with the core
LAYERS = ["core", "study", "runs", "training", "interp", "analysis", "reports"]
ENTRY_POINTS = {"train_with_eval", "sample", "eval_as_math", "eval_capitals", "plot_results", "plot_all_models"}


def modules():
    """{dotted name: path} of every Python file of the house but the tests."""
    paths = [*REPO.glob("*.py"), *REPO.glob("toobig/**/*.py"), *REPO.glob("tools/*.py"), *REPO.glob("data/*/*.py")]
    return {".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): p for p in paths}


def layer(name):
    """The layer's height of a module: 0 core (and the root's foundations), ..., len(LAYERS) for
    entry points (the design card's scripts, tools/, data/)."""
    parts = name.split(".")
    if parts[0] == "toobig":
        return LAYERS.index(parts[1]) if len(parts) > 1 else 0
    return 0 if name in ("configurator", "model") else len(LAYERS)


def imports(path, known):
    """The house's modules a file imports, anywhere in it (a function's imports count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        found |= {n for n in names if n in known}
    return found


def graph():
    known = modules()
    return {name: imports(path, known) - {name} for name, path in known.items()}


def test_the_top_level_is_the_design_card_and_its_companions():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    top = {line.split("/")[0] for line in tracked.splitlines()}
    assert top - BESIDE_THE_CARD == CARD, sorted(top - BESIDE_THE_CARD ^ CARD)


def test_imports_go_only_downward():
    upward = [f"{a} -> {b}" for a, bs in graph().items() for b in bs if layer(b) > layer(a)]
    assert not upward, upward


def test_no_import_cycle():
    edges, state, cycles = graph(), {}, []

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"
    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, [" -> ".join(c) for c in cycles]


def test_no_entry_point_imports_another():
    for name, found in graph().items():
        if layer(name) == len(LAYERS):
            assert not {f for f in found if layer(f) == len(LAYERS) and not f.startswith("toobig")}, name


READ_ONLY = ["plot_results", "plot_all_models", "tools.facts_order", "tools.claims", "toobig.runs.reading",
             "toobig.core.stats", "toobig.reports.figures", "toobig.study.training_config",
             "toobig.analysis.capacity_prediction"]


@pytest.mark.parametrize("module", READ_ONLY)
def test_tools_that_read_runs_load_neither_torch_nor_the_trainer(module):
    code = f"import sys, {module}; print(sorted(m for m in ('torch', 'train_with_eval') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_no_function_is_over_60_lines():  # a guide kept as a check: a long function hides its steps
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno < 60, f"{name}: {node.name}"
