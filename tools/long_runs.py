"""
The long runs (issue 38, results/sweeps/long/prediction.md): a table of every run and the
figure of the held-out share along training, against the runs of the paper's length.

    python tools/long_runs.py                      # results/sweeps/long -> long_runs.md, long_runs.png there
    python tools/long_runs.py --root=out/long --baseline=results/sweeps/math --out=out/long

--root holds one folder per setting (floor, wd0.1, wd1: toobig/analysis/long_training.py SETTINGS),
each with the run folders tools/sweep.py made there; --baseline the 30,000-iteration runs of the
same widths and seeds (drawn grey), --same_decay those with a setting's weight decay (dashed in its
colour; long_training.SAME_DECAY). Unfinished runs are listed with their last iteration; their
share over the last tenth is left blank until they finish. A line above the table says how many
of the registered runs (long_training.GRID) have finished.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the root, for python tools/<tool>.py from anywhere

import math

from configurator import FAILURES, exit_with_error, parse_args
from toobig.analysis.long_training import SAME_DECAY, SETTINGS, grid_status, long_run_row, reference_complete
from toobig.core.files import write_atomically, write_figure
from toobig.runs.reading import in_repository, load_run

OPTIONS = {"root": "results/sweeps/long", "baseline": "results/sweeps/math", "out": "",  # out: default --root
           "same_decay": "results/sweeps/decay_all"}  # the paper's length with a setting's decay (SAME_DECAY)


def run_folders(folder):
    """The run folders (with a results.csv) in `folder`, math_n8 before math_n14 (shorter names first)."""
    return sorted((p for p in Path(folder).iterdir() if (p / "results.csv").is_file()),
                  key=lambda p: (len(p.name), p.name)) if Path(folder).is_dir() else []


def table(rows):
    """The markdown table of long_run_row rows."""
    def cell(value, form):
        return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else form.format(value)
    header = ["setting", "model", "seed", "iterations", "held-out share, last tenth", "all four right from",
              "training accuracy, last", "weight norm, last", "smallest held-out margin, last"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        lines.append("| " + " | ".join([r["setting"], f"n{r['n_embd']}", str(r["seed"]),
                                        f"{r['iter']:,} of {r['max_iters']:,}",
                                        cell(100 * r["share_last_tenth"], "{:.0f}%"), cell(r["kept_from"], "{:,}"),
                                        cell(100 * r["train_acc_last"], "{:.1f}%"), cell(r["norm_last"], "{:.1f}"),
                                        cell(r["min_margin_last"], "{:+.2f}")]) + " |")
    return "\n".join(lines) + "\n"


def status(root):
    """The line above the table: how many of prediction.md's runs have finished under `root` and
    which groups are complete (claims.md tests those)."""
    finished, total, complete = grid_status(root)
    groups = ", ".join(f"n{n} ({setting})" for setting, n in complete) or "none yet"
    reference = [f"n{n} ({setting})" for setting, n in reference_complete(root)]
    return (f"{finished} of the {total} runs of prediction.md's grid finished; groups complete, and so tested "
            f"in results/claims.md: {groups}" + (f"; the reference, complete (described, not tested): "
                                                 f"{', '.join(reference)}" if reference else "") + ".\n\n")


def main(argv=None):
    try:
        options = parse_args(OPTIONS, sys.argv[1:] if argv is None else argv, allow_config_files=False)
        root = in_repository(options["root"])
        if not root.is_dir():
            raise ValueError(f"--root={options['root']} is not a folder")
        settings = {name: run_folders(root / name) for name in SETTINGS}
        if not any(settings.values()):
            raise ValueError(f"--root={options['root']} holds no runs yet in its setting folders "
                             f"({', '.join(SETTINGS)}; results/sweeps/long/prediction.md)")
        rows = [r for folders in settings.values() for r in map(long_run_row, folders) if r is not None]
        started = {name: [f for f in folders if long_run_row(f) is not None] for name, folders in settings.items()}
        if not rows:
            raise ValueError(f"--root={options['root']}: no run has an evaluation yet")
        width_seeds = {(r["n_embd"], r["seed"]) for r in rows}
        baselines = [p for p in run_folders(in_repository(options["baseline"]))  # evaluated at least once
                     if any(p.name == f"math_n{n}_s{s}" for n, s in width_seeds) and load_run(p) is not None]
        decayed = in_repository(options["same_decay"])
        if not decayed.is_dir():
            raise ValueError(f"--same_decay={options['same_decay']} is not a folder; give the sweep of the paper's "
                             f"length with the settings' decay (results/sweeps/decay_all)")
        same_decay = {setting: [decayed / f"math_n{n}_s{s}{suffix[n]}" for n, s in sorted(width_seeds) if n in suffix
                                if load_run(decayed / f"math_n{n}_s{s}{suffix[n]}") is not None]
                      for setting, suffix in SAME_DECAY.items() if started.get(setting)}
        out = Path(options["out"]) if options["out"] else root
        write_atomically(out / "long_runs.md", status(root) + table(rows))
        from toobig.reports.sweep_figures import long_runs_figure  # matplotlib only once the table is written
        figure = long_runs_figure({k: v for k, v in started.items() if v}, baselines,
                                  "held-out (5,7) share along training: ten times the paper's length", same_decay)
        write_figure(figure, out / "long_runs.png")
    except FAILURES as e:
        exit_with_error(e)
    print(f"wrote {out / 'long_runs.md'}, {out / 'long_runs.png'}: {len(rows)} runs "
          f"({sum(r['finished'] for r in rows)} finished)")


if __name__ == "__main__":
    main()
