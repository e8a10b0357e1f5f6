"""
The wrong answers of a held-out sweep (runs that each withhold another digit pair),
tallied and tested against what results/README.md's mechanism predicts: a subtraction
with a difference of 1 answered 0, the sign kept where the size is missed, and which
held-out pairs fail. tools/why.py writes them into its report.
"""
import json
from pathlib import Path

from toobig.core.stats import binomial_test, fisher_exact, format_p
from toobig.runs.reading import read_run_json
from toobig.study.tasks import (
    OPERATORS,
    get_task,
    held_out_expressions,
    math_expressions,
)
from toobig.study.training_config import saved_config


def held_out_answers(sweep):
    """Every held-out expression of every run of a held-out sweep, with the answer it was given at
    the run's last evaluation: its most common wrong sample there (answers.json; at temperature
    0.01 the ten samples nearly always agree), or the right answer where no sample was wrong.
    [(run, width, expression, right answer, answer given, whether a training line of its operator
    has its result)]. Raises ValueError where the sweep holds no arithmetic-only run with answers.json."""
    answers = []
    for folder in sorted(p for p in Path(sweep).iterdir() if (p / "answers.json").is_file()):
        config = saved_config(read_run_json(folder / "run.json"))
        if get_task(config["dataset"]).parts != ("math",):
            continue
        try:
            wrong = json.loads((folder / "answers.json").read_text())["last"]["wrong"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise ValueError(f"{folder / 'answers.json'} is not an answers file (a 'last' entry with 'wrong')") from None
        withheld = held_out_expressions(config["held_out"])
        seen = {(op, OPERATORS[op](a, b)) for a, op, b in math_expressions() if (a, op, b) not in withheld}
        for a, op, b in held_out_expressions(config["held_out"]):
            right = OPERATORS[op](a, b)
            answers.append((folder.name, config["n_embd"], f"{a}{op}{b}", right, wrong.get(f"{a}{op}{b}", str(right)),
                            (op, right) in seen))
    if not answers:
        raise ValueError(f"{sweep} holds no arithmetic-only run with answers.json")
    return answers


def pair_of(expression):
    """'(a,b)', a < b, of a held-out expression: '7-5' -> '(5,7)'."""
    a, b = sorted((int(expression[0]), int(expression[2])))
    return f"({a},{b})"


def errors_section(answers, widths):
    """What the held-out sweep's runs of `widths` answer where they are wrong, and the three
    predictions of results/README.md's mechanism tested on it."""
    mine = [t for t in answers if t[1] in widths]
    if not mine:
        return []
    wrong = [t for t in mine if t[4] != str(t[3])]
    number = [t for t in wrong if t[4].lstrip("-").isdigit()]
    near = [t for t in number if abs(int(t[4]) - t[3]) == 1]
    # a subtraction a-b lies between a-a and b-b (mechanism.chord_offset), both answered 0; counted
    # over subtractions whose result a training line has (0-9, 9-0 left out), and per run, the unit
    # that is independent (a run holds out two subtractions)
    subtractions = [t for t in mine if t[2][1] == "-" and t[5]]
    one = [t for t in subtractions if abs(t[3]) == 1]
    more = [t for t in subtractions if abs(t[3]) > 1]
    zero_one, zero_more = sum(t[4] == "0" for t in one), sum(t[4] == "0" for t in more)
    runs_one, runs_more = {t[0] for t in one}, {t[0] for t in more}
    zero_runs_one, zero_runs_more = len({t[0] for t in one if t[4] == "0"}), len({t[0] for t in more if t[4] == "0"})
    left_out = [t for t in mine if t[2][1] == "-" and not t[5]]
    missed = [t for t in number if t[2][1] == "-" and t[5]]
    # one step toward 0 (for a difference of 1 that is 0 itself), by difference: is "answered 0" more
    # than the off-by-one-toward-0 that every difference shows?
    def toward_zero(group):
        return sum(t[4].lstrip("-").isdigit() and abs(int(t[4])) == abs(t[3]) - 1
                   and (int(t[4]) == 0 or (int(t[4]) < 0) == (t[3] < 0)) for t in group)
    step_one, step_more = toward_zero(one), toward_zero(more)
    smaller = sum(abs(int(t[4])) < abs(t[3]) for t in missed)
    larger = sum(abs(int(t[4])) > abs(t[3]) for t in missed)
    signed = [t for t in missed if t[4] != "0"]
    same_sign = sum((int(t[4]) < 0) == (t[3] < 0) for t in signed)
    # a pair is predicted to fail where its difference is 1 or a subtraction's result no training line has
    runs = {t[0] for t in mine}
    predicted = {run for run in runs if any(t[0] == run and t[2][1] == "-" and (abs(t[3]) == 1 or not t[5]) for t in mine)}
    failed = {t[0] for t in wrong}
    hit, other = len(predicted & failed), len((runs - predicted) & failed)
    name = "n" + "/n".join(map(str, sorted({t[1] for t in mine})))
    return [f"### {name}: {len({t[0] for t in mine})} runs, {len(mine)} held-out expressions", "",
            f"- {len(wrong)} not right at the last evaluation; the wrong answer is one away from the right one in {len(near)}.",
            f"- Held-out subtractions whose result a training line has, answered 0: with a difference of 1, {zero_one} of "
            f"{len(one)}; with a larger difference, {zero_more} of {len(more)}. Per run: {zero_runs_one} of {len(runs_one)} "
            f"runs answer one of theirs 0, against {zero_runs_more} of {len(runs_more)} (Fisher exact "
            f"{format_p(fisher_exact(zero_runs_one, len(runs_one) - zero_runs_one, zero_runs_more, len(runs_more) - zero_runs_more))}). "
            f"One step toward 0 (0 itself for a difference of 1): {step_one} of {len(one)} against {step_more} of {len(more)} "
            f"(Fisher exact {format_p(fisher_exact(step_one, len(one) - step_one, step_more, len(more) - step_more))}). "
            f"Left out, their result on no training line: {', '.join(f'{t[0]} {t[2]} answered {t[4]}' for t in left_out) or 'none'}.",
            f"- Wrong held-out subtractions whose result a training line has (numbers only): {len(missed)}; the answer's size is "
            f"smaller than the right one's in {smaller}, larger in {larger} (sign test {format_p(binomial_test(smaller, smaller + larger))}); "
            f"the sign is right in {same_sign} of the {len(signed)} that are not 0.",
            f"- Runs holding out a pair predicted to fail (a difference of 1, or a subtraction whose result no training line "
            f"has: {', '.join(sorted({pair_of(t[2]) for t in mine if t[0] in predicted}))}) with at least one of the four wrong: "
            f"{hit} of {len(predicted)}; runs holding out "
            f"other pairs: {other} of {len(runs) - len(predicted)} "
            f"(Fisher exact {format_p(fisher_exact(hit, len(predicted) - hit, other, len(runs) - len(predicted) - other))}).",
            "- " + "; ".join(f"{run}: {e} = {right}, answered {given}" for run, _, e, right, given, _ in wrong), ""]
