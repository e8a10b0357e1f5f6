"""Write nanoGPT's files for one random_math table (toobig/study/tasks.py RANDOM_TASKS, issue 39):
input.txt, train.bin, val.bin, meta.pkl, the vocabulary the paper's task's whatever the table holds.

    python data/random_math/prepare.py --table_size=200 --table_seed=1                # into data/random_math/
    python data/random_math/prepare.py --table_size=200 --table_seed=1 --data_dir=/tmp  # into /tmp/random_math/
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from configurator import exit_with_error, parse_args  # noqa: E402
from toobig.study.tasks import DATA_DIR, prepare  # noqa: E402

OPTIONS = {"table_size": 200, "table_seed": 0, "data_dir": str(DATA_DIR)}

if __name__ == "__main__":
    try:
        print(f"wrote {prepare('random_math', **parse_args(OPTIONS, sys.argv[1:], allow_config_files=False))}")
    except (ValueError, OSError) as e:
        exit_with_error(e)
