"""Entropic mode coverage (EMC) of samples from a mixture target.

Following Blessing et al. 2024 ("Beyond ELBOs: A Large-Scale Evaluation of
Variational Methods for Sampling", ICML), each sample ``x_i`` (``samples`` is
``[N, d]``) is assigned to the mixture component whose mean (``means`` is ``[K, d]``)
is nearest in Euclidean distance (ties go to the lowest index). With ``p_k`` the
fraction of samples assigned to component ``k``,

    EMC = -sum_k p_k log p_k / log K       (0 log 0 := 0),

the entropy of the mode histogram normalised to ``[0, 1]``: 1 when all ``K`` modes
receive exactly the same number of samples, 0 when every sample lands in a single
mode. For ``K = 1`` the normalisation is undefined; we return 1.0 (the only mode is
always covered). Note that EMC measures *balance* relative to the uniform histogram,
so it equals 1 only for targets with equal mixture weights.

:func:`modes_covered` counts the modes that receive at least ``share`` (default a tenth) of their
expected share ``N / K`` of the samples: a collapse onto a few modes shows as a small count even when
the W2 distance or EMC move little.
"""

from __future__ import annotations

import math

import torch

from ._checks import as_samples, check_same_dim, squared_distances

__all__ = ["emc", "mode_histogram", "modes_covered"]


def mode_histogram(samples: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """Counts ``[K]`` (int64) of samples ``[N, d]`` whose nearest mean ``[K, d]`` is ``k``."""
    xs = as_samples(samples, "samples")
    mu = as_samples(means, "means")
    check_same_dim(xs, mu, ("samples", "means"))
    k = mu.shape[0]
    counts = torch.zeros(k, dtype=torch.int64)
    block = max(1, (1 << 22) // k)
    for start in range(0, xs.shape[0], block):
        nearest = squared_distances(xs[start : start + block], mu).argmin(dim=1)
        counts += torch.bincount(nearest, minlength=k)
    return counts


def emc(samples: torch.Tensor, means: torch.Tensor) -> float:
    """Entropic mode coverage in ``[0, 1]`` of ``samples`` ``[N, d]`` given ``means`` ``[K, d]``."""
    counts = mode_histogram(samples, means)
    k = counts.numel()
    if k == 1:
        return 1.0
    p = counts[counts > 0].to(torch.float64) / counts.sum()
    entropy = float(-(p * p.log()).sum())
    return min(1.0, max(0.0, entropy / math.log(k)))


def modes_covered(samples: torch.Tensor, means: torch.Tensor, share: float = 0.1) -> int:
    """Number of the ``K`` modes (``means`` ``[K, d]``) whose nearest-mean count among ``samples``
    ``[N, d]`` is at least ``share * N / K`` (equal-weight mixtures)."""
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share must be in (0, 1], got {share}")
    counts = mode_histogram(samples, means)
    expected = counts.sum().item() / counts.numel()
    return int((counts.to(torch.float64) >= share * expected).sum())
