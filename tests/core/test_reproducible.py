"""The CPU-kernel pin (toobig/core/reproducible.py): in force in every process that trains or evaluates."""
import ast
import json
import os
import platform
import subprocess
import sys

import pytest
import torch

from toobig.core import reproducible
from conftest import REPO, run_cli

X86_WITH_AVX2 = platform.machine().lower() in ("x86_64", "amd64") and {"avx2", "fma"} <= reproducible.cpu_flags()


def imported_modules(path):
    """The top-level names of the modules a file imports at its top level, in order."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module.split(".")[0]


def test_every_entry_point_that_imports_torch_imports_the_pin_first():
    """The variables torch reads when it first computes must be set before torch is
    imported, whichever file a process starts from: the library pins on import
    (toobig/__init__.py), so every file outside it imports toobig before torch."""
    entry_points = [*REPO.glob("*.py"), *REPO.glob("tools/*.py"), REPO / "tests" / "conftest.py"]
    for path in sorted(entry_points):
        names = [name for name in imported_modules(path) if name in ("torch", "toobig")]
        if "torch" in names:
            assert names[0] == "toobig", f"{path.name} imports torch before toobig"
    assert list(imported_modules(REPO / "toobig" / "__init__.py")) == ["pathlib", "toobig"]


@pytest.mark.skipif(not X86_WITH_AVX2, reason="the pin applies to x86-64 processors with AVX2")
def test_a_cli_process_runs_the_avx2_kernels_whatever_the_processor_has():
    code = ("import toobig.study.evaluation, os, torch; print(torch.backends.cpu.get_cpu_capability(), "
            "os.environ['MKL_ENABLE_INSTRUCTIONS'], os.environ['ONEDNN_MAX_CPU_ISA'])")
    unpinned = {k: v for k, v in os.environ.items() if k not in reproducible.AVX2_PIN}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=unpinned, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["AVX2", "AVX2", "AVX2"]


@pytest.mark.skipif(not X86_WITH_AVX2, reason="the pin applies to x86-64 processors with AVX2")
def test_a_training_run_records_the_pin_in_force(tmp_path):
    result = run_cli("train_with_eval.py", "--max_iters=0", "--device=cpu", "--compile=False", "--quiet",
                     f"--out_dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["cpu_capability"] == "AVX2" and run["cpu_kernels_pinned"] == reproducible.AVX2_PIN
    assert "avx2" in run["cpu_flags"] and run["threads"] == 1
    assert run["mkl"] and run["onednn"]


def test_the_pin_leaves_what_the_user_set_and_can_be_turned_off(monkeypatch):
    monkeypatch.setattr(reproducible, "cpu_flags", lambda: {"avx2", "fma", "avx512f"})
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    environ = {"MKL_ENABLE_INSTRUCTIONS": "AVX512"}
    assert reproducible.pin_cpu_kernels(environ) == {**reproducible.AVX2_PIN, "MKL_ENABLE_INSTRUCTIONS": "AVX512"}
    assert environ["TORCHINDUCTOR_CACHE_DIR"].endswith("_avx2")  # apart from unpinned kernels
    assert reproducible.pin_cpu_kernels({"PIN_CPU_KERNELS": "0"}) == {}


@pytest.mark.parametrize("machine,flags", [("aarch64", {"asimd", "sve"}), ("x86_64", {"avx", "sse4_2"}),
                                           ("x86_64", set())])
def test_nothing_is_pinned_where_avx2_is_absent_or_unknown(monkeypatch, machine, flags):
    """ATen does not check ATEN_CPU_CAPABILITY against the processor: pinning AVX2 on one
    without it would crash with an illegal instruction."""
    monkeypatch.setattr(reproducible, "cpu_flags", lambda: flags)
    monkeypatch.setattr(platform, "machine", lambda: machine)
    environ = {}
    assert reproducible.pin_cpu_kernels(environ) == {} and environ == {}


@pytest.mark.skipif(not X86_WITH_AVX2, reason="the pin applies to x86-64 processors with AVX2")
def test_this_test_process_runs_pinned():
    assert torch.backends.cpu.get_cpu_capability() == "AVX2"
