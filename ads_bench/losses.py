"""Training objectives of diffusion samplers (SPEC section 3; paper section 2-3), pure tensor functions.

Every objective is built on the trajectory log-weight (importance weight of the generation process
against the destruction process and the target)::

    log w = log R(x_T) + sum_i log p_phi(x_i | x_{i+1}) - sum_i log p_theta(x_{i+1} | x_i) - log p_0(x_0)

Its expectation under the generation process is ``log Z - KL``, so ``log w = log Z`` for every
trajectory exactly when the pair of processes is perfect.

* :func:`tb_loss`: trajectory balance, ``mean (log Z_param - log w)^2``;
* :func:`vargrad_loss`: VarGrad, the batch variance of ``log w``;
* :func:`reverse_kl_loss`: ``-mean log w`` on reparameterised trajectories (PIS), equal to
  ``KL(generation || destruction-target) - log Z``;
* :func:`tlm_loss`: trajectory likelihood maximisation of the destruction process,
  ``-mean sum_i log p_phi(x_i | x_{i+1})`` on trajectories with detached states. Only the destruction
  network receives gradients (a trunk shared with ``backbone="shared"`` gets them too: it is the
  ``Sampler.parameter_groups()["trunk"]`` group; ``"shared-detached"`` keeps them off the trunk). The generation
  process of TLM is trained with TB against the EMA target copy of phi: build the trajectory with
  ``forward_rollout(..., use_target=True)`` or recompute ``Sampler.log_pb(states, use_target=True)``
  (then :func:`log_weights` with ``log_pb=``).

Shapes: ``log_w``, ``log_reward`` ``[B]``; trajectory fields as in :class:`~ads_bench.rollout.Trajectory`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ads_bench.rollout import Trajectory

__all__ = ["log_weights", "reverse_kl_loss", "tb_loss", "tlm_loss", "vargrad_loss"]


def _masked_sum_pb(traj: Trajectory, log_pb: Tensor | None = None) -> Tensor:
    lp = traj.log_pb if log_pb is None else log_pb
    return torch.where(traj.step_mask, lp, 0.0).sum(-1)


def log_weights(traj: Trajectory, log_reward: Tensor, *, log_pb: Tensor | None = None) -> Tensor:
    """``log w`` ``[B]`` of trajectories; ``log_reward`` = ``log R(x_T)`` ``[B]``.

    ``log_pb`` ``[B, T]`` replaces ``traj.log_pb`` (e.g. the target-network log-probabilities of TLM).
    Steps with ``step_mask`` False contribute 0.
    """
    return log_reward + _masked_sum_pb(traj, log_pb) - traj.log_pf.sum(-1) - traj.log_p0


def tb_loss(log_w: Tensor, log_z: Tensor) -> Tensor:
    """Trajectory balance ``mean_b (log_z - log w_b)^2``; ``log_z`` a scalar (learned) parameter."""
    return (log_z - log_w).square().mean()


def vargrad_loss(log_w: Tensor) -> Tensor:
    """Batch variance of ``log w`` with the 1/B normalisation (``unbiased=False``).

    This is TB with ``log Z`` replaced by its batch optimum ``mean(log w)``; the 1/B choice makes it
    equal to ``min_c tb_loss(log_w, c)``. Its gradient is the same as with the mean detached.
    """
    return (log_w - log_w.mean()).square().mean()


def reverse_kl_loss(log_w: Tensor) -> Tensor:
    """``-mean log w``: the reverse KL up to ``log Z``; ``log w`` from a ``reparam=True`` rollout."""
    return -log_w.mean()


def tlm_loss(traj: Trajectory) -> Tensor:
    """``-mean_b sum_i log p_phi(x_i | x_{i+1})`` (masked steps excluded), trains phi only.

    The trajectory must have detached states (``forward_rollout(reparam=False)`` or
    :func:`~ads_bench.rollout.backward_rollout`), so no gradient reaches the generation process.
    """
    return -_masked_sum_pb(traj).mean()
