"""Write nanoGPT's files for the as_math task (docs/STUDY.md §1): input.txt, train.bin, val.bin, meta.pkl.

    python data/as_math/prepare.py              # into data/as_math/
    python data/as_math/prepare.py /tmp/data    # into /tmp/data/as_math/
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from toobig.study.tasks import DATA_DIR, prepare  # noqa: E402

if __name__ == "__main__":
    print(f"wrote {prepare('as_math', sys.argv[1] if len(sys.argv) > 1 else DATA_DIR)}")
