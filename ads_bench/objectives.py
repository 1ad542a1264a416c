"""One training objective evaluation: from a batch of trajectories to the losses of each parameter group.

SPEC section 3. Given a trajectory batch (on-policy or off-policy) and its log-rewards, returns the
loss whose gradient trains the generation parameters and log Z (``gen``) and the loss whose gradient
trains the destruction parameters (``dest``); they are the same tensor unless a target network or TLM
decouples them:

- no target network: ``gen = dest = L(log w)`` (TB, VarGrad or reverse KL) — both processes receive the
  gradient of the same loss;
- target network (EMA copy of phi): ``gen = L(log w with phi_target)`` and
  ``dest = L(log w with phi, generation terms detached)``;
- TLM: ``gen = TB(log w with phi_target)``, ``dest = -mean sum_i log p_phi(x_i | x_{i+1})``.

With a shared backbone the trunk belongs to the generation group and receives both gradients.
Pure tensor code: no host synchronisation, no branching on tensor values (``torch.compile``-able).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ads_bench.kernels import Sampler
from ads_bench.losses import reverse_kl_loss, tb_loss, vargrad_loss
from ads_bench.rollout import Trajectory

__all__ = ["OBJECTIVES", "Losses", "objective_losses"]

OBJECTIVES = ("tb", "vargrad", "kl", "tlm")


@dataclass(frozen=True)
class Losses:
    gen: Tensor  # scalar: trains generation parameters and log Z
    dest: Tensor  # scalar: trains destruction parameters (may be the same tensor as ``gen``)
    log_w: Tensor  # [B] log-weights with the live destruction process (detached)


def _masked_sum(log_pb: Tensor, mask: Tensor) -> Tensor:
    return torch.where(mask, log_pb, 0.0).sum(-1)


def _balance(objective: str, log_w: Tensor, log_z: Tensor) -> Tensor:
    if objective in ("tb", "tlm"):
        return tb_loss(log_w, log_z)
    if objective == "vargrad":
        return vargrad_loss(log_w)
    return reverse_kl_loss(log_w)


def objective_losses(
    model: Sampler,
    traj: Trajectory,
    log_reward: Tensor,
    objective: str,
    *,
    use_target: bool,
    impl: str = "auto",
) -> Losses:
    """Losses of one batch. ``log_reward`` ``[B]``; ``use_target`` selects the EMA destruction copy
    inside the generation loss (required for TLM)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    rest = log_reward - traj.log_pf.sum(-1) - traj.log_p0  # [B]: everything but the destruction
    pb_live = _masked_sum(traj.log_pb, traj.step_mask)
    log_w = rest + pb_live
    if objective == "tlm" and not use_target:
        raise ValueError("objective 'tlm' needs a target network (set train.target_rate)")
    if not use_target:
        loss = _balance(objective, log_w, model.log_z)
        return Losses(gen=loss, dest=loss, log_w=log_w.detach())
    pb_target = _masked_sum(model.log_pb(traj.states, use_target=True, impl=impl), traj.step_mask)
    gen = _balance(objective, rest + pb_target, model.log_z)
    if objective == "tlm":
        dest = -pb_live.mean()
    else:
        dest = _balance(objective, rest.detach() + pb_live, model.log_z.detach())
    return Losses(gen=gen, dest=dest, log_w=log_w.detach())
