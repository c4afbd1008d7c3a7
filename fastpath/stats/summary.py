"""Summary statistics of one result class's samples (STATISTICS.md §2).

Pure functions over plain sequences of floats.  Degenerate cases (n = 0, n = 1, all values
equal, zero mean) are handled exactly as the specification's table says; rounding is left
to the display layer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

DEFAULT_CONFIDENCE = 0.95


@dataclass(frozen=True)
class Summary:
    count: int
    confidence: float
    min: float | None
    max: float | None
    mean: float | None
    stdev: float | None
    cv_pct: float | None
    ci_lower: float | None
    ci_upper: float | None
    ci_half_width: float | None
    rel_min_pct: float | None
    rel_ci_lower_pct: float | None
    rel_ci_upper_pct: float | None
    rel_max_pct: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return dict(self.__dict__)


def check_confidence(confidence: float) -> float:
    """Return ``confidence`` if ``0 < c < 1``, else raise ``ValueError``."""
    c = float(confidence)
    if not (0.0 < c < 1.0):  # also rejects NaN
        raise ValueError(f"confidence must be between 0 and 1 (exclusive), got {confidence!r}")
    return c


@lru_cache(maxsize=4096)
def t_quantile(q: float, df: int) -> float:
    """Student's t quantile, exactly ``scipy.stats.t.ppf(q, df)``.

    ``scipy.stats.t.ppf`` evaluates ``scipy.special.stdtrit``; calling it directly avoids
    importing ``scipy.stats`` (about a second).  scipy is imported lazily.
    """
    from scipy.special import stdtrit

    return float(stdtrit(df, q))


def _pct(value: float | None, mean: float) -> float | None:
    if value is None or mean == 0:
        return None
    return 100.0 * (value - mean) / abs(mean)


def summarize(samples: Sequence[float], confidence: float = DEFAULT_CONFIDENCE) -> Summary:
    """Summarise ``samples`` at confidence level ``confidence``.

    Raises ``ValueError`` for a non-finite sample or a confidence outside (0, 1): a bad value
    makes the result class invalid, it is never dropped silently.
    """
    c = check_confidence(confidence)
    xs = [float(v) for v in samples]
    for v in xs:
        if not math.isfinite(v):
            raise ValueError(f"non-finite sample {v!r}")
    n = len(xs)
    if n == 0:
        return Summary(0, c, *([None] * 12))
    lo, hi = min(xs), max(xs)
    if lo == hi:
        return _degenerate(n, c, lo, hi)
    mean = math.fsum(xs) / n
    ss = math.fsum((v - mean) ** 2 for v in xs)
    return _from_moments(n, c, lo, hi, mean, ss)


def _degenerate(n: int, c: float, lo: float, hi: float) -> Summary:
    """n = 1 or all values equal (``min == max``): exact mean, no fake spread."""
    mean = lo
    zero = None if mean == 0 else 0.0
    if n == 1:
        return Summary(1, c, lo, hi, mean, None, None, None, None, None, zero, None, None, zero)
    return Summary(n, c, lo, hi, mean, 0.0, zero, mean, mean, 0.0, zero, zero, zero, zero)


def _from_moments(n: int, c: float, lo: float, hi: float, mean: float, ss: float) -> Summary:
    stdev = math.sqrt(ss / (n - 1))
    half = t_quantile((1.0 + c) / 2.0, n - 1) * stdev / math.sqrt(n)
    ci_lower, ci_upper = mean - half, mean + half
    cv = None if mean == 0 else 100.0 * stdev / abs(mean)
    return Summary(
        count=n,
        confidence=c,
        min=lo,
        max=hi,
        mean=mean,
        stdev=stdev,
        cv_pct=cv,
        ci_lower=ci_lower,
        ci_upper=ci_upper,
        ci_half_width=half,
        rel_min_pct=_pct(lo, mean),
        rel_ci_lower_pct=_pct(ci_lower, mean),
        rel_ci_upper_pct=_pct(ci_upper, mean),
        rel_max_pct=_pct(hi, mean),
    )


def summarize_moments(count: int, minimum: float | None, maximum: float | None, shift: float,
                      sum_dev: float, sum_sq_dev: float,
                      confidence: float = DEFAULT_CONFIDENCE) -> Summary:
    """The same summary from shifted moments, as a database aggregate computes them:
    ``sum_dev = Σ(x − shift)`` and ``sum_sq_dev = Σ(x − shift)²`` over ``count`` samples.

    With ``shift`` a sample of the group (or its mean) this is numerically stable; the
    degenerate rules of §2.3 are applied exactly as in :func:`summarize`.
    """
    c = check_confidence(confidence)
    n = int(count)
    if n == 0:
        return Summary(0, c, *([None] * 12))
    assert minimum is not None and maximum is not None
    for v in (minimum, maximum, shift, sum_dev, sum_sq_dev):
        if not math.isfinite(v):
            raise ValueError(f"non-finite moment {v!r}")
    if minimum == maximum:
        return _degenerate(n, c, float(minimum), float(maximum))
    d = sum_dev / n
    mean = min(max(shift + d, minimum), maximum)
    ss = max(sum_sq_dev - sum_dev * d, 0.0)
    return _from_moments(n, c, float(minimum), float(maximum), mean, ss)


def ci_label(confidence: float) -> str:
    """The column stem for a level: 0.95 -> ``ci95``, 0.99 -> ``ci99``, 0.999 -> ``ci99.9``."""
    pct = 100.0 * confidence
    text = f"{pct:.6f}".rstrip("0").rstrip(".")
    return f"ci{text}"
