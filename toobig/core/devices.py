"""
Where and how torch computes: the device a run asks for, checked against the
machine; the autocast a device uses; threads and deterministic kernels; the
device's name for run.json. Shared by training, stacked runs, tools/bench.py and
every tool that loads a model.
"""
import os
import platform
from contextlib import nullcontext

import torch

from configurator import FAILURES
from toobig.core import reproducible

# Failures of the machine, not of the code: a full disk or a missing file (OSError), memory,
# a C++ compiler that torch.compile cannot use. The CLIs answer them in one line, exit 2.
COMPILE_ERRORS = (torch._dynamo.exc.BackendCompilerFailed,)
MACHINE_ERRORS = (*FAILURES, torch.OutOfMemoryError, *COMPILE_ERRORS)


def pick_device(requested="auto"):
    """The device to run on: `requested`, checked, or for 'auto' cuda, then mps, then cpu.
    Raises ValueError for a device this machine lacks or a name that is none."""
    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    kind = requested.split(":")[0]
    if kind not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device={requested!r} is not allowed; choose auto, cpu, cuda, cuda:N or mps")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={requested!r}: this machine has no CUDA GPU (torch {torch.__version__}); "
                         f"use --device=cpu")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device={requested!r}: MPS is not available on this machine; use --device=cpu")
    return requested


def autocast(device, dtype="auto"):
    """bf16 autocast on CUDA (the paper's setting), plain float32 elsewhere."""
    device_type = device.split(":")[0]
    if dtype == "auto":
        dtype = "bfloat16" if device_type == "cuda" and torch.cuda.is_bf16_supported() else "float32"
    if dtype == "float32":
        return nullcontext()
    return torch.autocast(device_type=device_type, dtype=getattr(torch, dtype))


def configure_torch(device, threads=0):
    """Threads, deterministic kernels (docs/STUDY.md §3) and TF32 matmuls: the same for single and stacked runs."""
    if threads:
        torch.set_num_threads(threads)
    if device == "cpu":
        reproducible.warn_unless_pinned()
    if device.startswith("cuda"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True


def device_name(device):
    """The accelerator or processor a run used, for run.json."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(device)
    try:  # Linux: the processor's marketing name
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()
