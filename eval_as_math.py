"""
Score a checkpoint on every arithmetic expression (docs/STUDY.md §4): a 10x10 grid per
operation (rows a, columns b, cell = correct samples out of num_samples), the
held-out cells (the run's held-out pair) in brackets, and totals.

    python eval_as_math.py --out_dir=out/math_mini_14 --ckpt=ckpt_best_math.pt
    python eval_as_math.py --out_dir=out/both_mini_28 --operation=subtraction --greedy --json
"""
import json
import sys

from configurator import exit_with_error, parse_args
from toobig.core.devices import MACHINE_ERRORS
from toobig.runs.scoring import CLI_DEFAULTS, evaluate_checkpoint, scored_line
from toobig.study.evaluation import math_grids
from toobig.study.tasks import DIGITS, held_out_expressions, held_out_label

OPERATION_SYMBOLS = {"addition": "+", "subtraction": "-", "both": "+-"}


def report(items, header):
    withheld = held_out_expressions(header["held_out"])
    held = [i for i in items if i.key in withheld]
    by_op = {}
    for name, op in (("addition", "+"), ("subtraction", "-")):
        chosen = [i for i in items if i.key[1] == op]
        if chosen:
            by_op[name] = {"grid": math_grids(chosen)[op], "correct": sum(i.correct for i in chosen),
                           "total": sum(i.total for i in chosen)}
    return {**header, **by_op, "samples": items[0].total if items else 0, "heldout": {
        "correct": sum(i.correct for i in held), "total": sum(i.total for i in held),
        "pair": header["held_out"], "items": {i.name: i.correct for i in held}}}


def print_report(result):
    print(f"{scored_line(result)}, {result['sampling']}")
    withheld = held_out_expressions(result["held_out"])
    for name, op in (("addition", "+"), ("subtraction", "-")):
        if name not in result:
            continue
        part = result[name]
        print(f"\n{name}: cell = correct samples of {result['samples']} for a{op}b; [ ] = held out")
        print("a\\b " + "".join(f"{b:>5}" for b in DIGITS))
        for a in DIGITS:
            cells = "".join(f"[{n:>2}]".rjust(5) if (a, op, b) in withheld else f"{n:>5}"
                            for b, n in enumerate(part["grid"][a]))
            print(f"{a:>3} {cells}")
        print(f"{name}: {part['correct']}/{part['total']} ({100 * part['correct'] / part['total']:.1f}%)")
    held = result["heldout"]
    detail = ", ".join(f"{k}: {v}" for k, v in held["items"].items())
    print(f"\nheld-out {held_out_label(held['pair'])}: {held['correct']}/{held['total']} ({detail})")


def main(argv=None):
    try:
        config = parse_args({**CLI_DEFAULTS, "operation": "both"}, sys.argv[1:] if argv is None else argv,
                            allow_config_files=False)
        if config["operation"] not in OPERATION_SYMBOLS:
            raise ValueError(f"--operation={config['operation']} is not allowed; "
                             f"choose one of {', '.join(OPERATION_SYMBOLS)}")
        items, header = evaluate_checkpoint(config, "math")
        items = [item for item in items if item.key[1] in OPERATION_SYMBOLS[config["operation"]]]
    except (ValueError, *MACHINE_ERRORS) as e:
        exit_with_error(e)
    result = report(items, header)
    if config["json"]:
        print(json.dumps(result))
    else:
        print_report(result)


if __name__ == "__main__":
    main()
