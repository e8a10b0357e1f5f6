"""Where things live: no CLI imports another CLI, and tools that only read runs load neither torch
nor the trainer."""
import ast
import subprocess
import sys

import pytest

from conftest import REPO

CLIS = sorted(path.stem for path in REPO.glob("*.py") if "def main(" in path.read_text())
READ_ONLY = ["plot_results", "plot_all_models", "facts_order", "claims", "runs", "stats", "figures", "training_config"]


def local_imports(path):
    modules = {p.stem for p in REPO.glob("*.py")}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module in modules:
            yield node.module


def test_no_cli_imports_another_cli():
    assert {"train_with_eval", "sweep", "plot_results", "sample"} <= set(CLIS)
    for name in CLIS:
        others = set(local_imports(REPO / f"{name}.py")) & set(CLIS) - {name}
        assert not others, f"{name}.py imports the CLI(s) {others}"


@pytest.mark.parametrize("module", READ_ONLY)
def test_tools_that_read_runs_load_neither_torch_nor_the_trainer(module):
    code = f"import sys, {module}; print(sorted(m for m in ('torch', 'train_with_eval') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_no_module_is_over_350_lines():
    for path in REPO.glob("*.py"):
        assert len(path.read_text().splitlines()) <= 350, path.name


def test_no_function_is_over_60_lines():
    for path in REPO.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno < 60, f"{path.name}: {node.name}"
