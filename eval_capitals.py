"""
Score a checkpoint on the 50 capital-city facts (docs/STUDY.md §4): per country the
correct samples, and for each miss what the model wrote.

    python eval_capitals.py --out_dir=out/facts_mini_28 --ckpt=ckpt_best_facts.pt
    python eval_capitals.py --out_dir=out/both_mini_56 --greedy --json
    python eval_capitals.py --out_dir=results/facts_mini_28 --ckpt=model_best.pt   # the count its results.csv has at that evaluation

By default the checkpoint is scored exactly as training scored it (its sampling,
its seed + iteration, its whole task in training's order); --seed and the
sampling options replace the run's.
"""
import json
import sys

from configurator import exit_with_error, parse_args
from toobig.core.devices import MACHINE_ERRORS
from toobig.runs.scoring import CLI_DEFAULTS, evaluate_checkpoint, scored_line


def report(items, header):
    countries = [{"country": item.name, "capital": item.expected, "correct": item.correct, "total": item.total,
                  "wrote": dict(item.wrong.most_common())} for item in items]
    return {**header, "countries": countries, "correct": sum(i.correct for i in items),
            "total": sum(i.total for i in items)}


def print_report(result):
    print(f"{scored_line(result)}, {result['sampling']}\n")
    for c in result["countries"]:
        wrote = "; ".join(f"{text!r} x{n}" for text, n in c["wrote"].items())
        print(f"{c['country']:<16} {c['capital']:<14} {c['correct']:>3}/{c['total']}"
              + (f"   wrote {wrote}" if wrote else ""))
    print(f"\nfacts: {result['correct']}/{result['total']} ({100 * result['correct'] / result['total']:.1f}%)")


def main(argv=None):
    try:
        config = parse_args(CLI_DEFAULTS, sys.argv[1:] if argv is None else argv, allow_config_files=False)
        items, header = evaluate_checkpoint(config, "facts")
    except (ValueError, *MACHINE_ERRORS) as e:
        exit_with_error(e)
    result = report(items, header)
    if config["json"]:
        print(json.dumps(result))
    else:
        print_report(result)


if __name__ == "__main__":
    main()
