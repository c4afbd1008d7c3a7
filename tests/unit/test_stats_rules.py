"""STATISTICS.md §2-§3 rules beyond the shipped vectors: degenerate cases and boundaries."""

from __future__ import annotations

import math

import pytest

from fastpath.stats import compare, summarize
from fastpath.stats.summary import ci_label


def test_empty():
    s = summarize([])
    assert s.count == 0
    assert all(getattr(s, f) is None for f in ("min", "max", "mean", "stdev", "cv_pct",
                                               "ci_lower", "ci_upper", "rel_min_pct"))


def test_all_equal_is_exact_and_zero_spread():
    s = summarize([0.1, 0.1, 0.1])
    assert s.mean == 0.1 and s.stdev == 0.0 and s.cv_pct == 0.0
    assert s.ci_lower == s.ci_upper == 0.1 and s.ci_half_width == 0.0
    assert s.rel_min_pct == s.rel_ci_lower_pct == s.rel_ci_upper_pct == s.rel_max_pct == 0.0


def test_all_zero_has_null_cv_and_relative():
    s = summarize([0.0, 0.0])
    assert s.mean == 0.0 and s.stdev == 0.0 and s.cv_pct is None
    assert s.rel_min_pct is None and s.rel_max_pct is None
    one = summarize([0.0])
    assert one.rel_min_pct is None and one.stdev is None


def test_zero_mean_symmetric_data():
    s = summarize([-1.0, 1.0])
    assert s.mean == 0.0 and s.cv_pct is None and s.rel_min_pct is None
    assert s.stdev == pytest.approx(math.sqrt(2))
    assert s.ci_lower == pytest.approx(-12.706204736174707)


def test_large_magnitude_two_pass():
    base = 1e9
    s = summarize([base, base + 1, base + 2])
    assert s.mean == base + 1
    assert s.stdev == 1.0


def test_n2_interval_uses_t_quantile():
    s = summarize([10.0, 12.0], 0.95)
    assert s.ci_half_width == pytest.approx(12.706204736174707 * math.sqrt(2) / math.sqrt(2))
    assert s.ci_lower < s.min and s.ci_upper > s.max


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_is_an_error(bad):
    with pytest.raises(ValueError, match="non-finite"):
        summarize([1.0, bad])


@pytest.mark.parametrize("c", [0.0, 1.0, 1.5, -0.1, float("nan")])
def test_confidence_out_of_range(c):
    with pytest.raises(ValueError, match="between 0 and 1"):
        summarize([1.0, 2.0], c)


def test_ci_labels():
    assert ci_label(0.95) == "ci95" and ci_label(0.99) == "ci99" and ci_label(0.999) == "ci99.9"


def test_exactly_one_percent_is_not_significant():
    cmp = compare([100.0] * 3, [101.0] * 3, "bigger")
    assert cmp.ci_overlap is False and cmp.exceeds_noise is False and cmp.verdict == "-"
    cmp = compare([100.0] * 3, [101.5] * 3, "bigger")
    assert cmp.verdict == "I"
    cmp = compare([100.0] * 3, [98.0] * 3, "bigger")
    assert cmp.verdict == "R" and cmp.change_pct == -2.0


def test_touching_cis_overlap():
    # at c = 0.5 and n = 2, t = 1 (Cauchy): CIs are [9, 11] and [11, 13] and touch at 11
    a, b = summarize([9.0, 11.0], 0.5), summarize([11.0, 13.0], 0.5)
    assert a.ci_upper == 11.0 == b.ci_lower
    got = compare([9.0, 11.0], [11.0, 13.0], "bigger", 0.5, 0.0)
    assert got.ci_overlap is True and got.verdict == "-"
    apart = compare([9.0, 11.0], [11.5, 13.5], "bigger", 0.5, 0.0)
    assert apart.ci_overlap is False and apart.verdict == "I"


def test_single_sample_verdict_is_unknown_but_change_shown():
    cmp = compare([100.0], [150.0, 150.0], "bigger")
    assert cmp.verdict == "?" and cmp.change_pct == 50.0 and not cmp.significant


def test_negative_baseline_and_smaller_is_better():
    cmp = compare([-10.0, -10.1, -9.9], [-5.0, -5.1, -4.9], "smaller")
    assert cmp.change_pct == pytest.approx(50.0)
    assert cmp.verdict == "R"  # bigger value while smaller is better


def test_zero_baseline_mean_uses_ci_alone():
    cmp = compare([-1.0, 1.0, 0.0], [100.0, 101.0, 102.0], "bigger")
    assert cmp.change_pct is None and cmp.noise_limit == 0.0 and cmp.verdict == "I"


def test_confidence_changes_verdict():
    a = [100.0, 101.0, 99.0, 100.5, 99.5]
    b = [102.0, 103.0, 101.0, 102.5, 101.5]
    assert compare(a, b, "bigger", 0.95).verdict == "I"
    assert compare(a, b, "bigger", 0.9999).verdict == "-"


def test_bad_direction():
    with pytest.raises(ValueError):
        compare([1.0, 2.0], [1.0, 2.0], "up")


def test_t_quantile_is_scipy_t_ppf():
    from scipy.stats import t

    from fastpath.stats.summary import t_quantile

    for df in (1, 2, 4, 9, 29, 30, 99, 1000):
        for q in (0.75, 0.95, 0.975, 0.995, 0.9995):
            assert t_quantile(q, df) == float(t.ppf(q, df))
