"""
What decides the bits of a CPU run, fixed before torch computes anything.

PyTorch picks its CPU kernels by the vector extensions it finds at run time:
ATen's own kernels, MKL's GEMM, oneDNN and the C++ that torch.compile generates
take AVX-512 paths where the processor has them, and those add floats in
another order than the AVX2 paths. Over 30,000 steps of training, last-bit
differences become different evaluations. So on every x86-64 processor with
AVX2, with or without AVX-512, runs here take the AVX2 paths: the same kernels
and the same float order on every such machine (README, "Reproducibility").

Importing this module pins them, through environment variables that torch,
MKL and oneDNN read when they first compute; every module of this repository
that imports torch imports this one first, so the pin is in force in every
entry point. A variable already set in the environment is left as it is, and
`PIN_CPU_KERNELS=0` leaves all of them alone (for speed where bits need not
repeat; on an AVX-512 machine the pinned torch step took 0.95-1.11x the
unpinned one's time, docs/SPEED.md). `cpu_record()` says in run.json what was in
force. The fused step (toobig/training/fused_step.py) does not go through these kernels.
"""
import getpass
import os
import platform
import re
import tempfile
import warnings

# AVX2 paths for ATen (Inductor's generated C++ follows ATEN_CPU_CAPABILITY), MKL and oneDNN.
# Each of the three alone left a run on an AVX-512 machine off the committed one.
AVX2_PIN = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
VECTOR_FLAGS = ("sse4_2", "avx", "fma", "avx2", "avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512_vnni",
                "avx512_bf16", "amx_tile", "asimd", "sve", "sve2")


def cpu_flags():
    """The processor's feature flags as Linux reports them (/proc/cpuinfo), or an empty set."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):  # x86, ARM
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def pin_cpu_kernels(environ=os.environ):
    """Pin the AVX2 paths in `environ` on an x86-64 processor known to have AVX2 and FMA;
    return the pinned variables as in force ({} where nothing was pinned)."""
    if environ.get("PIN_CPU_KERNELS", "1") == "0":
        return {}
    if platform.machine().lower() not in ("x86_64", "amd64") or not {"avx2", "fma"} <= cpu_flags():
        return {}  # ARM, or an x86 whose flags are unknown (not Linux) or lack AVX2: nothing to pin
    for key, value in AVX2_PIN.items():
        environ.setdefault(key, value)
    if "TORCHINDUCTOR_CACHE_DIR" not in environ:
        # Inductor's cache does not keep apart kernels built for different ATen capabilities
        # (a process reading the other's crashed in malloc): pinned runs keep their own
        try:
            user = re.sub(r'[\\/:*?"<>|]', "_", getpass.getuser())
        except (KeyError, OSError):  # no user name in some containers
            user = "user"
        environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(
            tempfile.gettempdir(), f"torchinductor_{user}_{environ['ATEN_CPU_CAPABILITY']}")
    return {key: environ[key] for key in AVX2_PIN}


PINNED = pin_cpu_kernels()


def cpu_record():
    """What decides the bits of a CPU run, for run.json: the processor's vector extensions,
    the capability PyTorch's kernels use, the pin, the library versions, the thread count."""
    import torch
    config = torch.__config__.show()
    mkl = re.search(r"Math Kernel Library Version (\S+)", config)
    onednn = re.search(r"MKL-DNN v(\S+)", config)
    return {"cpu_flags": [flag for flag in VECTOR_FLAGS if flag in cpu_flags()],
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "cpu_kernels_pinned": PINNED or None,
            "mkl": mkl.group(1) if mkl else None,
            "onednn": onednn.group(1) if onednn else None,
            "threads": torch.get_num_threads()}


def warn_unless_pinned():
    """Warn (once) if the pin was asked for but torch already runs other kernels: torch
    computed something before this module was imported. run.json records what ran."""
    import torch
    capability = torch.backends.cpu.get_cpu_capability()
    if PINNED and capability.lower() != PINNED["ATEN_CPU_CAPABILITY"].lower():
        warnings.warn(f"CPU kernels are {capability}, not the pinned {PINNED['ATEN_CPU_CAPABILITY']}: torch computed "
                      f"before `import reproducible`, so this run may not repeat bit for bit on other machines; "
                      f"import it before torch")
