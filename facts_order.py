"""
Which capitals a model memorizes first, and whether something simple predicts it.

    python facts_order.py results/facts_mini_28 results/facts_mini_56 results/both_mini_28
    python facts_order.py results/facts_mini_* --out=results/facts_order.md

For each run folder (its items.csv, written by train_with_eval.py), a fact is
"learned" at the first evaluation where all its samples are right. Over the
facts a run learns, the table gives Spearman's correlation between that
iteration and three properties of the fact: the length of the answer, how
common its letters are among the other answers (for each distinct letter of the
city, the number of other cities that contain it, averaged over the letters),
and its line in the training text. Positive: long / common-lettered / late
facts are learned later.
"""
import sys
from pathlib import Path

import numpy as np

from configurator import exit_with_error, parse_args
from inspect_model import spearman
from plot_results import first_learned, read_items
from run_folder import find_run_folder, write_atomically
from tasks import CAPITALS

OPTIONS = {"out": ""}  # also write the table to this markdown file
CITY = dict(CAPITALS)


def letter_commonness(city):
    """For each distinct letter of `city`, how many other capitals contain it, on average."""
    letters = set(city.lower()) - {" "}
    others = [set(other.lower()) for other in CITY.values() if other != city]
    return float(np.mean([sum(letter in other for other in others) for letter in letters]))


PROPERTIES = {"answer length": lambda country, position: len(CITY[country]),
              "letter commonness": lambda country, position: letter_commonness(CITY[country]),
              "line in the text": lambda country, position: position}


def facts_order(folder, samples=10):
    """One run's row: how many facts it learns, the correlations, the first and last learned."""
    found = read_items(folder)
    if found is None:
        raise ValueError(f"{folder} has no items.csv (runs made before items were recorded have none)")
    iters, names, counts = found
    position = {country: i for i, (country, _) in enumerate(CAPITALS)}
    facts = [(i, name) for i, name in enumerate(names) if name in CITY]
    if not facts:
        raise ValueError(f"{folder} was not trained on the capital facts")
    learned_at = first_learned(counts[[i for i, _ in facts]], samples)
    learned = [(name, int(iters[k])) for (_, name), k in zip(facts, learned_at) if k < len(iters)]
    row = {"run": str(folder), "facts learned": f"{len(learned)} of {len(facts)}"}
    for prop, value_of in PROPERTIES.items():
        values = [value_of(name, position[name]) for name, _ in learned]
        row[prop] = spearman(values, [it for _, it in learned]) if len(learned) > 2 else float("nan")
    order = [name for name, _ in sorted(learned, key=lambda item: (item[1], position[item[0]]))]
    row["first learned"] = ", ".join(CITY[name] for name in order[:5])
    row["last learned"] = ", ".join(CITY[name] for name in order[-5:])
    return row


def cell(value):
    if not isinstance(value, float):
        return str(value)
    return "–" if np.isnan(value) else f"{value:+.2f}"  # nan: too few facts learned to correlate


def table(rows):
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(cell(v) for v in row.values()) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    folders = [a for a in argv if not a.startswith("--")]
    try:
        options = parse_args(OPTIONS, [a for a in argv if a.startswith("--")], allow_config_files=False)
        if not folders:
            raise ValueError("no run folders given; e.g. python facts_order.py results/facts_mini_28")
        rows = [facts_order(find_run_folder(folder)) for folder in folders]
    except ValueError as e:
        exit_with_error(e)
    text = table(rows)
    print(text, end="")
    if options["out"]:
        write_atomically(Path(options["out"]), text)


if __name__ == "__main__":
    main()
