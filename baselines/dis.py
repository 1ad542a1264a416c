"""DIS — the time-reversed Diffusion Sampler (Berner, Richter & Ullrich, TMLR 2024).

Continuous model (DIS section 3, "diffusion-based sampling as optimal control"). A fixed
variance-preserving *noising* process runs from the target to the prior; with ``tau = 1 - t``
(``tau = 0`` at the target, ``tau = 1`` at the prior):

    dY_tau = -1/2 beta(tau) Y_tau dtau + sigma_0 sqrt(beta(tau)) dB_tau,
    beta(tau) = beta_min + (beta_max - beta_min) tau,

whose marginals approach ``N(0, sigma_0^2 I)`` (the prior ``p_0``). The generative process is its time
reversal, written through the score of the noising marginals ``p_tau``:

    dX_t = beta (1/2 X_t + sigma_0^2 s_theta(X_t, t)) dt + sigma_0 sqrt(beta) dW_t,   X_0 ~ N(0, sigma_0^2 I)

with ``s_theta ~ grad log p_tau``. Parameterisation used here: ``s_theta(x, t) = -x / sigma_0^2 +
NN_theta(x, t)`` — the prior's score plus a learned correction that starts at zero, so training
starts from the reversal of the noising process in its stationary regime (DIS's zero control).

Discretisation (Euler-Maruyama in both directions on ``t_i = i / T``, as DIS simulates its SDEs);
with ``b_i = beta(1 - t_i) dt`` for the generation step leaving ``x_i`` and ``b'_i = beta(1 - t_{i+1})
dt`` for the noising step leaving ``x_{i+1}``:

    p_theta(x_{i+1} | x_i) = N((1 - b_i / 2) x_i + sigma_0^2 b_i NN_theta(x_i, t_i),  sigma_0^2 b_i I)
    p_ref(x_i | x_{i+1})   = N((1 - b'_i / 2) x_{i+1},                             sigma_0^2 b'_i I)

and the log-weight uses exactly these two Gaussians plus ``log p_0(x_0)``. At few steps the
Euler-Maruyama noising kernel is a poor approximation of the continuous process (its coefficient
``1 - b'/2`` can even be negative at T = 5 with the default schedule); that is the method as
defined, and precisely the regime the paper's claim is about.

Objective: the log-variance loss (batch variance of ``log w`` on detached on-policy trajectories,
Richter & Berner 2024, "log-variance loss"); ``dis-kl`` trains with DIS's original reverse KL
through the simulated trajectories instead.

Hyperparameters: ``beta_min = 0.1``, ``beta_max = 10`` (the VP schedule of the authors' public
configuration, ``sde_sampler`` ``conf/sde/vp_10.yaml``, used by its DIS solver), ``sigma_0 =
sqrt(t_scale)`` (``sampler.prior_std = None``: sqrt 5 for the 2-D mixtures, 1
otherwise, matching the spread of the pinned methods' reference at t = 1); Adam lr 1e-3, batch 300.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ads_bench.schemes import Scheme, vp_rate
from baselines._common import CONTINUOUS_TIME

__all__ = ["DIS", "DIS_KL", "scheme"]


def scheme(
    times: Tensor,
    *,
    t_scale: float,
    prior: str,
    prior_std: float,
    beta_min: float,
    beta_max: float,
) -> Scheme:
    """Euler-Maruyama kernels of DIS on the grid ``times`` ``[T+1]`` (module docstring)."""
    del t_scale  # the VP process has its own scale, sigma_0 = prior_std
    if prior != "gaussian":
        raise ValueError(
            f"DIS needs sampler.prior='gaussian' (its VP noising process), got {prior!r}"
        )
    times = times.double()
    dt = times[1:] - times[:-1]
    var0 = prior_std**2
    b_gen = vp_rate(1.0 - times[:-1], beta_min, beta_max) * dt
    b_ref = vp_rate(1.0 - times[1:], beta_min, beta_max) * dt
    return Scheme(
        gen_coef=1.0 - 0.5 * b_gen,
        gen_scale=var0 * b_gen,
        gen_log_var=torch.log(var0 * b_gen),
        dest_coef=1.0 - 0.5 * b_ref,
        dest_log_var=torch.log(var0 * b_ref),
        step_mask=torch.ones(dt.numel(), dtype=torch.bool),
    )


DIS = {
    **CONTINUOUS_TIME,
    "sampler.prior": "gaussian",
    "sampler.prior_std": None,
    "sampler.scheme": "baselines.dis:scheme",
    "sampler.beta_min": 0.1,
    "sampler.beta_max": 10.0,
    "train.objective": "vargrad",
}

DIS_KL = {**DIS, "train.objective": "kl"}
