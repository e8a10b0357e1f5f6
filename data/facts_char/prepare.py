"""Write input.txt, train.bin, val.bin and meta.pkl for the facts_char task (SPEC §1)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tasks import prepare  # noqa: E402

if __name__ == "__main__":
    print(f"wrote {prepare('facts_char')}")
