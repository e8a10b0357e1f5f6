"""Write nanoGPT's files for the facts_char task (docs/STUDY.md §1): input.txt, train.bin, val.bin, meta.pkl.

    python data/facts_char/prepare.py              # into data/facts_char/
    python data/facts_char/prepare.py /tmp/data    # into /tmp/data/facts_char/
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from toobig.study.tasks import DATA_DIR, prepare  # noqa: E402

if __name__ == "__main__":
    print(f"wrote {prepare('facts_char', sys.argv[1] if len(sys.argv) > 1 else DATA_DIR)}")
