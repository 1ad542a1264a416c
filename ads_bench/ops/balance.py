"""``trajectory_balance``: the TB / VarGrad loss of a trajectory batch, fused from kernel parameters.

Training a diffusion sampler with trajectory balance (README *Training a sampler*) evaluates, per trajectory, the
log-densities of every generation and destruction transition, sums them into the log-weight ``log w``
and reduces the batch to a loss. This op does that in one pass from the kernels' Gaussian parameters
(formulas TB1-TB4 of ``csrc/include/ads_bench/trajectory_balance.h``, built on G1/G2 of
``gaussian.h``), forward and backward, instead of a chain of ``[B, T]`` intermediates.
"""

from __future__ import annotations

import torch

from ads_bench.ops import reference
from ads_bench.ops._dispatch import check_dtype_device, use_fused

__all__ = ["trajectory_balance"]

_OP = "trajectory_balance"
_PARAMS = ("fwd_mean", "fwd_log_var", "bwd_mean", "bwd_log_var")


def _check(states, params, log_reward, log_z, step_mask) -> None:
    named = {"states": states, **dict(zip(_PARAMS, params, strict=True)), "log_reward": log_reward}
    if log_z is not None:
        named["log_z"] = log_z
    for name, t in named.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{_OP}: {name} must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(f"{_OP}: {name} must be a floating-point tensor, got dtype {t.dtype}")
    if states.dim() != 3 or states.shape[1] < 1:
        raise ValueError(
            f"{_OP}: states must have shape [B, T+1, D] with T+1 >= 1, got {tuple(states.shape)}"
        )
    batch, steps, dim = states.shape[0], states.shape[1] - 1, states.shape[2]
    expected = {name: (batch, steps, dim) for name in _PARAMS}
    expected["log_reward"] = (batch,)
    expected["log_z"] = ()
    for name, t in named.items():
        if name == "states":
            continue
        if tuple(t.shape) != expected[name]:
            what = "0-dim (a scalar tensor)" if name == "log_z" else str(expected[name])
            raise ValueError(
                f"{_OP}: {name} has shape {tuple(t.shape)} but expected {what} "
                f"from states of shape {tuple(states.shape)} = [B, T+1, D]"
            )
        check_dtype_device(_OP, name, t, "states", states)
    if step_mask is not None:
        if not isinstance(step_mask, torch.Tensor):
            raise TypeError(
                f"{_OP}: step_mask must be a torch.Tensor or None, got {type(step_mask).__name__}"
            )
        if step_mask.dtype != torch.bool:
            raise TypeError(f"{_OP}: step_mask must be a bool tensor, got dtype {step_mask.dtype}")
        if tuple(step_mask.shape) != (steps,):
            raise ValueError(
                f"{_OP}: step_mask has shape {tuple(step_mask.shape)} but expected ({steps},) = [T] "
                f"from states of shape {tuple(states.shape)}"
            )
        if step_mask.device != states.device:
            raise ValueError(
                f"{_OP}: step_mask is on {step_mask.device} but states is on {states.device}; "
                "they must be on one device"
            )


def trajectory_balance(
    states: torch.Tensor,
    fwd_mean: torch.Tensor,
    fwd_log_var: torch.Tensor,
    bwd_mean: torch.Tensor,
    bwd_log_var: torch.Tensor,
    log_reward: torch.Tensor,
    log_z: torch.Tensor | None = None,
    *,
    step_mask: torch.Tensor | None = None,
    impl: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Trajectory balance (``log_z`` given) or VarGrad (``log_z=None``) loss, and the log-weights.

    With ``logN`` the diagonal Gaussian log-density summed over D (formula G1)::

        log w_b = log_reward_b + sum_t step_mask_t * logN(states[b, t]; bwd_mean[b, t], bwd_log_var[b, t])
                               - sum_t logN(states[b, t+1]; fwd_mean[b, t], fwd_log_var[b, t])
        TB:      loss = mean_b (log_z - log w_b)^2
        VarGrad: loss = mean_b (log w_b - mean(log w))^2            (1/B normalisation)

    Args:
        states: ``[B, T+1, D]`` trajectories ``x_0 .. x_T``.
        fwd_mean, fwd_log_var: ``[B, T, D]`` generation kernel parameters of ``p(x_{t+1} | x_t)``.
        bwd_mean, bwd_log_var: ``[B, T, D]`` destruction kernel parameters of ``q(x_t | x_{t+1})``.
        log_reward: ``[B]`` ``log R(x_T)``. To include an initial density, pass
            ``log_reward - log p_0(x_0)``.
        log_z: 0-dim learned ``log Z`` (TB), or ``None`` for VarGrad.
        step_mask: ``[T]`` bool, ``False`` for steps without a destruction density (they contribute
            exactly 0 and their ``bwd_*`` entries are ignored, even if NaN or inf, and get zero
            gradient); ``None`` means all ``True``.
        impl: ``"auto"`` (fused kernel where built for the device and dtype, else reference),
            ``"fused"`` (raise if unavailable) or ``"reference"`` (pure PyTorch).

    Returns:
        ``(loss, log_w)``: the 0-dim loss and ``log_w`` ``[B]``. Both are differentiable in every
        floating input (states included, e.g. ``-log_w.mean()`` is the reverse-KL objective on
        reparameterised trajectories); the fused backward takes the upstream gradients of both.

    Contract: all floating tensors share one dtype and device (no broadcasting); any strides. Values
    are not checked (that would cost a host synchronisation on CUDA): a NaN in ``log_reward`` or in an
    unmasked parameter propagates to its ``log_w_b`` and to the loss. An empty batch (``B = 0``)
    gives ``loss = NaN`` (the mean of nothing, as ``torch.mean``), ``log_w`` of shape ``[0]`` and a
    zero ``log_z`` gradient. The fused batch reductions run in a fixed order (deterministic for a
    given device, whatever the number of CPU threads).
    """
    params = (fwd_mean, fwd_log_var, bwd_mean, bwd_log_var)
    _check(states, params, log_reward, log_z, step_mask)
    if use_fused(_OP, impl, states):
        if step_mask is None:
            step_mask = torch.ones(states.shape[1] - 1, dtype=torch.bool, device=states.device)
        loss, log_w = torch.ops.ads_bench.trajectory_balance(
            states, *params, log_reward, log_z, step_mask
        )
        return loss, log_w
    return reference.trajectory_balance(states, *params, log_reward, log_z, step_mask)
