"""Seed statistics: mean ± std, and paired differences with two-sided 95 % Student-t intervals.

The claims check (README, *Reproducing the paper*) and the adaptive-destruction study compare two
methods run on the same target, number of steps T and seed: per seed the difference
``sign * (a - b)``, then the mean of the ``n`` differences and the interval
``mean ± t_{0.975, n-1} · s / sqrt(n)`` (``s`` the sample standard deviation). An interval wholly
above 0 is a significant effect in favour of the comparison's orientation, wholly below 0 one
against it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: Student t 97.5 % quantiles by degrees of freedom (two-sided 95 % intervals); between the listed
#: degrees of freedom the next lower one is used (a conservative interval), from 30 on the normal's
_T975 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    15: 2.131,
    20: 2.086,
    30: 2.042,
}


def finite(values: Iterable[Any]) -> list[float]:
    """The values that are neither ``None`` nor non-finite, as floats, in order."""
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation; ``(None, None)`` if empty, std ``None`` for one value."""
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def t_quantile(dof: int) -> float:
    """The Student t 97.5 % quantile for ``dof`` degrees of freedom (table :data:`_T975`)."""
    if dof in _T975:
        return _T975[dof]
    below = max(k for k in _T975 if k <= dof) if dof > 1 else 1
    return _T975[below] if dof < 30 else 1.96


def mean_ci(values: Sequence[float]) -> tuple[float | None, float | None, float | None]:
    """Mean and two-sided 95 % Student-t interval; with one value the interval is unbounded,
    with none all three are ``None``."""
    if not values:
        return None, None, None
    m = statistics.fmean(values)
    if len(values) < 2:
        return m, -math.inf, math.inf
    half = t_quantile(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return m, m - half, m + half


def paired_differences(
    a: Mapping[Any, float | None], b: Mapping[Any, float | None], sign: float = 1.0
) -> list[float]:
    """``sign * (a[seed] - b[seed])`` for every seed in both, in sorted seed order, where both
    values are finite (``None`` and non-finite values drop that seed)."""
    out = []
    for seed in sorted(set(a) & set(b)):
        x, y = a[seed], b[seed]
        if x is not None and y is not None and math.isfinite(x) and math.isfinite(y):
            out.append(sign * (x - y))
    return out


def paired_effect(name: str, diffs: Sequence[float]) -> dict:
    """``{"comparison", "n", "mean", "ci_low", "ci_high"}`` of the differences (:func:`mean_ci`)."""
    m, lo, hi = mean_ci(diffs)
    return {"comparison": name, "n": len(diffs), "mean": m, "ci_low": lo, "ci_high": hi}


def significance(n: int, ci_low: float | None, ci_high: float | None) -> int:
    """+1 if the interval lies above 0, -1 if below 0, 0 otherwise or without data (``n == 0``)."""
    if not n or ci_low is None or ci_high is None:
        return 0
    return 1 if ci_low > 0 else (-1 if ci_high < 0 else 0)
