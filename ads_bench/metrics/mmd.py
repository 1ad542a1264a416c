"""Maximum mean discrepancy (MMD) with a mixture of Gaussian (RBF) kernels.

For samples ``x`` ``[N, d]`` and ``y`` ``[M, d]`` and length-scales ``h`` in
``bandwidths`` the kernel is the *sum* (not the mean) of Gaussian kernels

    k(x, y) = sum_h exp(-||x - y||^2 / (2 h^2)),

so ``h`` is a **length-scale** (standard deviation), not a squared bandwidth; the
default ``h in (0.01, 0.1, 1, 10, 100)`` spans the scales of the benchmark targets.
A sum of characteristic kernels is characteristic, so MMD is a metric between
distributions (Gretton et al. 2012, "A Kernel Two-Sample Test", JMLR).

Estimators
----------
- ``mmd2(x, y)`` (default ``unbiased=False``): the biased **V-statistic**

      MMD_b^2 = mean_{i,j} k(x_i, x_j) + mean_{i,j} k(y_i, y_j) - 2 mean_{i,j} k(x_i, y_j),

  i.e. the squared RKHS distance between the two *empirical* measures. It is >= 0 and
  exactly 0 for identical sample sets. With ``unbiased=True`` the **U-statistic**
  (diagonal terms i = j excluded from the within-set means) is returned instead; it
  is unbiased for the population MMD^2 and can be slightly negative.
- ``mmd(x, y)``: **MMD, not squared** -- ``sqrt(MMD_b^2)`` of the V-statistic. This is
  the value reported under the key ``"mmd"`` by :func:`ads_bench.metrics.summary_samples`.

Kernel sums are accumulated over row blocks so that at most ``chunk_size * M``
pairwise entries are materialised (memory-safe at N = M = 2000 and beyond);
computation is in float64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import nullcontext

import torch

from ads_bench.runtime import single_threaded

from ._checks import as_samples, check_same_dim, squared_distances

__all__ = ["DEFAULT_BANDWIDTHS", "mmd", "mmd2"]

DEFAULT_BANDWIDTHS: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0, 100.0)

# exp(t) for t < -700 is < 1e-304: clamp there so that no denormal is ever produced
# (denormal arithmetic is ~50x slower on x86) -- the error is below 1e-300 per entry.
_MIN_EXPONENT = -700.0
_SMALL_PROBLEM = 1 << 20  # below this many pairwise entries, compute single-threaded


def _check_bandwidths(bandwidths: Sequence[float]) -> tuple[float, ...]:
    hs = tuple(float(h) for h in bandwidths)
    if not hs:
        raise ValueError("bandwidths must contain at least one length-scale")
    bad = [h for h in hs if not (math.isfinite(h) and h > 0)]
    if bad:
        raise ValueError(f"bandwidths must be positive finite length-scales, got {bad}")
    return hs


def _kernel_sum(x: torch.Tensor, y: torch.Tensor, hs: tuple[float, ...], chunk_size: int) -> float:
    """``sum_{i,j} k(x_i, y_j)`` for the RBF mixture, accumulated over row blocks."""
    coeffs = [-0.5 / (h * h) for h in hs]
    total = 0.0
    for start in range(0, x.shape[0], chunk_size):
        d2 = squared_distances(x[start : start + chunk_size], y)
        for c in coeffs:
            total += float(torch.exp((d2 * c).clamp_(min=_MIN_EXPONENT)).sum())
    return total


def _default_chunk(m: int) -> int:
    return max(1, (1 << 22) // max(m, 1))  # <= ~4M pairwise entries (32 MB) per block


def mmd2(
    x: torch.Tensor,
    y: torch.Tensor,
    bandwidths: Sequence[float] = DEFAULT_BANDWIDTHS,
    *,
    unbiased: bool = False,
    chunk_size: int | None = None,
) -> float:
    """Squared MMD between ``x`` ``[N, d]`` and ``y`` ``[M, d]`` (V- or U-statistic).

    Args:
        bandwidths: RBF length-scales ``h`` of ``k = sum_h exp(-|x - y|^2 / (2 h^2))``.
        unbiased: ``False`` (default) -> biased V-statistic (>= 0, exactly 0 for
            identical sets); ``True`` -> unbiased U-statistic (needs ``N, M >= 2``).
        chunk_size: rows per block (default: ~4M pairwise entries per block).
    """
    xs = as_samples(x, "x")
    ys = as_samples(y, "y")
    check_same_dim(xs, ys)
    hs = _check_bandwidths(bandwidths)
    n, m = xs.shape[0], ys.shape[0]
    cx = chunk_size or _default_chunk(n)
    cy = chunk_size or _default_chunk(m)
    # small problems: threads cost more than they give (see ``single_threaded``)
    with single_threaded() if (n + m) ** 2 < _SMALL_PROBLEM else nullcontext():
        s_xx = _kernel_sum(xs, xs, hs, cx)
        s_yy = _kernel_sum(ys, ys, hs, cy)
        s_xy = _kernel_sum(xs, ys, hs, cy)
    if not unbiased:
        return s_xx / (n * n) + s_yy / (m * m) - 2.0 * s_xy / (n * m)
    if n < 2 or m < 2:
        raise ValueError(
            f"the unbiased MMD^2 needs at least 2 samples per set, got x shape "
            f"{tuple(xs.shape)} and y shape {tuple(ys.shape)}"
        )
    k_diag = float(len(hs))  # k(x, x) = number of kernels
    return (
        (s_xx - n * k_diag) / (n * (n - 1))
        + (s_yy - m * k_diag) / (m * (m - 1))
        - 2.0 * s_xy / (n * m)
    )


def mmd(
    x: torch.Tensor,
    y: torch.Tensor,
    bandwidths: Sequence[float] = DEFAULT_BANDWIDTHS,
    *,
    chunk_size: int | None = None,
) -> float:
    """MMD (not squared): ``sqrt`` of the biased V-statistic :func:`mmd2`.

    ``x`` ``[N, d]``, ``y`` ``[M, d]``; ``bandwidths`` are RBF length-scales ``h`` of
    ``k = sum_h exp(-|x - y|^2 / (2 h^2))``. Zero iff the empirical measures coincide.
    """
    value = mmd2(x, y, bandwidths, unbiased=False, chunk_size=chunk_size)
    return math.sqrt(max(value, 0.0))
