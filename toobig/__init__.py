"""
The library behind the scripts at the repository's root and in tools/: a reproduction of
"Too Big to Think" (Barron & White, 2025) in layers. A module imports only from its own layer
or the ones below it (tests/test_structure.py checks it):

    reports     figures, the sweep figures, the claims' findings
    analysis    summaries across runs: sweep_summary, wrong_answers
    interp      interpretability: interventions -> readout -> mechanism -> circuits; inside
    training    the step (schedule, batches, the torch step), the fused C++ step, the recorder, stacking, the pool
    runs        a run's folder (every file it holds), reading runs and the protocols, checkpoints, scoring
    study       the study's facts: tasks (data, vocabulary), training_config (hyper-parameters), evaluation
    core        reproducible, devices, stats, files; with configurator.py and model.py at the root

Importing the package pins the CPU kernels (core/reproducible.py) before torch computes
anything: every entry point imports it before torch.
"""
from pathlib import Path

from toobig.core import reproducible  # noqa: F401  (the pin, on import)

REPO = Path(__file__).resolve().parents[1]  # what a tool reads or starts of its own is found from here
