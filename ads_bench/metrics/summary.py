"""Metric summaries: one call from log-weights or sample sets to a flat ``{name: float}`` dict.

- :func:`evaluate_log_weights` -- log Z estimators, ESS and the log-weight
  variance from per-trajectory log-weights (``[N]`` tensors); see
  :mod:`ads_bench.metrics.logz` for definitions and references (ELBO/EUBO:
  Blessing et al. 2024; ESS: Kong 1992, Owen 2013).
- :func:`evaluate_samples` -- sample-based distances between generated samples ``x``
  ``[N, d]`` and ground-truth samples ``y`` ``[M, d]``: exact W2 (POT network
  simplex), debiased Sinkhorn divergence S_eps (Feydy et al. 2019), RBF-mixture MMD
  and, for mixture targets, entropic mode coverage (Blessing et al. 2024).

Both are pure functions of their inputs; every value in the returned dict is a
Python float. Key conventions: ``w2`` is W2 (not squared); ``sinkhorn`` is S_eps in
squared-distance units (comparable to W2^2) with its regulariser under
``sinkhorn_eps``; ``mmd`` is MMD (not squared, biased V-statistic).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .entropic import sinkhorn
from .logz import delta_logz, elbo, ess, eubo, logw_var, logz_is
from .mmd import DEFAULT_BANDWIDTHS, mmd
from .modes import emc, modes_covered
from .transport import w2

__all__ = ["evaluate_log_weights", "evaluate_samples"]


def evaluate_log_weights(
    log_w_fwd: torch.Tensor,
    log_z: float | None = None,
    log_w_bwd: torch.Tensor | None = None,
) -> dict[str, float]:
    """log Z metrics from generation (and optionally destruction) log-weights.

    Args:
        log_w_fwd: ``[N]`` log-weights of trajectories sampled by the generation process.
        log_z: ground-truth log Z, if known.
        log_w_bwd: ``[M]`` log-weights of destruction trajectories started at exact
            target samples, if available.

    Returns:
        ``elbo``, ``logz_is``, ``ess``, ``logw_var`` (all of ``log_w_fwd``); ``eubo``
        if ``log_w_bwd`` is given; and, if ``log_z`` is given, ``delta_logz_elbo``,
        ``delta_logz_is`` (and ``delta_logz_eubo``) = absolute errors against ``log_z``.
    """
    out = {
        "elbo": elbo(log_w_fwd),
        "logz_is": logz_is(log_w_fwd),
        "ess": ess(log_w_fwd),
        "logw_var": logw_var(log_w_fwd),
    }
    if log_w_bwd is not None:
        out["eubo"] = eubo(log_w_bwd)
    if log_z is not None:
        out["delta_logz_elbo"] = delta_logz(out["elbo"], log_z)
        out["delta_logz_is"] = delta_logz(out["logz_is"], log_z)
        if "eubo" in out:
            out["delta_logz_eubo"] = delta_logz(out["eubo"], log_z)
    return out


def evaluate_samples(
    x: torch.Tensor,
    y: torch.Tensor,
    means: torch.Tensor | None = None,
    sinkhorn_eps: float = 1e-3,
    mmd_bandwidths: Sequence[float] = DEFAULT_BANDWIDTHS,
) -> dict[str, float]:
    """Sample-quality metrics of generated ``x`` ``[N, d]`` against reference ``y`` ``[M, d]``.

    Args:
        means: ``[K, d]`` mixture means; when given, ``emc`` and ``modes`` (modes with at least a
            tenth of their expected share of ``x``) are included.
        sinkhorn_eps: regulariser of the Sinkhorn divergence.
        mmd_bandwidths: RBF length-scales of the MMD kernel mixture.

    Returns:
        ``w2`` (W2), ``sinkhorn`` (S_eps), ``sinkhorn_eps``, ``mmd`` (MMD) and
        optionally ``emc`` and ``modes``.
    """
    s = sinkhorn(x, y, eps=sinkhorn_eps)
    out = {
        "w2": w2(x, y),
        "sinkhorn": s.value,
        "sinkhorn_eps": s.eps,
        "mmd": mmd(x, y, mmd_bandwidths),
    }
    if means is not None:
        out["emc"] = emc(x, means)
        out["modes"] = modes_covered(x, means)
    return out
