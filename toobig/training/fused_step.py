"""
The fused CPU training step (toobig/training/fused_step.cpp): forward, cross-entropy, backward, gradient
clipping and AdamW in one C call, for the study's small models (1 layer, 1 head, no bias,
no dropout, float32 on the CPU). Built with the C++ compiler torch.compile already needs,
once per shape, and cached; called through ctypes on the tensors' memory.

    step = FusedStep(model, optimizer, config, data)   # the model's parameters become views of its buffer
    loss = step(starts, lr)                            # one training step; starts: the batch's window offsets

Built for the same bits on every CPU (measured on x86-64): an x86-64 with AVX2 and FMA runs
the vectorized build, anything else the portable one; both perform the same IEEE operations in
the same order (toobig/training/fused_step.cpp), so a run repeats bit for bit across machines. The optimizer stays a torch.optim.AdamW whose
state tensors are views of the step's moments: checkpoints keep nanoGPT's format, and a run
saved with one step resumes with the other.
"""
import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
from pathlib import Path

import torch

from toobig.core import reproducible

SOURCE = Path(__file__).resolve().with_name("fused_step.cpp")
# fixed flags, never -march=native or -ffast-math: the float operations are the source's
FLAGS = ["-O3", "-std=c++17", "-shared", "-fPIC", "-ffp-contract=off", "-fno-fast-math"]
VECTOR_FLAGS = ["-mavx2", "-mfma", "-DFUSED_AVX2"]
CACHE = Path(os.environ.get("FUSED_STEP_CACHE", Path.home() / ".cache" / "too_big_to_think" / "fused_step"))
PARAM_NAMES = ["transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.ln_1.weight",
               "transformer.h.0.attn.c_attn.weight", "transformer.h.0.attn.c_proj.weight",
               "transformer.h.0.ln_2.weight", "transformer.h.0.mlp.c_fc.weight", "transformer.h.0.mlp.c_proj.weight",
               "transformer.ln_f.weight"]  # toobig/training/fused_step.cpp's flat layout: nanoGPT's order, lm_head tied to wte


class FusedStepUnavailable(RuntimeError):
    """The fused step cannot run here (no C++ compiler, or the build failed): use the torch step."""


def uncovered(config, device, world_size=1):
    """Why the fused step does not cover this run (a reason), or None if it does."""
    reasons = [(device != "cpu", f"device {device}"), (config["n_layer"] != 1, f"n_layer={config['n_layer']}"),
               (config["n_head"] != 1, f"n_head={config['n_head']}"), (config["bias"], "bias=True"),
               (config["dropout"] != 0, f"dropout={config['dropout']}"),
               (config["dtype"] not in ("auto", "float32"), f"dtype={config['dtype']}"),
               (world_size != 1, "DDP")]
    return next((reason for bad, reason in reasons if bad), None)


def vector_path():
    """True where the vectorized build runs: x86-64 with AVX2 and FMA (as Linux reports them)."""
    return platform.machine().lower() in ("x86_64", "amd64") and {"avx2", "fma"} <= reproducible.cpu_flags()


def build(n_embd, vocab_size, block_size, hidden, vectorized=None):
    """The compiled step for one shape, built on first use and cached: (the ctypes library, a
    description of the build for run.json). Raises FusedStepUnavailable."""
    vectorized = vector_path() if vectorized is None else vectorized
    compiler = os.environ.get("CXX", "g++")
    if shutil.which(compiler) is None:
        raise FusedStepUnavailable(f"no C++ compiler (CXX={compiler!r})")
    flags = FLAGS + (VECTOR_FLAGS if vectorized else []) + [f"-DNC={n_embd}", f"-DNV={vocab_size}",
                                                           f"-DNT={block_size}", f"-DNH={hidden}"]
    source = SOURCE.read_bytes()
    key = hashlib.sha256(source + " ".join([compiler, *flags]).encode()).hexdigest()[:16]
    library = CACHE / f"fused_step_{key}.so"
    if not library.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = library.with_suffix(f".{os.getpid()}.tmp")
        result = subprocess.run([compiler, *flags, str(SOURCE), "-o", str(tmp)], capture_output=True, text=True)
        if result.returncode != 0:
            tmp.unlink(missing_ok=True)
            first = (result.stderr.strip().splitlines() or ["(no message)"])[0]
            raise FusedStepUnavailable(f"building toobig/training/fused_step.cpp failed: {first}")
        os.replace(tmp, library)  # atomic: processes building the same shape never see half a library
    lib = ctypes.CDLL(str(library))
    lib.fused_step.restype = ctypes.c_float
    lib.fused_step.argtypes = [ctypes.c_void_p] * 6 + [ctypes.c_int] + [ctypes.c_float] * 9
    info = {"kind": "fused", "path": "avx2" if vectorized else "portable", "compiler": compiler,
            "flags": " ".join(flags), "source_sha256": hashlib.sha256(source).hexdigest()}
    return lib, info


class FusedStep:
    """The step of one run: owns the flat parameter, gradient and AdamW moment buffers, with the
    model's parameters and the optimizer's state as views of them."""

    def __init__(self, model, optimizer, config, data, vectorized=None):
        c = model.config
        self.lib, self.info = build(c.n_embd, c.vocab_size, c.block_size, c.mlp_expansion * c.n_embd, vectorized)
        named = dict(model.named_parameters())
        if list(named) != PARAM_NAMES:
            raise FusedStepUnavailable(f"the model's parameters are not the fused step's ({list(named)})")
        params = [named[name] for name in PARAM_NAMES]
        n = sum(p.numel() for p in params)
        if n != self.lib.fused_n_params():
            raise FusedStepUnavailable(f"parameter count {n} is not the build's {self.lib.fused_n_params()}")
        self.flat, self.grad, self.m, self.v = (torch.zeros(n) for _ in range(4))
        self.optimizer, self.config = optimizer, config
        self.steps = 0
        offset = 0
        for p in params:  # the parameters (and the optimizer's moments) become views of the flat buffers
            view = slice(offset, offset + p.numel())
            self.flat[view] = p.detach().reshape(-1)
            state = optimizer.state.get(p, {})
            if "exp_avg" in state:  # a resumed run: the checkpoint's moments
                self.m[view], self.v[view] = state["exp_avg"].reshape(-1), state["exp_avg_sq"].reshape(-1)
                self.steps = int(state["step"])
            p.data = self.flat[view].view_as(p)
            p.grad = None
            optimizer.state[p] = {"step": torch.tensor(float(self.steps)), "exp_avg": self.m[view].view_as(p),
                                  "exp_avg_sq": self.v[view].view_as(p)}
            offset += p.numel()
        self.tokens = data.to(torch.int32).contiguous()
        group, gains = optimizer.param_groups  # GPT.configure_optimizers: the 2-D tensors, then the gains
        self.weight_decay, (self.beta1, self.beta2), self.eps = group["weight_decay"], group["betas"], group["eps"]
        self.gain_decay = gains["weight_decay"]

    def __call__(self, starts, lr):
        """One step on the windows starting at `starts` (B,) int64, at learning rate lr; returns the loss."""
        self.steps += 1
        bias_correction1 = 1 - self.beta1 ** self.steps  # torch.optim.AdamW's, in double as there
        bias_correction2_sqrt = (1 - self.beta2 ** self.steps) ** 0.5
        starts = starts.reshape(-1).contiguous()
        return self.lib.fused_step(self.flat.data_ptr(), self.grad.data_ptr(), self.m.data_ptr(), self.v.data_ptr(),
                                   self.tokens.data_ptr(), starts.data_ptr(), len(starts), lr, self.weight_decay,
                                   self.gain_decay,
                                   self.beta1, self.beta2, self.eps, self.config["grad_clip"], bias_correction1,
                                   bias_correction2_sqrt)

    def sync_optimizer(self):
        """The optimizer's step counts, for its state_dict (the moments are views already)."""
        for state in self.optimizer.state.values():
            state["step"].fill_(float(self.steps))
