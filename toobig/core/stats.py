"""
The statistics every comparison in the READMEs states, in numpy and the standard
library only: exact tests for counts of seeds, a permutation test for rank
correlations, intervals for shares. Every random procedure takes a seed, so a
summary regenerates to the same digits.

    fisher_exact(3, 0, 0, 3)          # 3 of 3 seeds against 0 of 3: two-sided p = 0.1
    binomial_interval(5, 5)           # 95% Clopper-Pearson interval of 5 of 5: (0.478, 1.0)
    spearman_test(x, y)               # (rho, two-sided permutation p)
    permutation_test(x, y)            # two-sided p for a difference of two groups' means (or medians)
    stratified_spearman_test(x, y, widths)   # does x go with y within each width?
    bootstrap_interval(values)        # 95% percentile interval of the mean over resampled runs
    paired_permutation_test(d)        # two-sided p for matched differences: their signs flipped
    holm([0.01, 0.04, 0.03])          # Holm-adjusted p-values of one family: [0.03, 0.06, 0.06]
"""
import itertools
import math

import numpy as np


def ranks(values):
    """Ranks from 0, tied values sharing their mean rank: breaking ties by position would
    correlate any two lists that share an order, e.g. facts and the evaluation they are learned at."""
    values = np.asarray(values, dtype=float)
    order = np.empty(len(values))
    order[np.argsort(values, kind="stable")] = np.arange(len(values))
    _, tie_group = np.unique(values, return_inverse=True)
    return (np.bincount(tie_group, weights=order) / np.bincount(tie_group))[tie_group]


def spearman(x, y):
    """Spearman's rank correlation; nan where either list is constant (no order to compare)."""
    x, y = ranks(np.asarray(x)), ranks(np.asarray(y))
    if len(x) < 2 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def spearman_test(x, y, permutations=20000, seed=0):
    """(Spearman's rho, two-sided permutation p-value): the share of orderings of y whose
    |rho| is at least the observed one. Exact (every ordering) up to 8 points, else
    `permutations` seeded random ones, counting the observed one (p is never 0).
    (nan, nan) where rho is undefined."""
    x, y = ranks(x), ranks(y)
    rho = spearman(x, y)
    if math.isnan(rho):
        return rho, float("nan")
    if len(y) <= 8:
        shuffled = np.array(list(itertools.permutations(y)))
        extra = 0
    else:
        rng = np.random.default_rng(seed)
        shuffled = rng.permuted(np.tile(y, (permutations, 1)), axis=1)
        extra = 1
    xc = x - x.mean()
    yc = shuffled - shuffled.mean(axis=1, keepdims=True)
    rhos = (yc @ xc) / (np.linalg.norm(yc, axis=1) * np.linalg.norm(xc))
    at_least = int((np.abs(rhos) >= abs(rho) - 1e-12).sum())
    return rho, (at_least + extra) / (len(shuffled) + extra)


def permutation_test(x, y, statistic="mean", permutations=20000, seed=0):
    """Two-sided p-value for a difference between two groups (e.g. the held-out share of n14
    seeds against n28 seeds) in their mean or median: the share of relabellings of the pooled
    values whose |difference| is at least the observed one. Exact (every relabelling) up to
    20,000 of them, else `permutations` seeded random ones, counting the observed one."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) == 0 or len(y) == 0:
        raise ValueError("a permutation test needs values in both groups")
    if statistic not in ("mean", "median"):
        raise ValueError(f"statistic={statistic!r} is not allowed; choose mean or median")
    pooled = np.concatenate([x, y])
    if math.comb(len(pooled), len(x)) <= permutations:
        masks = np.zeros((math.comb(len(pooled), len(x)), len(pooled)), dtype=bool)
        for row, chosen in enumerate(itertools.combinations(range(len(pooled)), len(x))):
            masks[row, list(chosen)] = True
        extra = 0
    else:
        rng = np.random.default_rng(seed)
        masks = rng.permuted(np.tile(np.arange(len(pooled)), (permutations, 1)), axis=1) < len(x)
        extra = 1
    if statistic == "mean":
        observed = abs(x.mean() - y.mean())
        diffs = np.abs((masks @ pooled) / len(x) - (~masks @ pooled) / len(y))
    else:
        observed = abs(np.median(x) - np.median(y))
        groups = np.broadcast_to(pooled, masks.shape)
        diffs = np.abs(np.median(groups[masks].reshape(len(masks), len(x)), axis=1)
                       - np.median(groups[~masks].reshape(len(masks), len(y)), axis=1))
    return (int((diffs >= observed - 1e-12).sum()) + extra) / (len(masks) + extra)


def paired_permutation_test(differences, permutations=20000, seed=0):
    """Two-sided p-value for matched pairs (e.g. a held-out pair's share minus that of the pair
    with the same sum): the share of sign flips of the differences whose |mean| is at least the
    observed one. Exact (all 2^n flips) up to `permutations` of them, else seeded random ones,
    counting the observed one. With n pairs the smallest p is 2 / 2^n."""
    d = np.asarray(differences, dtype=float)
    if len(d) == 0:
        raise ValueError("a paired permutation test needs at least one difference")
    if 2 ** len(d) <= permutations:
        signs = 1 - 2 * ((np.arange(2 ** len(d))[:, None] >> np.arange(len(d))) & 1)
        extra = 0
    else:
        signs = np.random.default_rng(seed).choice([-1, 1], size=(permutations, len(d)))
        extra = 1
    observed = abs(d.mean())
    return (int((np.abs(signs @ d) / len(d) >= observed - 1e-12).sum()) + extra) / (len(signs) + extra)


def holm(pvalues):
    """Holm's step-down adjustment of one family's p-values (Holm 1979), in their order: the
    k-th smallest times (m - k + 1), made non-decreasing, at most 1. A test holds at level
    alpha after the correction where its adjusted p < alpha; the family-wise error rate is
    then at most alpha, whatever the dependence between the tests."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate(p[order] * (len(p) - np.arange(len(p)))))
    result = np.empty_like(adjusted)
    result[order] = adjusted
    return result.tolist()


def stratified_spearman_test(x, y, strata, permutations=5000, seed=0):
    """(mean within-stratum Spearman rho, two-sided p): whether x and y go together inside
    the strata (e.g. widths), the strata's own differences aside. y is shuffled within each
    stratum (seeded), and the mean rho over the strata where it is defined is compared."""
    x, y, strata = np.asarray(x, dtype=float), np.asarray(y, dtype=float), np.asarray(strata)
    groups = [np.flatnonzero(strata == s) for s in np.unique(strata)]
    groups = [g for g in groups if len(g) > 2 and not math.isnan(spearman(x[g], y[g]))]
    if not groups:
        return float("nan"), float("nan")

    def mean_rho(values):
        return float(np.mean([spearman(x[g], values[g]) for g in groups]))
    observed = mean_rho(y)
    rng = np.random.default_rng(seed)
    at_least = 0
    for _ in range(permutations):
        shuffled = y.copy()
        for g in groups:
            shuffled[g] = y[rng.permutation(g)]
        at_least += abs(mean_rho(shuffled)) >= abs(observed) - 1e-12
    return observed, (at_least + 1) / (permutations + 1)


def _hypergeometric(k, row1, col1, total):
    return math.comb(col1, k) * math.comb(total - col1, row1 - k) / math.comb(total, row1)


def fisher_exact(a, b, c, d):
    """Two-sided p-value of Fisher's exact test on the 2x2 table [[a, b], [c, d]] (e.g. seeds
    that do / do not generalize, for two sizes): the probability, with the margins fixed, of
    every table no more likely than the observed one."""
    if min(a, b, c, d) < 0:
        raise ValueError(f"a 2x2 table of counts cannot hold a negative count: {[[a, b], [c, d]]}")
    row1, col1, total = a + b, a + c, a + b + c + d
    low, high = max(0, row1 + col1 - total), min(row1, col1)
    observed = _hypergeometric(a, row1, col1, total)
    p = sum(q for k in range(low, high + 1) if (q := _hypergeometric(k, row1, col1, total)) <= observed * (1 + 1e-9))
    return min(1.0, p)


def _binomial_pmf(n, p):
    """P(X = 0..n) for X ~ Binomial(n, p), in log space so that large n does not overflow."""
    i = np.arange(n + 1)
    log_choose = np.concatenate([[0.0], np.cumsum(np.log((n - i[1:] + 1) / i[1:]))])
    with np.errstate(divide="ignore", invalid="ignore"):
        log_pmf = log_choose + np.where(i > 0, i * np.log(p), 0) + np.where(i < n, (n - i) * np.log1p(-p), 0)
    return np.exp(log_pmf)


def _binomial_cdf(k, n, p):
    return float(_binomial_pmf(n, p)[:k + 1].sum())


def binomial_test(k, n, p=0.5):
    """Two-sided exact binomial p-value of k successes in n trials of probability p (e.g. a
    sign test: runs on one side of a middle, p = 0.5)."""
    probs = _binomial_pmf(n, p)
    return min(1.0, float(probs[probs <= probs[k] * (1 + 1e-9)].sum()))


def binomial_interval(k, n, level=0.95):
    """Clopper-Pearson (exact) interval of a share k of n, by bisection on the binomial CDF."""
    if not 0 <= k <= n or n == 0:
        raise ValueError(f"a share needs 0 <= k <= n and n > 0, got {k} of {n}")
    tail = (1 - level) / 2

    def solve(f):  # the p in [0, 1] where the decreasing f crosses 0
        low, high = 0.0, 1.0
        for _ in range(60):
            mid = (low + high) / 2
            low, high = (mid, high) if f(mid) > 0 else (low, mid)
        return (low + high) / 2
    lower = 0.0 if k == 0 else solve(lambda p: tail - (1 - _binomial_cdf(k - 1, n, p)))
    upper = 1.0 if k == n else solve(lambda p: _binomial_cdf(k, n, p) - tail)
    return lower, upper


def bootstrap_interval(values, statistic=np.mean, level=0.95, resamples=10000, seed=0):
    """Percentile bootstrap interval of statistic(values), resampling the values (e.g. one per
    run) with replacement, seeded."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        raise ValueError("a bootstrap interval needs at least one value")
    rng = np.random.default_rng(seed)
    draws = values[rng.integers(0, len(values), size=(resamples, len(values)))]
    stats = np.array([statistic(row) for row in draws]) if statistic is not np.mean else draws.mean(axis=1)
    tail = 100 * (1 - level) / 2
    return float(np.percentile(stats, tail)), float(np.percentile(stats, 100 - tail))


def t_quantile(q, df, points=200001):
    """The q-quantile (0.5 <= q < 1) of Student's t with df degrees of freedom, numpy alone (no
    scipy): with t = sqrt(df) tan(u), t's density is proportional to cos(u)^(df - 1) on
    (-pi/2, pi/2), so its distribution is a bounded integral, taken by the trapezoid rule on
    `points` points and inverted by interpolation (to about 1e-6 for df 1 to 100)."""
    if not (0.5 <= q < 1 and df >= 1):
        raise ValueError(f"t_quantile needs 0.5 <= q < 1 and df >= 1, not q={q}, df={df}")
    u = np.linspace(0.0, math.pi / 2, points)
    density = np.cos(u) ** (df - 1)
    mass = np.concatenate([[0.0], np.cumsum((density[1:] + density[:-1]) / 2)])
    return float(math.sqrt(df) * math.tan(np.interp(2 * q - 1, mass / mass[-1], u)))


def t_interval(values, level=0.95):
    """(mean, low, high): the mean of `values` (e.g. one per seed) and its Student t interval at
    `level`, the interval for a mean of a few runs (a bootstrap of three values is no interval);
    low and high are nan for fewer than two values."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        raise ValueError("a t interval needs at least one value")
    mean = float(values.mean())
    if len(values) < 2:
        return mean, math.nan, math.nan
    half = t_quantile(0.5 + level / 2, len(values) - 1) * float(values.std(ddof=1)) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def mean_interval(shares):
    """'63% [45-80]': the mean of shares (one per run) and its 95% bootstrap interval, for tables."""
    low, high = bootstrap_interval(shares)
    return f"{100 * np.mean(shares):.0f}% [{100 * low:.0f}-{100 * high:.0f}]"


def format_p(p):
    """p = 0.031, p = 0.00042, p < 1e-4: two significant digits, for tables."""
    if math.isnan(p):
        return "–"
    return "p < 1e-4" if p < 1e-4 else f"p = {p:.2g}"


def median_range(values):
    """'14 (12-14)': the median of the values and their range, for tables."""
    return f"{np.median(values):g} ({min(values)}-{max(values)})"


def median_or_none(values):
    """'+1.2', the median of the values that are not NaN, or 'none' where none is, for tables."""
    values = [v for v in values if not np.isnan(v)]
    return f"{np.median(values):+.1f}" if values else "none"
