"""
Which capitals a model memorizes first, and whether something simple predicts it.

    python tools/facts_order.py results/facts_mini_28 results/facts_mini_56 results/both_mini_28
    python tools/facts_order.py results/facts_mini_* --out=results/facts_order.md

For each run folder (its items.csv, written by train_with_eval.py), a fact is
"learned" at the first evaluation where all its samples are right. Over the
facts a run learns, the table gives Spearman's correlation between that
iteration and three properties of the fact: the length of the answer, how
common its letters are among the other answers (for each distinct letter of the
city, the number of other cities that contain it, averaged over the letters),
and its line in the training text. Positive: long / common-lettered / late
facts are learned later. Given several runs, a second table says whether they
learn the facts in the same order (Spearman between two runs' first-learned
iterations): runs with one seed share their batches, so compare across seeds.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the root, for python tools/<tool>.py from anywhere

import numpy as np

from configurator import FAILURES, exit_with_error, parse_args
from toobig.core.files import write_atomically
from toobig.runs.reading import check_paper_run, find_run_folder, first_learned, read_items
from toobig.core.stats import spearman
from toobig.study.tasks import CAPITALS

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


def learned_at(folder, samples=10):
    """{country: the first iteration at which all its samples are right}, for the facts the run learns,
    and the number of facts it was evaluated on."""
    check_paper_run(folder)  # a random_facts run names the real countries, with random capitals
    found = read_items(folder)
    if found is None:
        raise ValueError(f"{folder} has no items.csv (runs made before items were recorded have none)")
    iters, names, counts = found
    facts = [(i, name) for i, name in enumerate(names) if name in CITY]
    if not facts:
        raise ValueError(f"{folder} was not trained on the capital facts")
    first = first_learned(counts[[i for i, _ in facts]], samples)
    return {name: int(iters[k]) for (_, name), k in zip(facts, first) if k < len(iters)}, len(facts)


def facts_order(folder, samples=10):
    """One run's row: how many facts it learns, the correlations, the first and last learned."""
    learned, n_facts = learned_at(folder, samples)
    position = {country: i for i, (country, _) in enumerate(CAPITALS)}
    row = {"run": str(folder), "facts learned": f"{len(learned)} of {n_facts}"}
    for prop, value_of in PROPERTIES.items():
        values = [value_of(name, position[name]) for name in learned]
        row[prop] = spearman(values, list(learned.values())) if len(learned) > 2 else float("nan")
    order = sorted(learned, key=lambda name: (learned[name], position[name]))
    row["first learned"] = ", ".join(CITY[name] for name in order[:5])
    row["last learned"] = ", ".join(CITY[name] for name in order[-5:])
    return row


def agreement(folders, samples=10):
    """Do runs learn the facts in the same order? For every pair of runs, Spearman between
    their first-learned iterations over the facts both learn: one row per run, columns by number."""
    learned = [learned_at(folder, samples)[0] for folder in folders]
    rows = []
    for i, (folder, mine) in enumerate(zip(folders, learned), 1):
        row = {"run": f"{i}: {folder}"}
        for j, theirs in enumerate(learned, 1):
            both = [name for name in mine if name in theirs]
            row[str(j)] = (spearman([mine[n] for n in both], [theirs[n] for n in both])
                           if len(both) > 2 else float("nan"))
        rows.append(row)
    return rows


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
    folders = []
    try:
        options = parse_args(OPTIONS, sys.argv[1:] if argv is None else argv, positional=folders)
        if not folders:
            raise ValueError("no run folders given; e.g. python tools/facts_order.py results/facts_mini_28")
        folders = [find_run_folder(folder) for folder in folders]
        text = table([facts_order(folder) for folder in folders])
        if len(folders) > 1:
            text += ("\nDo the runs learn the facts in the same order? Spearman between the iterations at which "
                     "two runs first get each fact right, over the facts both learn:\n\n" + table(agreement(folders)))
        if options["out"]:
            write_atomically(Path(options["out"]), text)
    except (FAILURES) as e:
        exit_with_error(e)
    print(text, end="")


if __name__ == "__main__":
    main()
