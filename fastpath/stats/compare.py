"""Comparison of a baseline with another profile (STATISTICS.md §3, DESIGN §6).

Significant <=> the two c-level CIs are strictly disjoint AND |mean_B - mean_A| exceeds
tau * |mean_A|.  Verdicts: ``I`` improvement, ``R`` regression, ``-`` no significant change,
``?`` undefined (fewer than two samples on a side).  This is a conservative rule, not a
t-test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fastpath.stats.summary import DEFAULT_CONFIDENCE, Summary, summarize

DEFAULT_NOISE_THRESHOLD = 0.01
DIRECTIONS = ("bigger", "smaller")


@dataclass(frozen=True)
class Comparison:
    baseline: Summary
    comparison: Summary
    diff: float | None
    change_pct: float | None
    noise_limit: float | None
    ci_overlap: bool | None
    exceeds_noise: bool | None
    significant: bool
    verdict: str  # "I" | "R" | "-" | "?"


def compare_summaries(
    a: Summary, b: Summary, direction: str, noise_threshold: float = DEFAULT_NOISE_THRESHOLD
) -> Comparison:
    """Compare two summaries computed at the same confidence level."""
    if direction not in DIRECTIONS:
        raise ValueError(f"improvement direction must be 'bigger' or 'smaller', got {direction!r}")
    if not noise_threshold >= 0:
        raise ValueError(f"noise threshold must be >= 0, got {noise_threshold!r}")
    if a.mean is None or b.mean is None:
        return Comparison(a, b, None, None, None, None, None, False, "?")
    diff = b.mean - a.mean
    change = None if a.mean == 0 else 100.0 * diff / abs(a.mean)
    limit = noise_threshold * abs(a.mean)
    exceeds = abs(diff) > limit
    if a.count < 2 or b.count < 2:
        return Comparison(a, b, diff, change, limit, None, exceeds, False, "?")
    assert a.ci_lower is not None and a.ci_upper is not None
    assert b.ci_lower is not None and b.ci_upper is not None
    overlap = not (a.ci_upper < b.ci_lower or b.ci_upper < a.ci_lower)
    significant = (not overlap) and exceeds
    if not significant:
        verdict = "-"
    elif (diff > 0) == (direction == "bigger"):
        verdict = "I"
    else:
        verdict = "R"
    return Comparison(a, b, diff, change, limit, overlap, exceeds, significant, verdict)


def compare(
    baseline: Sequence[float],
    comparison: Sequence[float],
    direction: str,
    confidence: float = DEFAULT_CONFIDENCE,
    noise_threshold: float = DEFAULT_NOISE_THRESHOLD,
) -> Comparison:
    """Summarise both sample sets at ``confidence`` and compare them."""
    return compare_summaries(
        summarize(baseline, confidence), summarize(comparison, confidence), direction,
        noise_threshold,
    )
