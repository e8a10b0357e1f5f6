"""Write nanoGPT's files for a one-operation table (toobig/study/tasks.py OPERATION_TASKS: the paper's
arithmetic cut to addition alone, or subtraction alone): input.txt, train.bin, val.bin and meta.pkl,
whose vocabulary is the paper's arithmetic's. One script serves both tables: data/as_math_sub/prepare.py
is a link to data/as_math_add/prepare.py, and the table is the name of the folder it is run from.

    python data/as_math_add/prepare.py                      # into data/as_math_add/
    python data/as_math_sub/prepare.py --data_dir=/tmp      # into /tmp/as_math_sub/
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from toobig.study.tasks import DATA_DIR, prepare_main  # noqa: E402

OPTIONS = {"data_dir": str(DATA_DIR)}

if __name__ == "__main__":
    prepare_main(__file__, OPTIONS, sys.argv[1:])
