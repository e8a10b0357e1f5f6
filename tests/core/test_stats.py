"""toobig/core/stats.py on cases whose answers are known."""
import math

import numpy as np
import pytest

from toobig.core import stats


def test_spearman_gives_tied_values_their_mean_rank():
    # ties broken by position made these two unrelated lists correlate (+0.8)
    assert stats.spearman([1, 1, 2, 2], [1, 2, 1, 2]) == pytest.approx(0.0)
    assert stats.spearman([5, 5, 5, 9], [0, 1, 2, 3]) == pytest.approx(np.corrcoef([1, 1, 1, 3], [0, 1, 2, 3])[0, 1])
    assert stats.spearman([3, 1, 2], [30, 10, 20]) == pytest.approx(1.0)
    assert np.isnan(stats.spearman([0, 0, 0], [1, 2, 3]))  # nothing to rank: no correlation, no warning


def test_fisher_exact_matches_known_tables():
    assert stats.fisher_exact(3, 1, 1, 3) == pytest.approx(0.4857142857)  # Fisher's lady tasting tea
    assert stats.fisher_exact(1, 9, 11, 3) == pytest.approx(0.0027594562)  # (scipy.stats.fisher_exact's example)
    assert stats.fisher_exact(3, 0, 0, 3) == pytest.approx(0.1)  # 3 of 3 seeds against 0 of 3: 2 / C(6, 3)
    assert stats.fisher_exact(5, 0, 0, 5) == pytest.approx(2 / math.comb(10, 5))
    assert stats.fisher_exact(2, 2, 2, 2) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="negative"):
        stats.fisher_exact(-1, 2, 3, 4)


def test_binomial_test_and_interval_match_closed_forms():
    assert stats.binomial_test(9, 10) == pytest.approx(22 / 1024)  # P(X <= 1) + P(X >= 9)
    assert stats.binomial_test(5, 10) == 1.0
    low, high = stats.binomial_interval(0, 5)
    assert low == 0 and high == pytest.approx(1 - 0.025 ** (1 / 5))
    low, high = stats.binomial_interval(5, 5)
    assert low == pytest.approx(0.025 ** (1 / 5)) and high == 1
    assert stats.binomial_interval(3, 10) == pytest.approx((0.0667395, 0.6524529), abs=1e-6)  # tabulated
    with pytest.raises(ValueError, match="0 <= k <= n"):
        stats.binomial_interval(6, 5)


def test_spearman_permutation_test_is_exact_for_few_points():
    rho, p = stats.spearman_test([1, 2, 3, 4, 5], [2, 4, 6, 8, 10])
    assert rho == pytest.approx(1.0) and p == pytest.approx(2 / 120)  # the order and its reverse, of 5!
    rho, p = stats.spearman_test([1, 2, 3, 4], [1, 2, 1, 2])  # ranks 1.5 3.5 1.5 3.5: rho = 0.447
    assert rho == pytest.approx(0.4472136) and p == pytest.approx(16 / 24)  # of 24 orders, 16 reach |rho| >= 0.447
    assert all(math.isnan(v) for v in stats.spearman_test([1, 1, 1], [1, 2, 3]))


def test_spearman_permutation_test_is_seeded_and_calibrated_for_many_points():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=30), rng.normal(size=30)
    assert stats.spearman_test(x, y, seed=3) == stats.spearman_test(x, y, seed=3)
    _, p_null = stats.spearman_test(x, y)
    _, p_strong = stats.spearman_test(x, x + 0.1 * y)
    assert p_null > 0.05 and p_strong == pytest.approx(1 / 20001)  # never 0: the observed order counts


def test_bootstrap_interval_covers_the_mean_and_is_seeded():
    values = [0, 1, 1, 1, 0, 1, 1, 1, 1, 1]
    low, high = stats.bootstrap_interval(values)
    assert low < 0.8 < high and (low, high) == stats.bootstrap_interval(values)
    assert stats.bootstrap_interval([0.5] * 4) == (0.5, 0.5)
    assert stats.bootstrap_interval([1, 2, 3], statistic=np.median, resamples=500)[0] >= 1


def test_permutation_tests_on_medians_and_within_strata():
    # 20 relabellings of 1..6; the medians of {1,2,4} and {3,5,6} differ by 3 as the observed ones
    # do (and the mirror image), their means do not
    assert stats.permutation_test([1, 2, 3], [4, 5, 6], statistic="mean") == pytest.approx(2 / 20)
    assert stats.permutation_test([1, 2, 3], [4, 5, 6], statistic="median") == pytest.approx(4 / 20)
    with pytest.raises(ValueError, match="statistic='mode'"):
        stats.permutation_test([1], [2], statistic="mode")
    x = np.arange(20.0)
    strata = np.repeat([0, 1, 2, 3], 5)
    between = strata * 10.0 + np.random.default_rng(1).normal(size=20)  # ordered by stratum only
    assert stats.spearman_test(x, between)[1] < 0.001  # across strata: strongly "correlated"
    rho, p = stats.stratified_spearman_test(x, between, strata, permutations=500)
    assert p > 0.05  # within strata: nothing
    rho, p = stats.stratified_spearman_test(x, x + 0.1 * between, strata, permutations=500)
    assert rho == pytest.approx(1.0) and p < 0.01


def test_holm_multiplies_the_kth_smallest_by_the_tests_left_and_keeps_the_order():
    # sorted 0.01, 0.03, 0.04 -> x3, x2, x1 = 0.03, 0.06, 0.04 -> non-decreasing 0.03, 0.06, 0.06
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.5, 0.9]) == [1.0, 1.0]  # capped at 1
    assert stats.holm([0.02]) == [0.02] and stats.holm([]) == []


def test_the_paired_permutation_test_flips_signs_exactly():
    assert stats.paired_permutation_test([1, 2, 3, 4, 5, 6]) == 2 / 64  # all positive: the two extreme flips
    assert stats.paired_permutation_test([1, -1]) == 1.0
    assert stats.paired_permutation_test([0.5, -0.1, 0.3]) == 0.5
    p = stats.paired_permutation_test(np.arange(1, 21), permutations=1000)  # 2^20 flips: seeded random ones
    assert p == stats.paired_permutation_test(np.arange(1, 21), permutations=1000) and p < 0.01
    with pytest.raises(ValueError, match="at least one difference"):
        stats.paired_permutation_test([])


def test_the_t_interval_uses_students_quantiles():
    from toobig.core.stats import t_interval, t_quantile
    for df, quantile in [(1, 12.7062047), (2, 4.30265273), (4, 2.77644511), (30, 2.04227246)]:  # tables of t
        assert t_quantile(0.975, df) == pytest.approx(quantile, abs=1e-5)
    assert t_quantile(0.5, 3) == 0.0
    mean, low, high = t_interval([10.0, 12.0, 14.0])
    assert (mean, high - mean) == (12.0, pytest.approx(4.30265273 * 2 / math.sqrt(3), abs=1e-4))
    assert mean - low == pytest.approx(high - mean)
    assert t_interval([5.0])[0] == 5.0 and math.isnan(t_interval([5.0])[1])
    with pytest.raises(ValueError):
        t_quantile(1.0, 3)
