"""
The claims table at the top of results/README.md (results/claims.md), computed
from the committed runs: each claim the paper or this repository makes about
what the runs show, its protocol, n, effect, test or interval, and a verdict
by the rule VERDICT_RULE states. Reads run folders and the sweeps' summary.csv
only; no torch.

    python claims.py                                    # writes results/claims.md
    python claims.py --root=results --out=results/claims.md
"""
import math
import sys
from pathlib import Path

import numpy as np

from configurator import exit_with_error, parse_args
from runs import (digest, first_learned, read_item_table, read_items, read_summary, strictly_between,
                  training_expressions, write_atomically)
from stats import binomial_test, bootstrap_interval, fisher_exact, format_p, mean_interval, permutation_test, spearman_test
from tasks import held_out_expressions

OPTIONS = {"root": "results", "out": "results/claims.md"}
ALPHA = 0.05
VERDICT_RULE = ("*holds* when the claimed direction shows at p < 0.05 (for a single run: as stated) under a "
                "protocol that does not select on the held-out items; *qualified* when only with that selection, in "
                "part, or not significant; *does not hold* when the measure says otherwise")


def sweep_runs(root, sweep, prefix, sizes, seeds, suffix=""):
    return [digest(root / sweep / f"{prefix}_n{n}_s{s}{suffix}") for n in sizes for s in seeds]


def frac(counted):
    return "{}/{}".format(*counted)


def contrast(group_a, group_b, test):
    """((k, n) of group_a, (k, n) of group_b, Fisher's two-sided p): the runs that pass `test`."""
    a, b = (sum(map(test, group_a)), len(group_a)), (sum(map(test, group_b)), len(group_b))
    return a, b, fisher_exact(a[0], a[1] - a[0], b[0], b[1] - b[0])


def verdict(p, right_direction, selected=False):
    """VERDICT_RULE, with the reason when it is not a plain 'holds'."""
    if not right_direction:
        return "does not hold"
    if p >= ALPHA:
        return f"qualified: not significant at this n (p >= {ALPHA})"
    return "qualified: only with the evaluation selected on the held-out items" if selected else "holds"


def row(claim, protocol, n, effect, test, verdict_):
    return {"claim": claim, "protocol": protocol, "n": n, "effect": effect, "test": test, "verdict": verdict_}


# --- the claims --------------------------------------------------------------------
def paper_single_run(root):
    """The paper's Table 2 rows on our seed-1337 runs, under each protocol."""
    n14 = digest(root / "math_mini_14")
    iters, names, counts = read_items(n14["folder"])
    chosen = list(iters).index(n14["train_best_iter"])
    missed = [f"{a}{op}{b}" for a, op, b in held_out_expressions() if counts[names.index(f"{a}{op}{b}"), chosen] < 10]
    rows = [row("Paper: n14 gets the held-out (5,7) four right, 40/40 (seed 1337)",
                "best combined accuracy, held-out four included (the paper's)", "1 run",
                f"{n14['at_best']:.0f}/40 at iteration {n14['best_iter']:,} (all four right at "
                f"{n14['evals_all_right']} of {n14['evals']} evaluations)", "–",
                "holds as reported (selected on the test items)"),
            row("... without selecting on the held-out four", "train-best; last; share of held-out samples right over "
                "the 2nd half; margins at the end", "1 run",
                f"{n14['heldout_at_train_best']}/40; {n14['at_last']:.0f}/40; {100 * n14['heldout_share_late']:.0f}%; "
                + ", ".join(f"{v:+.2f}" for v in n14["heldout_margins_final"]), "–",
                f"qualified: {n14['heldout_at_train_best']}/40, it misses {', '.join(missed)}" if missed else "holds")]
    larger = [digest(root / name) for name in ("math_mini_28", "math_mini_56", "math_mlt")]
    rows.append(row("Paper: n28, n56 and MLT get none of the held-out four (0/40, seed 1337)",
                    "best (the paper's); train-best; last; ever", "3 runs",
                    "; ".join(f"{'n' + str(d['n_embd']) if d['n_embd'] < 100 else 'MLT'}: {d['at_best']:.0f}, "
                              f"{d['heldout_at_train_best']}, {d['at_last']:.0f}/40, all four "
                              f"{'at some evaluation' if d['ever'] else 'never'}" for d in larger), "–",
                    "holds without selection (train-best and last 0/40); the paper's protocol gives n28 "
                    f"{larger[0]['at_best']:.0f}/40" if any(d["at_best"] for d in larger) else "holds"))
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
    groups = {n: [digest(root / f"math_mini_{n}")] + sweep_runs(root, "sweeps/math", "math", [n], range(1, 6))
              for n in (14, 28)}
    n14, n28 = groups[14], groups[28]
    rows = []
    for protocol, test_fn, selected in (
            ("held-out four all right at some evaluation (selected on them)", lambda d: d["ever"], True),
            ("held-out four all right at the evaluation the training items pick", lambda d: d["heldout_at_train_best"] == 40, False),
            ("held-out four all right at the last evaluation", lambda d: d["at_last"] == 40, False)):
        a, b, p = contrast(n14, n28, test_fn)
        rows.append(row("n14 generalizes to (5,7), n28 does not (seeds 1-5 and 1337)", protocol, f"{a[1]} + {b[1]} runs",
                        f"n14 {frac(a)}, n28 {frac(b)}", f"Fisher {format_p(p)}", verdict(p, a[0] > b[0], selected)))
    x, y = [d["heldout_share_late"] for d in n14], [d["heldout_share_late"] for d in n28]
    p = permutation_test(x, y)
    rows.append(row("... as a share, with no evaluation selected", "held-out samples right over the 2nd half of "
                    "training, mean [95% bootstrap interval]", f"{len(x)} + {len(y)} runs",
                    f"n14 {mean_interval(x)}, n28 {mean_interval(y)}", f"permutation {format_p(p)}",
                    verdict(p, np.mean(x) > np.mean(y))))
    x = [min(d["heldout_margins_final"]) for d in n14 if d["heldout_margins_final"]]
    y = [min(d["heldout_margins_final"]) for d in n28 if d["heldout_margins_final"]]
    p = permutation_test(x, y)
    rows.append(row("... as a margin: n14 is near the rule, n28 far from it", "smallest of the held-out four's logit "
                    "margins at the last evaluation, median (range)", f"{len(x)} + {len(y)} runs",
                    f"n14 {np.median(x):+.1f} ({min(x):+.1f} to {max(x):+.1f}), n28 {np.median(y):+.1f} "
                    f"({min(y):+.1f} to {max(y):+.1f})", f"permutation {format_p(p)}", verdict(p, np.mean(x) > np.mean(y))))
    return rows


def facts_capacity(root):
    """The paper's claim 2: n14 cannot memorize the 50 facts, n28 can."""
    n14 = [digest(root / "facts_mini_14")] + sweep_runs(root, "sweeps/facts", "facts", [14], range(1, 4))
    n28 = [digest(root / "facts_mini_28")] + sweep_runs(root, "seeds_facts_28", "facts", [28], range(1, 6))
    a, b, p = contrast(n28, n14, lambda d: d["facts_at_best"] == 1.0)
    x, y = [d["facts_last"] for d in n28], [d["facts_last"] for d in n14]
    p_last = permutation_test(x, y)
    return [row("Paper: n14 cannot memorize the 50 facts, n28 can (seeds 1-5 / 1-3, and 1337)",
                "best facts accuracy (the facts are the training items); last evaluation", f"{a[1]} + {b[1]} runs",
                f"all 50 at best: n28 {frac(a)}, n14 {frac(b)}; at the end n28 {mean_interval(x)}, "
                f"n14 {mean_interval(y)}", f"Fisher {format_p(p)}; permutation (end) {format_p(p_last)}",
                verdict(max(p, p_last), a[0] / a[1] > b[0] / b[1]))]


def joint_training(root):
    """The paper's claim 3: trained on both tasks, no model generalizes."""
    joint = [digest(root / f"both_mini_14{s}") for s in ("", "_wd")] + sweep_runs(
        root, "seeds_both_14_wd", "both", [14], range(1, 6), "_wd0.1")
    alone = [digest(root / f"math_mini_14{s}") for s in ("", "_wd")] + sweep_runs(root, "sweeps/math", "math", [14],
                                                                                  range(1, 6))
    larger = [digest(root / f"both_mini_{n}{s}") for n in (28, 56) for s in ("", "_wd")]
    a, b, p = contrast(alone, joint, lambda d: d["ever"])
    x, y = [d["heldout_share_late"] for d in alone], [d["heldout_share_late"] for d in joint]
    p_share = permutation_test(x, y)
    return [row("Paper: trained on both tasks, no model generalizes (n14; n28 and n56 as well)",
                "held-out four all right at some evaluation; held-out share over the 2nd half",
                f"{a[1]} + {b[1]} n14 runs, {len(larger)} larger",
                f"n14 alone {frac(a)}, jointly {frac(b)}; share {mean_interval(x)} against "
                f"{mean_interval(y)}; n28/n56 jointly {sum(d['ever'] for d in larger)}/{len(larger)} (alone they "
                f"never do either)", f"Fisher {format_p(p)}; permutation {format_p(p_share)}",
                "holds for n14; at n28 and n56 there is nothing to remove" if max(p, p_share) < ALPHA else
                verdict(max(p, p_share), a[0] > b[0]))]


def window(root):
    """Generalization is a window of widths: too small (n8, n10) and too big (n20, n28) miss."""
    sweep = {n: sweep_runs(root, "sweeps/math", "math", [n], range(1, 6)) for n in (8, 10, 12, 14, 16, 20, 28)}
    middle = sweep[12] + sweep[14] + sweep[16]
    rows = []
    for label, edge in (("small: n8, n10", sweep[8] + sweep[10]), ("large: n20, n28", sweep[20] + sweep[28])):
        a, b, p_ever = contrast(middle, edge, lambda d: d["ever"])
        c, e, p_chosen = contrast(middle, edge, lambda d: d["heldout_at_train_best"] == 40)
        x, y = [d["heldout_share_late"] for d in middle], [d["heldout_share_late"] for d in edge]
        p_share = permutation_test(x, y)
        rows.append(row(f"n12-n16 generalize more than the {label} widths (seeds 1-5)",
                        "held-out four all right: at some evaluation / at the train-best evaluation; share over 2nd half",
                        f"{a[1]} + {b[1]} runs",
                        f"{frac(a)} vs {frac(b)}; {frac(c)} vs {frac(e)}; "
                        f"{mean_interval(x)} vs {mean_interval(y)}",
                        f"Fisher {format_p(p_ever)}, {format_p(p_chosen)}; permutation {format_p(p_share)}",
                        "holds (as a share, and for all four with selection)" if p_share < ALPHA and p_ever < ALPHA
                        and np.mean(x) > np.mean(y) else "qualified: all four together only, selected on them; the "
                        "share is alike (they answer three of the four)" if p_ever < ALPHA else
                        verdict(p_share, np.mean(x) > np.mean(y))))
    return rows


def greedy_samples(root):
    folders = sorted({path.resolve().parent for path in Path(root).glob("**/items.csv")})
    shares = [strictly_between(read_items(folder)[2], 10) for folder in folders]
    low, high = bootstrap_interval(shares)
    return [row("Ten samples at temperature 0.01 are one greedy answer", "share of item cells (item x evaluation) "
                "whose ten samples disagree, mean over all committed runs with items", f"{len(folders)} runs",
                f"{100 * np.mean(shares):.2f}% (largest run {100 * max(shares):.1f}%)",
                f"bootstrap 95% {100 * low:.2f}-{100 * high:.2f}%", "holds" if high < 0.05 else "does not hold")]


def rule_before_fit(root):
    """The fair comparison: the held-out four against the 44 training quadruples of their form."""
    runs = [d for d in sweep_runs(root, "sweeps/math", "math", (8, 10, 12, 14, 16, 20, 28), range(1, 6))
            + [digest(root / "math_mini_14")] if d["heldout_quadruple_rank"] is not None]
    others = [d for d in read_summary(root / "sweeps/held_out/summary.csv")
              if d["held_out"] != "5:7" and d["heldout_quadruple_rank"] is not None]
    places = [d["heldout_quadruple_rank"] for d in runs + others]
    early = sum(p < 23 for p in places)
    p = binomial_test(early, len(places))
    seen = sum(bool(d["all_training_seen_before_heldout"]) for d in runs + others)
    return [row("The rule comes before the fit (README until now: 13 of 14 runs)", "place of the held-out four among "
                "the 45 quadruples c+d, d+c, c-d, d-c when first all right (1 = first; 23 = a quadruple like any "
                "other); runs that ever get all four", f"{len(places)} runs ({len(runs)} on (5,7): arithmetic sweep "
                f"and seed 1337; {len(others)} on the other pairs)",
                f"median place {np.median(places):g}; earlier than the middle in {early} of {len(places)}; every "
                f"training expression already right at some evaluation by then in {seen} of {len(places)}",
                f"sign test {format_p(p)}",
                "does not hold: the held-out four come among the last" if np.median(places) > 23 and p < ALPHA
                else verdict(p, np.median(places) < 23))]


def fit_kept(root):
    """Do the larger models hold their fit while n14's training expressions come and go? And
    does n14 store the table at all?"""
    groups = {n: sweep_runs(root, "sweeps/math", "math", [n], range(1, 6)) + [digest(root / f"math_mini_{n}")]
              for n in (14, 28)}
    n56 = digest(root / "math_mini_56")
    x = [d["train_fit_kept"] for d in groups[14] if d["train_fit_kept"] is not None]
    y = [d["train_fit_kept"] for d in groups[28] if d["train_fit_kept"] is not None]
    p = permutation_test(x, y)
    items = read_items(root / "math_mini_14")
    fit = (items[2][[items[1].index(n) for n in training_expressions()]] == 10).all(axis=0)
    return [row("n28 and n56 hold their fit; n14's training expressions keep coming and going (README until now)",
                "share of the evaluations after the first with all 196 training expressions right that have them "
                "all again", f"{len(x)} + {len(y)} runs, and n56 (1337)",
                f"n14 {mean_interval(x)}, n28 {mean_interval(y)}, n56 {100 * n56['train_fit_kept']:.0f}%",
                f"permutation {format_p(p)}", "does not hold as worded" if p >= ALPHA or np.mean(x) >= np.mean(y)
                else "holds"),
            row("n14 finds the rule while too small to store the table (README until now)",
                "evaluations with all 196 training expressions right (seed 1337)", "1 run",
                f"{int(fit.sum())} of {len(fit)} evaluations", "–", "does not hold: n14 stores the table"
                if fit.sum() > 0 else "holds")]


def correlation(claim, protocol, rows, x, y):
    """A claim that two columns of summary rows go together: Spearman across all rows and within
    each width, with permutation p-values; across widths alone it is mostly width."""
    rho, p = spearman_test([r[x] for r in rows], [r[y] for r in rows])
    within = []
    for n in sorted({r["n_embd"] for r in rows}):
        group = [r for r in rows if r["n_embd"] == n]
        rho_n, p_n = spearman_test([r[x] for r in group], [r[y] for r in group])
        if not math.isnan(rho_n):
            within.append((f"n{n} {rho_n:+.2f} ({format_p(p_n)}, {len(group)})", p_n))
    return row(claim, protocol + "; Spearman across widths and within each (runs)", f"{len(rows)} runs",
               f"across {rho:+.2f}; within: " + "; ".join(text for text, _ in within),
               f"permutation {format_p(p)} across", "qualified: across widths only (within one width p >= 0.05)"
               if p < ALPHA and all(p_n >= ALPHA for _, p_n in within) else verdict(p, rho > 0))


def correlations(root):
    summary = read_summary(root / "sweeps/math/summary.csv")
    return [correlation("The later a run fits, the longer it keeps the rule", "first evaluation with all 196 right "
                        "against evaluations with the held-out four right (runs that fit)",
                        [r for r in summary if r["first_iter_train_all_right"] is not None],
                        "first_iter_train_all_right", "evals_heldout_all_right"),
            correlation("A straighter number line of the digits goes with more held-out samples right (correlational)",
                        "number-line score against held-out samples right, last evaluation", summary,
                        "number_line_final", "final_heldout")]


def held_out_pairs(root):
    """Is it (5,7)? n28 never; n14 by the held-out difference."""
    summary = [d for d in read_summary(root / "sweeps/held_out/summary.csv") if d["n_embd"] in (14, 28)]
    n28 = [d for d in summary if d["n_embd"] == 28]
    n14 = [d for d in summary if d["n_embd"] == 14]
    ever = lambda d: d["first_iter_heldout_all_right"] is not None  # noqa: E731
    a, b, p = contrast(n14, n28, ever)
    chosen_14, chosen_28, p_chosen = contrast(n14, n28, lambda d: d["heldout_at_train_best"] == 40)

    def difference(d):
        low, high = map(int, d["held_out"].split(":"))
        return high - low
    mid = [d for d in n14 if 2 <= difference(d) <= 5]
    edge = [d for d in n14 if difference(d) in (1, 9)]
    c, e, q = contrast(mid, edge, ever)
    x, y = [d["heldout_share_late"] for d in mid], [d["heldout_share_late"] for d in edge]
    p_share = permutation_test(x, y)
    return [row("Whatever pair is held out, n14 generalizes more often than n28 (7 pairs, seeds 1-3)",
                "held-out four all right at some evaluation (selected on them); at the train-best evaluation",
                f"{a[1]} + {b[1]} runs", f"n14 {frac(a)}, n28 {frac(b)}; train-best: n14 {frac(chosen_14)}, "
                f"n28 {frac(chosen_28)}", f"Fisher {format_p(p)}; train-best {format_p(p_chosen)}",
                verdict(p_chosen, chosen_14[0] > chosen_28[0])),
            row("n14 finds held-out differences of 2-5, not of 1 or 9 (4 and 3 pairs, seeds 1-3)",
                "held-out four all right at some evaluation (selected on them); held-out share over the 2nd half; "
                "n14, by the pair's difference", f"{c[1]} + {e[1]} runs",
                f"differences 2-5: {frac(c)}, 1 or 9: {frac(e)}; share {mean_interval(x)} against "
                f"{mean_interval(y)}", f"Fisher {format_p(q)}; permutation {format_p(p_share)}",
                verdict(p_share, np.mean(x) > np.mean(y)) if q < ALPHA else verdict(q, c[0] / c[1] > e[0] / e[1], True))]


def facts_order(root):
    """Long answers are learned last: per run, Spearman between a fact's answer length and the
    first evaluation with all its samples right; how many runs agree in sign."""
    from tasks import CAPITALS
    length = dict(CAPITALS)
    folders = [root / f"{task}_mini_{n}{s}" for task in ("facts", "both") for n in (14, 28, 56) for s in ("", "_wd")]
    folders += [root / "seeds_facts_28" / f"facts_n28_s{s}" for s in range(1, 6)]
    rhos = []
    for folder in folders:
        items = read_items(folder)
        countries = [name for name in items[1] if name in length]
        counts = items[2][[items[1].index(c) for c in countries]]
        first = first_learned(counts, 10)
        learned = [(len(length[c]), f) for c, f in zip(countries, first) if f < counts.shape[1]]
        if len(learned) > 2:
            rhos.append(spearman_test(*zip(*learned))[0])
    positive = sum(r > 0 for r in rhos)
    p = binomial_test(positive, len(rhos))
    return [row("Facts: long answers are memorized last", "per run, Spearman between answer length and the first "
                "evaluation with the fact all right; sign over runs", f"{len(rhos)} runs that learn 3 or more facts",
                f"positive in {positive} of {len(rhos)} (rho {min(rhos):+.2f} to {max(rhos):+.2f}, median "
                f"{np.median(rhos):+.2f})", f"sign test {format_p(p)}", verdict(p, positive > len(rhos) / 2))]


CLAIMS = [paper_single_run, size_contrast, facts_capacity, joint_training, window, greedy_samples, rule_before_fit,
          fit_kept, correlations, held_out_pairs, facts_order]


def claims_markdown(rows):
    header = ["claim", "protocol", "n", "effect", "test or interval", "verdict"]
    lines = ["# Claims and the evidence for them", "",
             "Computed by `python claims.py` from the committed runs. Protocols: *best* is the paper's (the "
             "evaluation with the best combined accuracy, the held-out four included, so selected on the test "
             "items); *train-best* is the evaluation with the best accuracy on the training items alone; *last* "
             "is the last evaluation; the *share over the 2nd half* selects nothing. Intervals are 95% (bootstrap "
             "over runs, or Clopper-Pearson); tests are two-sided and exact (Fisher, sign) or by permutation "
             f"(seeded). Verdicts: {VERDICT_RULE}.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        lines.append("| " + " | ".join(str(r[k]).replace("|", "/") for k in
                                         ("claim", "protocol", "n", "effect", "test", "verdict")) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    try:
        options = parse_args(OPTIONS, sys.argv[1:] if argv is None else argv, allow_config_files=False)
        root = Path(options["root"])
        if not root.is_dir():
            raise ValueError(f"--root={root} is not a folder")
        rows = [r for claim in CLAIMS for r in claim(root)]
    except (OSError, ValueError, KeyError) as e:
        exit_with_error(e)
    write_atomically(Path(options["out"]), claims_markdown(rows))
    print(f"wrote {options['out']}: {len(rows)} claims")


if __name__ == "__main__":
    main()
