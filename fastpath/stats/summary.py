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
    """Student's t quantile (scipy is imported lazily: it is slow to import)."""
    from scipy.stats import t

    return float(t.ppf(q, df))


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
        # all equal: exact mean, zero spread, point interval (never fed to scipy)
        mean = xs[0]
        if n == 1:
            zero = None if mean == 0 else 0.0
            return Summary(1, c, lo, hi, mean, None, None, None, None, None,
                           zero, None, None, zero)
        zero = None if mean == 0 else 0.0
        return Summary(n, c, lo, hi, mean, 0.0, zero, mean, mean, 0.0, zero, zero, zero, zero)
    mean = math.fsum(xs) / n
    if n == 1:  # pragma: no cover - lo == hi always holds for one sample
        raise AssertionError
    ss = math.fsum((v - mean) ** 2 for v in xs)
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


def ci_label(confidence: float) -> str:
    """The column stem for a level: 0.95 -> ``ci95``, 0.99 -> ``ci99``, 0.999 -> ``ci99.9``."""
    pct = 100.0 * confidence
    text = f"{pct:.6f}".rstrip("0").rstrip(".")
    return f"ci{text}"
