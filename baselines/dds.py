"""DDS — the Denoising Diffusion Sampler (Vargas, Grathwohl & Doucet, ICLR 2023).

Continuous model (DDS section 3, "denoising diffusion samplers"). The reference (noising) process is
an Ornstein-Uhlenbeck process whose invariant law is the prior ``N(0, sigma_0^2 I)``; with ``tau = 1 -
t`` (``tau = 0`` at the target):

    dY_tau = -lambda(tau) Y_tau dtau + sigma_0 sqrt(2 lambda(tau)) dB_tau.

Because the reference is stationary, its time reversal started from ``N(0, sigma_0^2 I)`` is the same
OU process; the sampler adds a learned drift, ``dX_t = (-lambda X_t + 2 sigma_0^2 lambda f_theta(X_t,
t)) dt + sigma_0 sqrt(2 lambda) dW_t``, and is trained with the reverse KL to the reference path
measure reweighted by ``R / N(0, sigma_0^2)``, gradients through the simulated trajectories (DDS
section 3, the KL objective).

Discretisation (DDS section 3, "exponential integrator"): over one step the linear part is
integrated exactly and ``f_theta`` is frozen at the step's start. With ``alpha_i`` the step's noise
level (``sqrt(1 - alpha_i) = exp(-int lambda)``):

    p_theta(x_{i+1} | x_i) = N(sqrt(1 - a_i) x_i + 2 sigma_0^2 (1 - sqrt(1 - a_i)) f_theta(x_i, t_i),
                               sigma_0^2 a_i I)
    p_ref(x_i | x_{i+1})   = N(sqrt(1 - a_i) x_{i+1},  sigma_0^2 a_i I)

The second kernel is the exact transition of the OU reference; both are the method's own
discrete-time kernels, and the log-weight uses exactly them plus ``log p_0(x_0)``. With ``f_theta =
0`` the generation chain is the reference's own (stationary) chain.

Noise schedule: the cosine schedule that DDS takes from Nichol & Dhariwal (2021): ``abar(tau) =
cos^2(pi/2 (tau + s) / (1 + s)) / cos^2(pi/2 s / (1 + s))``, ``s = 0.008``, and for the step between
``tau = 1 - t_{i+1}`` and ``tau' = 1 - t_i``: ``a_i = 1 - abar(tau') / abar(tau)``, clipped to
``[1e-6, 0.999]`` (the last step into the prior has ``abar(1) = 0``). ``sigma_0 = sqrt(t_scale)``
(``sampler.prior_std = None``) as for DIS; Adam lr 1e-3, batch 300.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ads_bench.schemes import Scheme
from baselines._common import CONTINUOUS_TIME

__all__ = ["COSINE_OFFSET", "DDS", "cosine_alpha_bar", "dds_alphas", "scheme"]

#: ``s`` of the cosine schedule
COSINE_OFFSET = 0.008
_ALPHA_RANGE = (1e-6, 0.999)


def cosine_alpha_bar(tau: Tensor, s: float = COSINE_OFFSET) -> Tensor:
    """Signal kept after noising to diffusion time ``tau`` in ``[0, 1]`` (1 at tau = 0, 0 at tau = 1)."""
    f = torch.cos(0.5 * math.pi * (tau + s) / (1.0 + s)).square()
    return f / math.cos(0.5 * math.pi * s / (1.0 + s)) ** 2


def dds_alphas(times: Tensor) -> Tensor:
    """Per-step noise levels ``a_i`` ``[T]`` on the grid ``times`` ``[T+1]`` (float64)."""
    times = times.double()
    near = cosine_alpha_bar(1.0 - times[1:])  # closer to the target
    far = cosine_alpha_bar(1.0 - times[:-1])
    return (1.0 - far / near).clamp(*_ALPHA_RANGE)


def scheme(
    times: Tensor,
    *,
    t_scale: float,
    prior: str,
    prior_std: float,
    beta_min: float,
    beta_max: float,
) -> Scheme:
    """Exponential-integrator kernels of DDS on ``times`` ``[T+1]`` (module docstring)."""
    del t_scale, beta_min, beta_max  # DDS uses its cosine schedule and sigma_0 = prior_std
    if prior != "gaussian":
        raise ValueError(f"DDS needs sampler.prior='gaussian' (its OU reference), got {prior!r}")
    a = dds_alphas(times)
    keep = torch.sqrt(1.0 - a)
    var0 = prior_std**2
    log_var = torch.log(var0 * a)
    return Scheme(
        gen_coef=keep,
        gen_scale=2.0 * var0 * (1.0 - keep),
        gen_log_var=log_var,
        dest_coef=keep,
        dest_log_var=log_var.clone(),
        step_mask=torch.ones(a.numel(), dtype=torch.bool),
    )


DDS = {
    **CONTINUOUS_TIME,
    "sampler.prior": "gaussian",
    "sampler.prior_std": None,
    "sampler.scheme": "baselines.dds:scheme",
    "train.objective": "kl",
}
