"""Pure-PyTorch references of every fused kernel in ``csrc/``.

Each function here computes, with ordinary differentiable torch operations, exactly what the fused op
of the same name computes; the test suite compares the two (values and gradients). They are also the
fallback of ``impl="auto"`` where no fused kernel is built for a device or dtype.

The ``*_backward`` functions are the references of the fused backward ops (the vector-Jacobian
products, formulas G2 and TB3-TB4). Being differentiable themselves, they are also what the fused ops'
autograd runs when a backward pass records a graph (``create_graph=True``): double backward through a
fused op is the double backward of these formulas.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "gaussian_logprob",
    "gaussian_logprob_backward",
    "trajectory_balance",
    "trajectory_balance_backward",
]

_LOG_2PI = math.log(2.0 * math.pi)


def gaussian_logprob(x: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """Diagonal Gaussian log-density, summed over the last dimension (formula G1 of
    ``csrc/include/ads_bench/gaussian.h``; README *Training a sampler*)::

        log N(x; mean, diag(exp(log_var))) = -1/2 * sum_d [(x-mean)^2 exp(-log_var) + log_var + log 2pi]

    Shapes: ``x``, ``mean``, ``log_var`` ``[..., D]`` -> ``[...]``.
    """
    diff = x - mean
    return -0.5 * (diff.square() * torch.exp(-log_var) + log_var + _LOG_2PI).sum(dim=-1)


def gaussian_logprob_backward(
    grad: torch.Tensor, x: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Vector-Jacobian product of :func:`gaussian_logprob` (formula G2), as the fused backward op::

        d/dx = -grad (x - mean) exp(-log_var),   d/dmean = -d/dx,
        d/dlog_var = -grad/2 (1 - (x - mean)^2 exp(-log_var))

    evaluated in the order autograd differentiates :func:`gaussian_logprob` (so the same inf and NaN
    come out where ``exp(-log_var)`` overflows). Shapes: ``grad`` ``[...]``; ``x``, ``mean``,
    ``log_var`` ``[..., D]``. Returns the three gradients, ``[..., D]`` each.
    """
    half_grad = grad.unsqueeze(-1) * -0.5  # the gradient of the un-halved term
    diff = x - mean
    precision = torch.exp(-log_var)
    grad_x = (half_grad * precision) * (2.0 * diff)
    grad_log_var = half_grad - (half_grad * diff.square()) * precision
    return grad_x, -grad_x, grad_log_var


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
    (formulas TB1-TB2 of ``csrc/include/ads_bench/trajectory_balance.h``, written out in
    :func:`ads_bench.ops.trajectory_balance`): ``log w`` sums :func:`gaussian_logprob` of the
    destruction steps (masked steps excluded), minus those of the generation steps, plus
    ``log_reward``; ``loss = mean_b (log w_b - c)^2`` with ``c = log_z``, or ``mean_b log w_b``.

    Shapes: ``states`` ``[B, T+1, D]``; the four parameters ``[B, T, D]``; ``log_reward`` ``[B]``;
    ``log_z`` 0-dim; ``step_mask`` ``[T]`` bool (``None``: all True). Returns ``(loss, log_w)``, loss
    0-dim (NaN for ``B = 0``, like the mean of an empty tensor). Masked steps contribute exactly 0 and
    their destruction parameters receive exactly zero gradient, even when they are not finite.
    """
    log_pf = gaussian_logprob(states[:, 1:], fwd_mean, fwd_log_var)  # [B, T]
    x_prev, bwd_mean, bwd_log_var = _kept(step_mask, states[:, :-1], bwd_mean, bwd_log_var)
    log_pb = _select(step_mask, gaussian_logprob(x_prev, bwd_mean, bwd_log_var))
    log_w = log_reward + log_pb.sum(dim=-1) - log_pf.sum(dim=-1)
    baseline = log_w.mean() if log_z is None else log_z
    loss = (log_w - baseline).square().mean()
    return loss, log_w


def _kept(step_mask: torch.Tensor | None, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``[B, T, D]`` tensors with masked steps replaced by finite stand-ins (0).

    Masked steps are evaluated on the stand-ins and their results dropped by :func:`_select`, so
    neither their value nor their gradient (0 * NaN) can leak non-finite parameters.
    """
    if step_mask is None:
        return tensors
    keep = step_mask[:, None]
    return tuple(torch.where(keep, t, t.new_zeros(())) for t in tensors)


def _select(step_mask: torch.Tensor | None, t: torch.Tensor) -> torch.Tensor:
    """``t`` (``[B, T]`` or ``[B, T, D]``) with masked steps set to exactly 0."""
    if step_mask is None:
        return t
    keep = step_mask if t.dim() == 2 else step_mask[:, None]
    return torch.where(keep, t, t.new_zeros(()))


def trajectory_balance_backward(
    grad_loss: torch.Tensor,
    grad_log_w: torch.Tensor,
    states: torch.Tensor,
    fwd_mean: torch.Tensor,
    fwd_log_var: torch.Tensor,
    bwd_mean: torch.Tensor,
    bwd_log_var: torch.Tensor,
    log_w: torch.Tensor,
    log_z: torch.Tensor | None = None,
    step_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, ...]:
    """Vector-Jacobian product of :func:`trajectory_balance` from the upstream gradients of both
    outputs and the forward's ``log_w`` (formulas TB3-TB4), as the fused backward op::

        l_b = grad_loss * 2 (log w_b - c) / B,   dc = -sum_b l_b   (the gradient of log_z, for TB)
        g_b = l_b + grad_log_w_b [+ dc / B for VarGrad]              (the gradient of log_reward_b)
        generation term of step t: G2 at states[b, t+1] with upstream -g_b,
        destruction term of step t: G2 at states[b, t] with upstream g_b (0 on masked steps)

    Shapes: ``grad_loss`` 0-dim, ``grad_log_w`` and ``log_w`` ``[B]``, the rest as in
    :func:`trajectory_balance`. Returns the gradients of ``states``, ``fwd_mean``, ``fwd_log_var``,
    ``bwd_mean``, ``bwd_log_var``, ``log_reward`` and ``log_z`` (0-dim; zero when ``log_z`` is None).
    The VarGrad term ``dc / B`` is zero in exact arithmetic; it is kept, as autograd keeps it, so that a
    non-finite ``log_w`` poisons every gradient as in the reference. The coefficient is a
    differentiable function of ``log_w`` (the VarGrad baseline included), so its derivative is the
    loss's second derivative in ``log_w``.
    """
    batch, steps = fwd_mean.shape[0], fwd_mean.shape[1]
    baseline = log_w.mean() if log_z is None else log_z
    grad_through_loss = grad_loss * 2.0 * (log_w - baseline) / batch  # [B]
    grad_baseline = -grad_through_loss.sum()  # dc
    coefficient = grad_through_loss + grad_log_w  # [B]  (TB3)
    if log_z is None:
        coefficient = coefficient + grad_baseline / batch
    g = coefficient[:, None].expand(batch, steps)  # [B, T]
    grad_next, grad_fwd_mean, grad_fwd_log_var = gaussian_logprob_backward(
        -g, states[:, 1:], fwd_mean, fwd_log_var
    )
    kept = _kept(step_mask, states[:, :-1], bwd_mean, bwd_log_var)
    grad_prev, grad_bwd_mean, grad_bwd_log_var = (
        _select(step_mask, t) for t in gaussian_logprob_backward(g, *kept)
    )
    # State s ends step s - 1 (s >= 1) and starts step s (s < T): [B, T+1, D].
    zeros = states.new_zeros(batch, 1, states.shape[2])
    grad_states = torch.cat([zeros, grad_next], dim=1) + torch.cat([grad_prev, zeros], dim=1)
    grad_log_z = grad_baseline if log_z is not None else log_w.new_zeros(())
    return (
        grad_states,
        grad_fwd_mean,
        grad_fwd_log_var,
        grad_bwd_mean,
        grad_bwd_log_var,
        coefficient,
        grad_log_z,
    )
