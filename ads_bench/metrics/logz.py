"""Estimators of the log-normalising constant log Z from per-trajectory log-weights.

A diffusion sampler with generation process P (noise -> sample) and destruction
process Q (sample -> noise) assigns each trajectory tau the log importance weight

    log w(tau) = log p~(x_T) + log Q(tau | x_T) - log P(tau),

where p~ is the unnormalised target. For a perfect sampler ``log w == log Z`` for every
trajectory. Given ``N`` log-weights (a ``[N]`` tensor) this module computes

- ``elbo``:    (1/N) sum log w over *generation* trajectories (tau ~ P). By Jensen,
               E_P[log w] = log Z - KL(P || Q*) <= log Z (a lower bound).
- ``logz_is``: log (1/N) sum w, the importance-sampling estimate of log Z, evaluated as
               logsumexp(log w) - log N. Unbiased for Z, hence biased low for log Z
               (and consistent).
- ``eubo``:    (1/N) sum log w over *destruction* trajectories started at ground-truth
               samples (tau ~ Q*, x_T ~ p). E_Q*[log w] = log Z + KL(Q* || P) >= log Z
               (an upper bound). The EUBO follows Ji et al. and is used as a sampler
               metric by Blessing et al. 2024, "Beyond ELBOs: A Large-Scale Evaluation
               of Variational Methods for Sampling" (ICML 2024).
- ``ess``:     normalised effective sample size (sum w)^2 / (N sum w^2) in (0, 1]
               (Kong 1992; Owen, "Monte Carlo theory, methods and examples", ch. 9),
               computed in log space.
- ``logw_var``: unbiased sample variance of the finite log w over generation
               trajectories (tau ~ P). 0 for a perfect sampler (log w == log Z for every
               trajectory); unlike the gaps to log Z it needs no ground truth.

Conventions
-----------
Inputs are validated by :func:`ads_bench.metrics._checks.as_log_weights`: 1-D,
non-empty, floating; NaN or +inf raise ``ValueError``. ``-inf`` (a zero weight) is
allowed: it simply drops out of ``logz_is``/``ess``/``logw_var``, while ``elbo``/``eubo``
then return ``-inf`` (the mean of a sequence containing ``-inf``). All functions return
Python floats and compute in float64.
"""

from __future__ import annotations

import math

import torch

from ._checks import as_log_weights

__all__ = ["delta_logz", "elbo", "ess", "eubo", "logw_var", "logz_is"]


def elbo(log_w: torch.Tensor) -> float:
    """Evidence lower bound: mean of ``log_w`` ``[N]`` over generation trajectories.

    Returns ``-inf`` if any trajectory has zero weight (``log_w == -inf``).
    """
    t = as_log_weights(log_w, "log_w")
    return float(t.mean())


def eubo(log_w_bwd: torch.Tensor) -> float:
    """Evidence upper bound: mean of ``log_w_bwd`` ``[N]`` over destruction trajectories.

    ``log_w_bwd`` must be computed on trajectories produced by the destruction process
    started from exact target samples; its expectation is ``log Z + KL >= log Z``.
    """
    t = as_log_weights(log_w_bwd, "log_w_bwd")
    return float(t.mean())


def logz_is(log_w: torch.Tensor) -> float:
    """Importance-sampling estimate ``log((1/N) sum_i exp(log_w_i))`` of ``log Z``.

    Evaluated as ``logsumexp(log_w) - log N`` so that e.g. ``log_w = 1e4`` does not
    overflow. If every weight is zero (all ``-inf``) the estimate is ``-inf``.
    """
    t = as_log_weights(log_w, "log_w")
    return float(torch.logsumexp(t, dim=0) - math.log(t.numel()))


def ess(log_w: torch.Tensor) -> float:
    """Normalised effective sample size ``(sum w)^2 / (N sum w^2)`` in ``(0, 1]``.

    Computed as ``exp(2 lse(l) - lse(2 l) - log N)`` with ``l = log_w - max(log_w)``.
    Equal weights give 1; a single dominant weight gives ``1/N``. Raises
    ``ValueError`` when every weight is zero (all ``-inf``), where ESS is undefined.
    """
    t = as_log_weights(log_w, "log_w")
    top = t.max()
    if torch.isneginf(top):
        raise ValueError(f"log_w: all {t.numel()} weights are zero (-inf); ESS is undefined")
    s = t - top
    log_ess = 2.0 * torch.logsumexp(s, dim=0) - torch.logsumexp(2.0 * s, dim=0)
    log_ess = log_ess - math.log(t.numel())
    return min(1.0, float(torch.exp(log_ess)))


def logw_var(log_w: torch.Tensor) -> float:
    """Unbiased variance ``(1/(K-1)) sum_k (log_w_k - mean)^2`` of the finite entries of ``log_w``.

    ``log_w`` ``[N]`` (generation log-weights ``log R(x_T) + log p_B - log p_F``, as in
    :func:`ads_bench.objectives.log_weights`) -> float >= 0; the ``K`` finite entries are used (zero
    weights, ``-inf``, are left out). It is the VarGrad loss times ``K / (K - 1)``. Constant
    log-weights give exactly 0; ``nan`` when fewer than two entries are finite (undefined).
    """
    t = as_log_weights(log_w, "log_w")
    t = t[torch.isfinite(t)]
    if t.numel() < 2:
        return math.nan
    return float(torch.var(t, unbiased=True))


def delta_logz(estimate: float | torch.Tensor, log_z: float | torch.Tensor) -> float:
    """Absolute error ``|estimate - log_z|`` of a log Z estimate.

    ``log_z`` (the ground truth) must be finite; ``estimate`` may be ``-inf`` (giving
    ``inf``), but a NaN estimate raises ``ValueError``.
    """
    est = float(estimate)
    ref = float(log_z)
    if not math.isfinite(ref):
        raise ValueError(f"log_z must be finite, got {ref}")
    if math.isnan(est):
        raise ValueError("estimate is NaN")
    return abs(est - ref)
