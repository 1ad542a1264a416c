"""How far a learned destruction kernel (the backward policy, README *Training a sampler*) is from
its base kernel, the Brownian bridge ``N((t_i / t_{i+1}) x_{i+1}, var_b(i))``.

The ``adaptive`` destruction learns ``mean = mean_b + Δ_i a_φ(x_{i+1}, t_{i+1})`` and
``log var = log var_b + r · tanh(b_φ / r)`` (arXiv:2506.01541, section 3); both heads start at
zero, so an untrained kernel is exactly the bridge and every shift below is 0. The pinned last step to
``x_0 = 0`` is deterministic and is left out (:attr:`~ads_bench.sampler.Sampler.step_mask`).
"""

from __future__ import annotations

import numpy as np
import torch

from ads_bench.rollout import forward_rollout


@torch.no_grad()
def destruction_shift(model, n: int = 256, seed: int = 0) -> dict[str, float]:
    """The learned destruction's distance from its base on the sampler's own trajectories.

    ``n`` trajectories of the generation process (rollout seed ``seed``), states ``[n, T + 1, D]``.
    ``mean_shift``: mean over trajectories, stochastic steps and coordinates of
    ``|mean_φ(x_{i+1}) - c_i x_{i+1}| / sqrt(v_i)`` (base standard deviations); ``logvar_shift``:
    mean ``|log σ²_φ - log v_i|``; ``logvar_min``/``logvar_max``: extremes of
    ``log σ²_φ - log v_i``. All 0 for fixed destruction."""
    gen = torch.Generator().manual_seed(seed)
    traj = forward_rollout(model, n, generator=gen, log_probs=False)
    states = traj.states
    dest = model.destruction
    mean, log_var = dest(states[:, 1:], None)
    base_mean = dest.coef.to(states.dtype)[None, :, None] * states[:, 1:]
    base_lv = dest.log_var_base.to(states.dtype)[None, :, None]
    keep = model.step_mask
    dm = ((mean - base_mean).abs() / torch.exp(0.5 * base_lv))[:, keep]
    dv = (log_var - base_lv)[:, keep]
    return {
        "mean_shift": float(dm.mean()),
        "logvar_shift": float(dv.abs().mean()),
        "logvar_min": float(dv.min()),
        "logvar_max": float(dv.max()),
    }


def destruction_correction(model, half: float = 15.0, n: int = 241) -> dict[str, np.ndarray]:
    """The learned log-variance correction ``log σ²_φ(x, t) - log var_b(t)`` of the destruction
    kernel on ``n`` points x1 in [-half, half] with every other coordinate 0: ``corr [n, T, D]``
    (NaN on deterministic steps), ``x [n]``, ``t [T]`` (the step's input time t_{i+1}),
    ``times [T + 1]``, ``mask [T]`` (stochastic steps)."""
    dest = model.destruction
    dtype = model.log_z.dtype
    xs = torch.linspace(-half, half, n, dtype=torch.float64)
    x = torch.zeros(n, model.steps, model.dim, dtype=dtype)
    x[..., 0] = xs[:, None].to(dtype)
    with torch.no_grad():
        _, log_var = dest(x)  # all steps at once: [n, T, D]
    corr = (log_var.double() - dest.log_var_base.double()[None, :, None]).numpy().copy()
    mask = model.step_mask.numpy().astype(bool)
    corr[:, ~mask] = np.nan
    return {
        "x": xs.numpy(),
        "t": dest.t_in.double().numpy(),
        "times": model.times.double().numpy(),
        "corr": corr,
        "mask": mask,
    }
