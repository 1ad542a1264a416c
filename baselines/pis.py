"""PIS — the Path Integral Sampler (Zhang & Chen, ICLR 2022), as a discrete-time sampler.

Continuous model (PIS section 3, "path integral sampler"): the uncontrolled reference process is a
Brownian motion started at the origin, ``dX_t = sigma dW_t`` on ``t in [0, 1]`` (so ``X_1 ~ N(0,
sigma^2 I)``); the sampler is the controlled SDE ``dX_t = u_theta(X_t, t) dt + sigma dW_t`` with the
*same* diffusion coefficient. Its loss is the reverse KL between the controlled path measure and the
reference path measure reweighted by ``R(X_1) / N(X_1; 0, sigma^2 I)``, estimated through simulated
trajectories with the gradient taken through the simulation (reparameterisation); minimising it
gives ``KL - log Z``.

Discretisation used here (Euler-Maruyama on the uniform grid ``t_i = i / T``, PIS's own integrator):

    p_theta(x_{i+1} | x_i) = N(x_i + dt u_theta(x_i, t_i), sigma^2 dt I)
    p_ref(x_i | x_{i+1})   = N((t_i / t_{i+1}) x_{i+1}, sigma^2 dt (t_i / t_{i+1}) I)   (Brownian bridge)

The second line is the exact time reversal of the discretised reference (a Gaussian random walk
from 0), so ``sum_i log p_ref(x_i | x_{i+1}) = log N(x_1..x_T; random walk) - log N(x_T; 0, sigma^2)``
and ``log w = log R(x_T) + sum log p_ref - sum log p_theta`` is exactly PIS's discrete-time
importance weight. This is the package's default scheme with the pinned prior and the fixed
destruction; only the objective (reverse KL through the states) and the absence of any learned
destruction or variance make it PIS.

Hyperparameters: ``sigma^2 = t_scale`` (5 for the 2-D mixtures, 1 otherwise: the values of the
benchmark of Sendera et al. 2024 that reports PIS at T = 100); Adam, lr 1e-3, batch 300; the
network is the package's Fourier-feature MLP (PIS's own architecture family). ``pis-lp`` adds the
Langevin parameterisation of PIS section 4 (``u = NN_1(x, t) + NN_2(t) * clip(grad log R(x))``).
"""

from __future__ import annotations

from typing import Any

from baselines._common import CONTINUOUS_TIME

__all__ = ["PIS", "PIS_LP"]

PIS: dict[str, Any] = {
    **CONTINUOUS_TIME,
    "sampler.prior": "pinned",
    "sampler.scheme": "default",
    "sampler.langevin": False,
    "train.objective": "kl",
}

PIS_LP: dict[str, Any] = {**PIS, "sampler.langevin": True}
