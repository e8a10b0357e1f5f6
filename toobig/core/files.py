"""
Writing and reading a run's files so that nothing is half-written or silently misread: whole
files replaced atomically, table rows appended and closed one by one, and every number read
back checked. No torch, no study: the foundation the run folder and every report stand on.
"""
import csv
import io
import math
import os
from pathlib import Path


def write_atomically(path, payload):
    """Write str or bytes to path so that it is never seen half-written."""
    tmp = Path(f"{path}.tmp")
    try:
        tmp.write_text(payload, encoding="utf-8") if isinstance(payload, str) else tmp.write_bytes(payload)
        os.replace(tmp, path)
    except BaseException:  # a full disk, an interruption: the old file stands, no half-written one beside it
        tmp.unlink(missing_ok=True)
        raise


def write_figure(figure, path):
    """A matplotlib figure written whole (write_atomically), in the format its suffix names: two
    sweeps may write one sweep's figures."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format=Path(path).suffix[1:])
    write_atomically(path, buffer.getvalue())
    import matplotlib.pyplot as plt
    plt.close(figure)


def append_csv_row(path, row, columns):
    new_file = not Path(path).exists() or Path(path).stat().st_size == 0  # a file cut before its header: anew
    with open(path, "a", newline="") as f:  # closed, hence flushed, row by row
        writer = csv.DictWriter(f, fieldnames=columns)
        if new_file:
            writer.writeheader()
        writer.writerow(row)


def finite_number(text, path, line, column):
    """The finite float a run wrote in a cell; ValueError naming the cell otherwise."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value):
        shown = "an empty cell" if text in ("", None) else repr(text)
        raise ValueError(f"{path}, line {line}, column {column}: {shown} where a run writes a finite number; the "
                         f"file is damaged (a stopped run: --init_from=resume drops the rows after its checkpoint; "
                         f"else restore the file or train the run again)")
    return value
