"""Write nanoGPT's files for one table of a random-answer task (toobig/study/tasks.py RANDOM_TASKS):
input.txt, train.bin, val.bin and meta.pkl, whose vocabulary is its paper task's whatever the table
holds. One script serves both tasks: data/random_facts/prepare.py is a link to
data/random_math/prepare.py, and the task is the name of the folder it is run from.

    python data/random_math/prepare.py --table_size=800 --table_seed=1      # into data/random_math/
    python data/random_facts/prepare.py --table_size=50 --data_dir=/tmp     # into /tmp/random_facts/
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from toobig.study.tasks import DATA_DIR, prepare_main  # noqa: E402

OPTIONS = {"table_size": 200, "table_seed": 0, "data_dir": str(DATA_DIR)}

if __name__ == "__main__":
    prepare_main(__file__, OPTIONS, sys.argv[1:])
