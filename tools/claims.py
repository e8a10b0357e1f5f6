"""
The claims table at the top of results/README.md (results/claims.md), computed
from the committed runs: each claim the paper (here) or this repository
(toobig/reports/findings.py) makes about what the runs show, its protocol, n, effect, test or
interval, and a verdict by findings.VERDICT_RULE. Reads run folders and the
sweeps' summary.csv only; no torch.

    python tools/claims.py                                    # writes results/claims.md
    python tools/claims.py --root=results --out=results/claims.md
    python tools/claims.py --readme=README.md                 # and README.md's findings from the table
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the root, for python tools/<tool>.py from anywhere

import numpy as np

from configurator import FAILURES, exit_with_error, parse_args
from toobig.analysis.long_training import SETTINGS, TESTED_WIDTHS
from toobig.reports.findings import (FAMILIES, FAMILY_SIZES, FINDINGS, VERDICT_RULE, check_one_step, fisher_contrast,
                                     frac, row, settle, sweep_runs, verdict)
from toobig.core.files import write_atomically
from toobig.runs.reading import digest, in_repository, read_item_table, read_items
from toobig.core.stats import format_p, mean_interval, permutation_test
from toobig.study.tasks import held_out_expressions

OPTIONS = {"root": "results", "out": "results/claims.md",
           "readme": ""}  # a README.md whose findings block (README_START .. README_END) to rewrite from the table
README_START, README_END = "<!-- findings: from results/claims.md by tools/claims.py -->", "<!-- end of findings -->"
# the front page's findings: (the claim's first words, the protocol's first words) of the rows it shows
HEADLINE = [("Paper: n14 gets the held-out (5,7) four right", "best"),
            ("... as a share, with no evaluation selected", "held-out samples right over the 2nd half"),
            ("Whatever pair is held out", ""),
            ("Paper: n14 cannot memorize the 50 facts", "facts accuracy at the last"),
            ("Paper: trained on both tasks, n14 generalizes less than on arithmetic alone (weight decay 0,", ""),
            ("Paper: trained on both tasks, n14 generalizes less than on arithmetic alone (weight decay 0.1", ""),
            ("Pre-registered, 12 new pairs: n14 does worse on held-out pairs with a difference of 1 (1, primary)", ""),
            ("Held at norm 15, n28 generalizes more than free n28", ""),
            ("Held at norm 55, n14 generalizes less than free n14", ""),
            ("Omnigrok's reading, the norm held fixed", ""),
            *((f"Ten times longer ({setting}), n{n} generalizes more", "") for setting in SETTINGS for n in TESTED_WIDTHS),
            ("Capacity predicts who generalizes on addition alone", ""),
            ("Capacity against parameter count", "")]
# rows of tests whose runs may still be under way: shown once claims.md has them
PENDING = {claim for claim, _ in HEADLINE if claim.startswith("Ten times longer")}


def paper_single_run(root):
    """The paper's Table 2 rows on our seed-1337 runs, under each protocol."""
    n14 = digest(root / "math_mini_14")
    iters, names, counts = read_items(n14["folder"])
    chosen = list(iters).index(n14["train_best_iter"])
    missed = [f"{a}{op}{b}" for a, op, b in held_out_expressions()
              if counts[names.index(f"{a}{op}{b}"), chosen] < n14["eval_samples"]]
    rows = [row("Paper: n14 gets the held-out (5,7) four right, 40/40 (seed 1337)",
                "best combined accuracy, held-out four included (the paper's)", "1 run",
                f"{n14['at_best']:.0f}/40 at iteration {n14['best_iter']:,} (all four right at "
                f"{n14['evals_all_right']} of {n14['evals']} evaluations)", "–",
                "holds as reported (selected on the test items)" if n14["at_best"] == 40 else "does not hold"),
            row("... without selecting on the held-out four", "train-best (the first of its "
                f"{n14['train_best_ties']} tied evaluations; mean over them in brackets); last; share of held-out "
                "samples right over the 2nd half; margins at the end", "1 run",
                f"{n14['heldout_at_train_best']}/40 ({n14['heldout_over_train_best_ties']:.1f}); "
                f"{n14['at_last']:.0f}/40; {100 * n14['heldout_share_late']:.0f}%; "
                + ", ".join(f"{v:+.2f}" for v in n14["heldout_margins_final"]), "–",
                f"qualified: {n14['heldout_at_train_best']}/40, it misses {', '.join(missed)}" if missed else "holds")]
    larger = [digest(root / name) for name in ("math_mini_28", "math_mini_56", "math_mlt")]
    selected = [d for d in larger if d["at_best"]]
    unselected_zero = all(d["heldout_at_train_best"] == 0 and d["at_last"] == 0 for d in larger)
    rows.append(row("Paper: n28, n56 and MLT get none of the held-out four (0/40, seed 1337)",
                    "best (the paper's); train-best; last; ever", "3 runs (MLT on a GPU, torch step)",
                    "; ".join(f"{'n' + str(d['n_embd']) if d['n_embd'] < 100 else 'MLT'}: {d['at_best']:.0f}, "
                              f"{d['heldout_at_train_best']}, {d['at_last']:.0f}/40, all four "
                              f"{'at some evaluation' if d['ever'] else 'never'}" for d in larger), "–",
                    ("holds without selection (0/40 at train-best and last)" if unselected_zero else "qualified")
                    + "".join(f"; the paper's protocol gives n{d['n_embd']} {d['at_best']:.0f}/40" for d in selected)))
    margins = read_item_table(n14["folder"], "margins.csv")
    late = margins[0] >= n14["max_iters"] / 2
    median = {name: np.median(margins[2][margins[1].index(name)][late]) for name in ("5+7", "7+5", "5-7", "7-5")}
    values = margins[2][margins[1].index("5-7")]
    rows.append(row("n14's 5-7 = -2 rests on a small logit margin (seed 1337)", "margin of 5-7 at every evaluation "
                    "(margins.csv)", f"{len(values)} evaluations", f"> 0 at {int((values > 0).sum())} of {len(values)}; "
                    "median over the 2nd half " + ", ".join(f"{name} {m:+.2f}" for name, m in median.items()), "–",
                    "holds" if abs(median["5-7"]) < 1 else "does not hold"))
    return rows


def size_contrast(root):
    """n14 against n28 over seeds 1-5 and 1337, under each protocol."""
    n14, n28 = ([digest(root / f"math_mini_{n}")] + sweep_runs(root, "sweeps/math", "math", [n], range(1, 6))
                for n in (14, 28))
    rows = []
    for protocol, test_fn, selected in (
            ("held-out four all right at some evaluation (selected on them)", lambda d: d["ever"], True),
            ("held-out four all right at the train-best evaluation (the first with the best training accuracy)",
             lambda d: d["heldout_at_train_best"] == 40, False),
            ("held-out four all right at the last evaluation", lambda d: d["at_last"] == 40, False)):
        a, b, p = fisher_contrast(n14, n28, test_fn)
        rows.append(row("n14 generalizes to (5,7), n28 does not (seeds 1-5 and 1337)", protocol, f"{a[1]} + {b[1]} runs",
                        f"n14 {frac(a, interval=True)}, n28 {frac(b, interval=True)}", f"Fisher {format_p(p)}",
                        verdict(a[0] > b[0], selected), family="paper", p=p))
    x, y = [d["heldout_share_late"] for d in n14], [d["heldout_share_late"] for d in n28]
    p = permutation_test(x, y)
    rows.append(row("... as a share, with no evaluation selected", "held-out samples right over the 2nd half of "
                    "training, mean [95% bootstrap interval]", f"{len(x)} + {len(y)} runs",
                    f"n14 {mean_interval(x)}, n28 {mean_interval(y)}", f"permutation {format_p(p)}",
                    verdict(np.mean(x) > np.mean(y)), family="paper", p=p))
    x = [min(d["heldout_margins_final"]) for d in n14 if d["heldout_margins_final"]]
    y = [min(d["heldout_margins_final"]) for d in n28 if d["heldout_margins_final"]]
    p = permutation_test(x, y, statistic="median")
    rows.append(row("... as a margin: n14 is near the rule, n28 far from it", "smallest of the held-out four's logit "
                    "margins at the last evaluation, median (range)", f"{len(x)} + {len(y)} runs",
                    f"n14 {np.median(x):+.1f} ({min(x):+.1f} to {max(x):+.1f}), n28 {np.median(y):+.1f} "
                    f"({min(y):+.1f} to {max(y):+.1f})", f"permutation (medians) {format_p(p)}",
                    verdict(np.median(x) > np.median(y)), family="paper", p=p))
    return rows


def facts_capacity(root):
    """The paper's claim 2: n14 cannot memorize the 50 facts, n28 can."""
    n14 = [digest(root / "facts_mini_14")] + sweep_runs(root, "sweeps/facts", "facts", [14], range(1, 4))
    n28 = [digest(root / "facts_mini_28")] + sweep_runs(root, "seeds_facts_28", "facts", [28], range(1, 6))
    a, b, p = fisher_contrast(n28, n14, lambda d: d["facts_at_best"] == 1.0)
    x, y = [d["facts_last"] for d in n28], [d["facts_last"] for d in n14]
    p_last = permutation_test(x, y)
    return [row("Paper: n14 cannot memorize the 50 facts, n28 can (n28 seeds 1-5, n14 seeds 1-3, and 1337 each)",
                "facts accuracy at the last evaluation, mean [95% bootstrap] (the deciding measure since issue 37, "
                "chosen after the count was seen); all 50 at the best evaluation (the facts are the training items)",
                f"{len(x)} + {len(y)} runs",
                f"at the end n28 {mean_interval(x)}, n14 {mean_interval(y)}; all 50 at best: n28 {frac(a)}, n14 {frac(b)}",
                f"permutation (end) {format_p(p_last)} (deciding); Fisher {format_p(p)}",
                lambda q: verdict(np.mean(x) > np.mean(y))(q).replace(
                    "holds", f"holds as a share; all 50 at once in {a[0]} of {a[1]} n28 runs", 1)
                if a[0] < a[1] else verdict(np.mean(x) > np.mean(y))(q), family="paper", p=p_last)]


def joint_training(root):
    """The paper's claim 3: trained on both tasks, no model generalizes. At n14 on the task x
    weight-decay grid (seeds 1-5, one step): arithmetic alone against jointly within each weight
    decay, by the held-out share (no evaluation selected); the seed-1337 runs and n28/n56 as counts."""
    seeds = range(1, 6)
    alone = {0.0: sweep_runs(root, "sweeps/math", "math", [14], seeds),
             0.1: sweep_runs(root, "sweeps/task_decay", "math", [14], seeds, "_wd0.1")}
    joint = {0.0: sweep_runs(root, "sweeps/task_decay", "both", [14], seeds, "_wd0"),
             0.1: sweep_runs(root, "seeds_both_14_wd", "both", [14], seeds, "_wd0.1")}
    rows = []
    for decay in (0.0, 0.1):
        x, y = ([d["heldout_share_late"] for d in group[decay]] for group in (alone, joint))
        p = permutation_test(x, y)
        a, b, _ = fisher_contrast(alone[decay], joint[decay], lambda d: d["heldout_at_train_best"] == 40)
        c, e, _ = fisher_contrast(alone[decay], joint[decay], lambda d: d["ever"])
        rows.append(row(f"Paper: trained on both tasks, n14 generalizes less than on arithmetic alone (weight decay "
                        f"{decay:g}, seeds 1-5)", "held-out share over the 2nd half, mean [95% bootstrap]; held-out "
                        "four all right at the train-best evaluation; at some evaluation (selected on them)",
                        f"{len(x)} + {len(y)} runs", f"alone {mean_interval(x)}, jointly {mean_interval(y)}; "
                        f"train-best {frac(a)} vs {frac(b)}; ever {frac(c)} vs {frac(e)}",
                        f"permutation {format_p(p)}", verdict(np.mean(x) > np.mean(y)), family="joint", p=p))
    single = {(n, s): (digest(root / f"math_mini_{n}{s}"), digest(root / f"both_mini_{n}{s}"))
              for n in (14, 28, 56) for s in ("", "_wd")}
    rows.append(row("Paper: trained on both tasks, no model generalizes (seed 1337: n14, n28, n56, weight decay 0 "
                    "and 0.1)", "held-out four all right at some evaluation (selected on them); held-out share over "
                    "the 2nd half", f"{len(single)} + {len(single)} runs",
                    "; ".join(f"n{n}{' wd 0.1' if s else ''}: alone {'ever' if m['ever'] else 'never'} "
                              f"{100 * m['heldout_share_late']:.0f}%, jointly {'ever' if b['ever'] else 'never'} "
                              f"{100 * b['heldout_share_late']:.0f}%" for (n, s), (m, b) in single.items()), "–",
                    "holds as reported (single runs)" if not any(b["ever"] for _, b in single.values())
                    else "does not hold as worded: some joint run gets the four"))
    return rows


CLAIMS = [paper_single_run, size_contrast, facts_capacity, joint_training, *FINDINGS]


def family_size(rows, family):
    """'3 tests', or for a family whose size a pre-registration fixed (FAMILY_SIZES) '1 of its 2
    registered tests made' (Holm runs over the registered number)."""
    made = sum(r["family"] == family for r in rows)
    if family in FAMILY_SIZES:
        return f"{made} of its {FAMILY_SIZES[family]} registered tests made; Holm over {FAMILY_SIZES[family]}"
    return f"{made} test" + ("" if made == 1 else "s")


def claims_markdown(rows, step="fused"):
    """The claims table of settled rows (findings.settle), with its preamble; `step`, the one
    training step of the CPU runs (findings.check_one_step)."""
    header = ["claim", "protocol", "n", "effect", "test or interval", "family", "Holm p", "verdict"]
    lines = ["# Claims and the evidence for them", "",
             "Computed by `python tools/claims.py` from the committed runs. Protocols: *best* is the paper's (the "
             "evaluation with the best combined accuracy, the held-out four included, so selected on the test "
             "items); *train-best* is the evaluation with the best accuracy on the training items alone (the "
             "first of equal ones); *last* is the last evaluation; the *share over the 2nd half* selects nothing. "
             "Intervals are 95%: Clopper-Pearson for counts of runs, a percentile bootstrap over runs for means "
             "(rough at these n, and too narrow). Tests are two-sided: Fisher's exact and sign tests, permutation "
             "tests (exact, or 20,000 seeded relabellings), and for matched pairs a sign-flip permutation test "
             "(exact). Runs of one pair or width are counted as independent only where a row says so. The p-values in *test or interval* are raw; the one a row's verdict rests "
             "on (the only one, or the one marked *deciding*) belongs to a *family*, and *Holm p* is it after "
             "Holm's correction within that family (the others in a cell are uncorrected, descriptive). Every CPU "
             f"run these rows compare was trained with one training step, the {step} one (`step` in each run.json; "
             "`tools/claims.py` refuses a root that mixes them); the MLT runs were trained on a GPU. "
             f"Verdicts: {VERDICT_RULE}.", "", "Families:", "",
             *[f"- *{name}* ({family_size(rows, name)}): {text}" for name, text in FAMILIES.items()],
             "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [r["claim"], r["protocol"], r["n"], r["effect"], r["test"], r["family"] or "–",
                 "–" if r["p_holm"] is None else format_p(r["p_holm"]).removeprefix("p = ").removeprefix("p "),
                 r["verdict"]]
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def table_rows(markdown):
    """The rows of a claims table (claims_markdown's) as dicts of its columns."""
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    return [dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")))) for line in lines[1:]]


def headline_findings(markdown):
    """The front page's findings (HEADLINE) from a claims table, one bullet each with its
    protocol, n, test and verdict as the table states them. Raises ValueError for a missing row
    (a PENDING one is left out until its runs have finished)."""
    rows, bullets = table_rows(markdown), []
    for claim, protocol in HEADLINE:
        found = [r for r in rows if r["claim"].startswith(claim) and r["protocol"].startswith(protocol)]
        if not found and claim in PENDING:
            continue
        if not found:
            raise ValueError(f"the claims table has no row {claim!r} under protocol {protocol!r}")
        r = found[0]
        corrected = ("" if r["Holm p"] == "–" else
                     f"; the deciding test's p after Holm's correction: {r['Holm p']} (family *{r['family']}*)")
        bullets.append(f"- **{r['claim']}**: {r['verdict']}. {r['effect']} ({r['protocol']}; {r['n']}; "
                       f"{r['test or interval']}{corrected}).")
    return "\n".join(bullets)


def with_findings(readme, markdown):
    """README text with its findings block rewritten from the claims table."""
    start, end = readme.find(README_START), readme.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"the README has no findings block ({README_START} ... {README_END})")
    return readme[:start + len(README_START)] + "\n" + headline_findings(markdown) + "\n" + readme[end:]


def main(argv=None):
    try:
        options = parse_args(OPTIONS, sys.argv[1:] if argv is None else argv, allow_config_files=False)
        root = in_repository(options["root"])  # the committed results, from any working directory
        if not root.is_dir():
            raise ValueError(f"--root={root} is not a folder")
        step = check_one_step(root)
        rows = settle([r for claim in CLAIMS for r in claim(root)])
        markdown = claims_markdown(rows, step)
        readme = Path(options["readme"]) if options["readme"] else None
        if readme and not readme.is_file():
            raise ValueError(f"--readme={readme} is not a file; give the README.md whose findings to rewrite")
        new_readme = with_findings(readme.read_text(), markdown) if readme else None  # checked before any write
        out = Path(options["out"])
        write_atomically(in_repository(out.parent) / out.name, markdown)
        if readme:
            write_atomically(readme, new_readme)
    except (*FAILURES, KeyError) as e:
        exit_with_error(e)
    print(f"wrote {options['out']}: {len(rows)} claims")


if __name__ == "__main__":
    main()
