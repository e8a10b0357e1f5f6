"""Write nanoGPT's files for the both_math_and_facts task (docs/STUDY.md §1): input.txt, train.bin, val.bin, meta.pkl.

    python data/both_math_and_facts/prepare.py              # into data/both_math_and_facts/
    python data/both_math_and_facts/prepare.py /tmp/data    # into /tmp/data/both_math_and_facts/
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from toobig.study.tasks import DATA_DIR, prepare  # noqa: E402

if __name__ == "__main__":
    print(f"wrote {prepare('both_math_and_facts', sys.argv[1] if len(sys.argv) > 1 else DATA_DIR)}")
