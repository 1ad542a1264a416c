"""Pure-PyTorch references of every fused kernel in ``csrc/``.

Each function here computes, with ordinary differentiable torch operations, exactly what the fused op
of the same name computes; the test suite compares the two (values and gradients). They are also the
fallback of ``impl="auto"`` where no fused kernel is built for a device or dtype.
"""

from __future__ import annotations

import math

import torch

__all__ = ["gaussian_logprob", "trajectory_balance"]

_LOG_2PI = math.log(2.0 * math.pi)


def gaussian_logprob(x: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """Diagonal Gaussian log-density, summed over the last dimension (formula G1 of
    ``csrc/include/ads_bench/gaussian.h``; SPEC section 2)::

        log N(x; mean, diag(exp(log_var))) = -1/2 * sum_d [(x-mean)^2 exp(-log_var) + log_var + log 2pi]

    Shapes: ``x``, ``mean``, ``log_var`` ``[..., D]`` -> ``[...]``.
    """
    diff = x - mean
    return -0.5 * (diff.square() * torch.exp(-log_var) + log_var + _LOG_2PI).sum(dim=-1)


def trajectory_balance(
    states: torch.Tensor,
    fwd_mean: torch.Tensor,
    fwd_log_var: torch.Tensor,
    bwd_mean: torch.Tensor,
    bwd_log_var: torch.Tensor,
    log_reward: torch.Tensor,
    log_z: torch.Tensor | None = None,
    step_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Trajectory balance (``log_z`` given) or VarGrad (``log_z=None``) loss and the log-weights
    (formulas TB1-TB2 of ``csrc/include/ads_bench/trajectory_balance.h``)::

        log w_b = log_reward_b + sum_t step_mask_t * log N(states[b, t]; bwd_mean[b, t], bwd_log_var[b, t])
                               - sum_t log N(states[b, t+1]; fwd_mean[b, t], fwd_log_var[b, t])
        loss    = mean_b (log w_b - c)^2,   c = log_z, or mean_b log w_b (VarGrad)

    Shapes: ``states`` ``[B, T+1, D]``; the four parameters ``[B, T, D]``; ``log_reward`` ``[B]``;
    ``log_z`` 0-dim; ``step_mask`` ``[T]`` bool (``None``: all True). Returns ``(loss, log_w)``, loss
    0-dim (NaN for ``B = 0``, like the mean of an empty tensor). Masked steps contribute exactly 0 and
    their destruction parameters receive exactly zero gradient, even when they are not finite.
    """
    log_pf = gaussian_logprob(states[:, 1:], fwd_mean, fwd_log_var)  # [B, T]
    x_prev = states[:, :-1]
    if step_mask is None:
        log_pb = gaussian_logprob(x_prev, bwd_mean, bwd_log_var)
    else:
        # Masked steps are evaluated on finite stand-ins (0) and then dropped by a select, so neither
        # their value nor their gradient (0 * NaN) can leak non-finite parameters.
        keep = step_mask[:, None]
        zero = x_prev.new_zeros(())
        log_pb = gaussian_logprob(
            torch.where(keep, x_prev, zero),
            torch.where(keep, bwd_mean, zero),
            torch.where(keep, bwd_log_var, zero),
        )
        log_pb = torch.where(step_mask, log_pb, zero)
    log_w = log_reward + log_pb.sum(dim=-1) - log_pf.sum(dim=-1)
    baseline = log_w.mean() if log_z is None else log_z
    loss = (log_w - baseline).square().mean()
    return loss, log_w
