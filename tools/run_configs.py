"""
Train a set of configs to completion, a few at a time, skipping finished runs.

    python tools/run_configs.py config/train_*_mini_*.py               # 2 processes x 1 thread
    python tools/run_configs.py config/train_math_mini_14.py --jobs=1 --threads=2

--jobs is the number of processes at once, --threads each one's threads (toobig/training/pool.py,
which tools/sweep.py uses too). An interrupted run resumes from its ckpt.pt; each run's
output goes to <out_dir>/train.log. Config files and their out_dirs are the working
directory's; train_with_eval.py is found beside this file. Each run's state is decided
as the pool takes it up (toobig/training/pool.py), so two of these, or one beside a sweep, never train
one run twice; --dry_run only forecasts the states.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the root, for python tools/<tool>.py from anywhere

from configurator import FAILURES, exit_with_error, load_config_file, parse_args
from toobig.training.pool import check_pool, run_state, train_all
from toobig.study.training_config import DEFAULTS, resolve

OPTIONS = {"jobs": 2, "threads": 1, "dry_run": False,
           "overwrite": False}  # replace a run made with another config in a config's out_dir


def main(argv=None):
    paths = []
    try:
        options = parse_args(OPTIONS, sys.argv[1:] if argv is None else argv, positional=paths)
        check_pool(options["jobs"], options["threads"])
        runs = [(path, [path], resolve({**DEFAULTS, **load_config_file(path, DEFAULTS)})) for path in paths]
        if not paths:
            raise ValueError("no config files given; e.g. python tools/run_configs.py config/train_*_mini_*.py")
        if options["dry_run"]:
            for label, _, config in runs:
                print(f"{label}: {run_state(config, options['overwrite'])}")
            return
        codes = train_all(runs, options["jobs"], options["threads"], options["overwrite"])
    except (FAILURES) as e:
        exit_with_error(e)
    sys.exit(1 if any(codes) else 0)


if __name__ == "__main__":
    main()
