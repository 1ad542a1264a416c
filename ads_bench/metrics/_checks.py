"""Input validation and shared geometry helpers for :mod:`ads_bench.metrics`.

Every public metric funnels its inputs through these functions so that a malformed
input fails loudly, with a message that names the argument and its shape, instead of
silently producing ``nan`` or ``inf`` in a results table.

Shapes
------
- log-weights: ``[N]`` floating tensor (``N >= 1``).
- sample sets: ``[N, d]`` floating tensor (``N >= 1``, ``d >= 1``).

All validators return detached, contiguous ``float64`` CPU tensors; metrics are
computed in double precision regardless of the input dtype. Also provides
``squared_distances``. (The metrics' thread setting is :func:`ads_bench.runtime.single_threaded`.)
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "as_log_weights",
    "as_samples",
    "check_same_dim",
    "squared_distances",
]


def _as_float64(value: object, name: str) -> torch.Tensor:
    """Convert a tensor / ndarray with a floating dtype to a detached float64 CPU tensor."""
    if isinstance(value, np.ndarray):
        if not np.issubdtype(value.dtype, np.floating):
            raise TypeError(f"{name} must have a floating dtype, got numpy dtype {value.dtype}")
        value = torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor (or numpy array), got {type(value).__name__}"
        )
    if not value.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype, got {value.dtype}")
    return value.detach().to(device="cpu", dtype=torch.float64).contiguous()


def as_log_weights(log_w: object, name: str = "log_w") -> torch.Tensor:
    """Validate per-trajectory log importance weights of shape ``[N]``.

    ``-inf`` entries (zero weight) are allowed; ``NaN`` and ``+inf`` are rejected with
    a ``ValueError`` that reports how many offending entries there are.
    """
    t = _as_float64(log_w, name)
    if t.ndim != 1:
        raise ValueError(f"{name} must be a 1-D tensor of shape [N], got shape {tuple(t.shape)}")
    n = t.numel()
    if n == 0:
        raise ValueError(f"{name} must be non-empty, got shape {tuple(t.shape)}")
    n_nan = int(torch.isnan(t).sum())
    if n_nan:
        raise ValueError(f"{name} contains {n_nan} NaN value(s) out of {n}")
    n_pinf = int(torch.isposinf(t).sum())
    if n_pinf:
        raise ValueError(f"{name} contains {n_pinf} +inf value(s) out of {n}")
    return t


def as_samples(x: object, name: str = "x") -> torch.Tensor:
    """Validate a sample set of shape ``[N, d]`` with finite entries."""
    t = _as_float64(x, name)
    if t.ndim != 2:
        raise ValueError(f"{name} must be a 2-D tensor of shape [N, d], got shape {tuple(t.shape)}")
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(
            f"{name} must have at least one sample and one feature, got shape {tuple(t.shape)}"
        )
    n_nan = int(torch.isnan(t).sum())
    n_inf = int(torch.isinf(t).sum())
    if n_nan or n_inf:
        raise ValueError(
            f"{name} (shape {tuple(t.shape)}) contains {n_nan} NaN and {n_inf} infinite value(s)"
        )
    return t


def check_same_dim(x: torch.Tensor, y: torch.Tensor, names: tuple[str, str] = ("x", "y")) -> None:
    """Raise ``ValueError`` naming both shapes unless ``x`` and ``y`` share the feature dim."""
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"feature dimensions differ: {names[0]} has shape {tuple(x.shape)} "
            f"but {names[1]} has shape {tuple(y.shape)}"
        )


def squared_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pairwise squared Euclidean distances ``C[i, j] = ||x_i - y_j||^2``, shape ``[N, M]``.

    Uses direct differences (not the ``|x|^2 + |y|^2 - 2 x.y`` expansion), so
    ``squared_distances(x, x)`` has an exactly zero diagonal and is exactly symmetric.
    """
    d = torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist")
    return d.square_()
