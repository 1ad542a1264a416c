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

With ``sampler.backbone="shared"`` the trunk is a group of its own and receives both gradients; with
``"shared-detached"`` it is in the generation group and receives only the generation's.
Pure tensor code: no host synchronisation, no branching on tensor values (``torch.compile``-able).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from ads_bench.ops import trajectory_balance
from ads_bench.rollout import Trajectory
from ads_bench.sampler import Sampler

__all__ = ["OBJECTIVES", "Losses", "objective_losses"]

OBJECTIVES = ("tb", "vargrad", "kl", "tlm")


@dataclass(frozen=True)
class Losses:
    gen: Tensor  # scalar: trains generation parameters and log Z
    dest: Tensor  # scalar: trains destruction parameters (may be the same tensor as ``gen``)
    log_w: Tensor  # [B] log-weights (live destruction; target copy for TLM), detached


def _balance(
    objective: str,
    traj: Trajectory,
    log_reward: Tensor,
    bwd: tuple[Tensor, Tensor],
    log_z: Tensor,
    *,
    impl: str,
    detach_generation: bool = False,
) -> tuple[Tensor, Tensor]:
    """(loss, log_w) of TB / VarGrad / reverse KL in one fused ``trajectory_balance`` call.

    ``detach_generation`` cuts the gradient to the generation parameters (the destruction loss of the
    target-network variant)."""
    states, fwd_mean, fwd_log_var = traj.states, traj.fwd_mean, traj.fwd_log_var
    if detach_generation:  # states too: reparameterised (KL) states carry generation gradients
        states, fwd_mean, fwd_log_var = states.detach(), fwd_mean.detach(), fwd_log_var.detach()
    loss, log_w = trajectory_balance(
        states, fwd_mean, fwd_log_var, bwd[0], bwd[1], log_reward - traj.log_p0,
        log_z if objective in ("tb", "tlm") else None, step_mask=traj.step_mask, impl=impl,
    )  # fmt: skip
    if objective == "kl":
        loss = -log_w.mean()
    return loss, log_w


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
    inside the generation loss (required for TLM). The trajectory needs its kernel parameters only
    (a rollout with ``log_probs=False`` suffices): log-weights and losses come from the fused op."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if objective == "tlm" and not use_target:
        raise ValueError("objective 'tlm' needs a target network (set train.target_rate)")
    live = (traj.bwd_mean, traj.bwd_log_var)
    if not use_target:
        loss, log_w = _balance(objective, traj, log_reward, live, model.log_z, impl=impl)
        return Losses(gen=loss, dest=loss, log_w=log_w.detach())
    target = model.pb_params(traj.states, use_target=True)
    gen, log_w = _balance(objective, traj, log_reward, target, model.log_z, impl=impl)
    if objective == "tlm":
        # log_w (the monitored log-weight) is then the one of the generation loss, with phi_target.
        dest = -model.masked_logprob(traj.states[:, :-1], *live, impl=impl).sum(-1).mean()
    else:
        dest, log_w = _balance(objective, traj, log_reward.detach(), live, model.log_z.detach(),
                               impl=impl, detach_generation=True)  # fmt: skip
    return Losses(gen=gen, dest=dest, log_w=log_w.detach())
