"""
A run's folder, written so that stopping at any moment leaves a whole run that
resumes exactly:

    results.csv   one row per evaluation, appended and closed as it is made
    run.json      the config, the machine, the data's sha256, the best rows so far
    ckpt.pt       the state at the latest evaluation (nanoGPT's checkpoint format)
    ckpt_best_{math,facts,combined}.pt   the state at the best evaluation of each score
    items.csv     per evaluation, each item's correct samples (200 sums, 50 facts), appended
    margins.csv, logprobs.csv   per evaluation, each item's teacher-forced logit margin and
                  log-probability of its right answer (evaluation.answer_margins), appended
    norms.csv     per evaluation, the weights' L2 norm, in all and per parameter, appended
    answers.json  each item's most common wrong answer at the last and the best evaluation
    model_last.pt, model_best.pt   the weights alone (no optimizer) at the latest and the
                  best-combined evaluation, in nanoGPT's format: small enough to commit
    evals/iter_<n>.pt   with keep_evals, the weights alone at every evaluation (tools/progress.py)

Every file but the appended tables is written whole to a temporary file and
renamed. One folder holds one run: a run claims its folder for its whole life;
starting from scratch in a folder that holds a run is refused unless the old
run is to be replaced (--overwrite), and it is removed only once every check
has passed.
"""
import csv
import io
import json
import os
import re
import shutil
import socket
from pathlib import Path

import torch

from toobig.core.files import append_csv_row, write_atomically
from toobig.runs.reading import TRAIN_LOG
from toobig.study.evaluation import SCORE_COLUMNS

try:
    import fcntl  # Linux and macOS: flock, dropped by the kernel when the holder ends (local disks; NFS varies)
except ImportError:  # Windows: runs go unclaimed there
    fcntl = None

# results.csv: the counts and accuracies (evaluation.SCORE_COLUMNS) between the losses and the time
RESULT_COLUMNS = ["iter", "train_loss", "val_loss", "lr", *SCORE_COLUMNS, "elapsed_s"]
# the score each best checkpoint keeps the best of (ties keep the earliest evaluation)
BEST_CHECKPOINTS = {"math_acc": "ckpt_best_math.pt", "facts_acc": "ckpt_best_facts.pt",
                    "combined_acc": "ckpt_best_combined.pt"}
WEIGHTS_FILE_KEYS = ("model", "model_args", "iter_num", "config", "stoi")  # a checkpoint without the optimizer
EVALS = "evals"  # keep_evals: the weights of every evaluation
PENDING = ".pending"  # an evaluation's whole files, staged until its ckpt.pt is written, then put in place
# the per-item tables, one row per evaluation, and how each writes a value: right samples,
# margins to 0.01 and log-probabilities to 0.001 (compact, and finer than any finding needs)
ITEM_TABLES = {"items.csv": "{}", "margins.csv": "{:.2f}", "logprobs.csv": "{:.3f}", "norms.csv": "{:.4f}"}
CLAIM_FILE = ".claim"  # which process holds the folder (RunFolder.claim), there only while it does; not part of the run
RUN_FILES = ("results.csv", "run.json", "ckpt.pt", *BEST_CHECKPOINTS.values(), *ITEM_TABLES, "answers.json",
             "model_last.pt", "model_best.pt")


class RunError(ValueError):
    """A run folder that cannot be used as asked; the CLIs print it as one line."""


class RunInUse(RunError):
    """A run folder another process holds (RunFolder.claim); `holder` says which."""

    def __init__(self, path, holder):
        super().__init__(f"{path} is in use by {holder}: two runs never share a folder; wait for it to end, or "
                         f"give this run another --out_dir")
        self.holder = holder


class RunFolder:
    """One run's folder. A run claims it (claim) for its whole life, so that two runs never
    write to one folder; a claim lives in CLAIM_FILE as an exclusive lock that the operating
    system drops when its process ends, however it ends (fcntl.flock: Linux and macOS, on
    local disks; on NFS it depends on the mount; on Windows folders go unclaimed)."""

    def __init__(self, path):
        self.path = Path(path)
        self.best = {}  # score column -> the row of the best evaluation so far
        self._claim = None  # the open, locked CLAIM_FILE while this process holds the folder

    def claim(self):
        """Hold the folder (creating it) until this process ends or release(); raises RunError
        naming the process that holds it."""
        if self.path.exists() and not self.path.is_dir():
            raise RunError(f"out_dir={self.path} is a file, not a folder; give the run a folder")
        if self._claim is not None or fcntl is None:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        while True:
            handle = open(self.path / CLAIM_FILE, "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                handle.close()
                raise RunInUse(self.path, holder) from None
            if self._is_at_path(handle):
                break
            # the holder released between our open and our lock, unlinking the file we opened: a lock
            # on it holds nothing, and another process may hold the file now at the path; try that one
            handle.close()
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        self._claim = handle

    def _is_at_path(self, handle):
        """Whether the open CLAIM_FILE is the one now at the folder's path (not unlinked by a release)."""
        try:
            at_path = os.stat(self.path / CLAIM_FILE)
        except FileNotFoundError:
            return False
        mine = os.fstat(handle.fileno())
        return (mine.st_ino, mine.st_dev) == (at_path.st_ino, at_path.st_dev)

    def release(self):
        """Let the folder go, leaving no CLAIM_FILE behind. It is unlinked while still locked, and only
        where it is still ours (claim re-checks after locking that its file is the one at the path),
        so that no two processes ever both hold the folder."""
        if self._claim is not None:
            try:
                if self._is_at_path(self._claim):
                    os.unlink(self.path / CLAIM_FILE)
            except OSError:  # the folder gone or made read-only meanwhile: closing still drops the lock
                pass
            self._claim.close()  # closing drops the lock
            self._claim = None

    def holds_a_run(self):
        return any((self.path / name).exists() for name in RUN_FILES)

    def check_free(self, overwrite=False):
        """Refuse to start from scratch where a run is, unless it is to be replaced; a folder
        that holds folders is no run's and is never emptied."""
        if not self.holds_a_run():
            return
        if not overwrite:
            raise RunError(f"{self.path} already holds a run; continue it with --init_from=resume "
                           f"--out_dir={self.path}, or replace it with --overwrite")
        folders = sorted(p.name for p in self.path.iterdir() if p.is_dir() and p.name not in (EVALS, PENDING))
        if folders:
            raise RunError(f"{self.path} holds folders ({', '.join(folders[:3])}), so it is not one run's folder; "
                           f"--overwrite empties only a run's folder")

    def start(self):
        """Ready the folder for a run from scratch, once every check has passed: an old run in
        it, and every file made from it (figures, logs), is removed, never mixed in."""
        self.claim()
        if self.holds_a_run():
            # ckpt.pt first: a stop while emptying leaves no checkpoint to resume a half-removed run from
            (self.path / "ckpt.pt").unlink(missing_ok=True)
            for path in self.path.iterdir():
                if path.is_file() and path.name not in (CLAIM_FILE, TRAIN_LOG):  # the log is this run's (toobig/training/pool.py)
                    path.unlink()
        shutil.rmtree(self.path / PENDING, ignore_errors=True)
        self.remove_kept_weights()
        self.best = {}

    def remove_kept_weights(self):
        """An old run's evals/ (keep_evals), even where nothing else of it is left; a folder of that
        name that holds anything else is not a run's, and is refused, never emptied."""
        evals = self.path / EVALS
        if not evals.is_dir():
            return
        strangers = [p.name for p in evals.iterdir() if not re.fullmatch(r"iter_\d{6}\.pt", p.name)]
        if strangers:
            raise RunError(f"{evals} holds {', '.join(sorted(strangers)[:3])}, which no run keeps there; move it away "
                           f"or give this run another --out_dir")
        shutil.rmtree(evals)

    def load_checkpoint(self):
        """ckpt.pt, checked whole (checkpoints.load_checkpoint), on the CPU (the trainer moves what it needs)."""
        from toobig.runs.checkpoints import (
            RESUME_KEYS,
            CheckpointError,
            load_checkpoint,
        )
        path = self.path / "ckpt.pt"
        if not path.is_file():
            where = "" if self.path.is_dir() else " (a file, not a folder)" if self.path.exists() else " (no such folder)"
            if self.path.is_dir() and self.holds_a_run():  # stopped in its first evaluation: nothing to resume
                raise RunError(f"cannot resume: {path} does not exist (the run stopped before its first checkpoint); "
                               f"start it again with --init_from=scratch --overwrite")
            raise RunError(f"cannot resume: {path} does not exist{where}; train with --init_from=scratch first")
        try:
            checkpoint = load_checkpoint(path, RESUME_KEYS)
        except CheckpointError as e:
            raise RunError(f"cannot resume: {e}") from None
        self.best = checkpoint["best"]
        return checkpoint

    def resume_at(self, iter_num):
        """Keep the rows (and kept weights) up to the checkpoint's evaluation and finish putting its
        staged files in place (record); anything later was written before a stop that came ahead
        of the next ckpt.pt, and is made again."""
        for name in ("results.csv", *ITEM_TABLES):
            path = self.path / name
            if not path.exists():
                continue
            with open(path, newline="") as f:
                reader = csv.DictReader(f)
                columns = reader.fieldnames
                # a row cut short (a full disk, a kill mid-write) has empty fields: it is not kept
                kept = [row for row in reader if None not in row.values() and int(row["iter"]) <= iter_num]
            if columns is None:  # cut before its header: written anew from its next row
                path.unlink()
                continue
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=columns)
            writer.writeheader()
            writer.writerows(kept)
            write_atomically(path, buffer.getvalue())
        pending = self.path / PENDING
        if pending.is_dir():  # staged files: the checkpoint's evaluation's are put in place, a later one's dropped
            marker = pending / "iter"
            if marker.is_file() and marker.read_text() == str(iter_num):
                self.publish_pending()
            else:
                shutil.rmtree(pending)
        evals = self.path / EVALS
        if evals.is_dir():  # weights kept from an evaluation after the checkpoint's: made again, or not if unasked
            for path in evals.glob("iter_*.pt"):
                if int(path.stem.split("_")[1]) > iter_num:
                    path.unlink()

    def record(self, row, checkpoint, info, item_scores=None, wrong_answers=None, margins=None, norms=None,
               keep_weights=False):
        """Write one evaluation so that a stop anywhere loses nothing and mixes nothing. Its rows
        (results.csv, items.csv, margins.csv, logprobs.csv, norms.csv) are appended; its whole
        files (ckpt_best_*.pt for each score it improves, model_last.pt, model_best.pt,
        evals/iter_<n>.pt, answers.json, run.json) are staged in PENDING; then ckpt.pt, the
        commit point, is written; then the staged files are put in place. A resume starts from
        the evaluation ckpt.pt holds: it drops later rows and an older evaluation's staged files,
        and finishes putting in place the files of the evaluation ckpt.pt holds (resume_at)."""
        improved = [key for key in BEST_CHECKPOINTS
                    if row[key] != "" and (key not in self.best or row[key] > self.best[key][key])]
        for key in improved:
            self.best[key] = row
        append_csv_row(self.path / "results.csv", row, RESULT_COLUMNS)
        if item_scores is not None:
            self.append_item_row("items.csv", row["iter"], item_scores)
        if margins is not None:
            self.append_item_row("margins.csv", row["iter"], {m.name: m.margin for m in margins})
            self.append_item_row("logprobs.csv", row["iter"], {m.name: m.logprob for m in margins})
        if norms is not None:
            self.append_item_row("norms.csv", row["iter"], norms)
        pending = self.path / PENDING
        shutil.rmtree(pending, ignore_errors=True)
        (pending / EVALS).mkdir(parents=True)
        for key in improved:
            save_torch(pending / BEST_CHECKPOINTS[key], {**checkpoint, "best": self.best})
        weights = {key: checkpoint[key] for key in WEIGHTS_FILE_KEYS}
        save_torch(pending / "model_last.pt", weights)
        if "combined_acc" in improved:
            save_torch(pending / "model_best.pt", weights)
        if keep_weights:
            save_torch(pending / EVALS / f"iter_{row['iter']:06d}.pt", weights)
        if item_scores is not None:
            answers = {"last": {"iter": row["iter"], "wrong": wrong_answers}}
            answers["best"] = answers["last"] if "combined_acc" in improved else self.answers().get("best")
            write_atomically(pending / "answers.json", json.dumps(answers, indent=1))
        write_atomically(pending / "run.json", json.dumps({**info, "best": self.best}, indent=1))
        write_atomically(pending / "iter", str(row["iter"]))  # last of the staged: the evaluation they belong to
        save_torch(self.path / "ckpt.pt", {**checkpoint, "best": self.best})  # the commit point
        self.publish_pending()

    def publish_pending(self):
        """Put the staged files of the evaluation ckpt.pt holds in place, then drop PENDING."""
        pending = self.path / PENDING
        for path in sorted(pending.rglob("*")):
            if path.is_file() and path.name != "iter":
                target = self.path / path.relative_to(pending)
                target.parent.mkdir(exist_ok=True)
                put_in_place(path, target)
        shutil.rmtree(pending)

    def append_item_row(self, name, iter_num, values):
        """One evaluation's row of a per-item table (ITEM_TABLES), written as that table writes values."""
        fmt = ITEM_TABLES[name]
        append_csv_row(self.path / name, {"iter": iter_num, **{k: fmt.format(v) for k, v in values.items()}},
                       ["iter", *values])

    def answers(self):
        path = self.path / "answers.json"
        return json.loads(path.read_text()) if path.exists() else {}


def save_torch(path, obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_atomically(path, buffer.getvalue())


def put_in_place(staged, target):
    """Move a staged file over its target (one rename: never seen half-written)."""
    os.replace(staged, target)
