"""Training objectives of diffusion samplers: one loss family and its generation/destruction split.

Paper (arXiv 2506.01541) sections 2-3. Every objective is built on the log-weight of a trajectory
``tau = (x_0, ..., x_T)``, the importance weight of the generation process against the destruction
process and the target::

    log w(tau) = log R(x_T) + sum_i log p_phi(x_i | x_{i+1}) - sum_i log p_theta(x_{i+1} | x_i)
                 - log p_0(x_0)

Its expectation under the generation process is ``log Z - KL``, so ``log w = log Z`` for every
trajectory exactly when the pair of processes is perfect (the time-reversal condition
``p_0 p_theta = p_target p_phi``).

The loss family. Each objective is a function of one signature, :data:`LossFn`::

    loss(traj, log_reward, log_z, *, impl) -> (loss, log_w)

that evaluates the destruction kernel stored in ``traj`` (``bwd_mean``, ``bwd_log_var``), and
:data:`OBJECTIVES` maps each name of ``train.objective`` to its function (the config's validation
reads its keys). The formulas themselves are written once, in the fused op
:func:`ads_bench.ops.trajectory_balance` and its pure-PyTorch reference
:func:`ads_bench.ops.reference.trajectory_balance`; this module only composes them:

* :func:`tb_loss`: trajectory balance, ``mean_b (log Z_psi - log w_b)^2`` with a learned scalar;
* :func:`vargrad_loss`: VarGrad (log-variance), the batch variance of ``log w`` (1/B normalisation);
* :func:`reverse_kl_loss`: ``-mean log w`` on reparameterised trajectories (PIS), equal to
  ``KL(generation || destruction-target) - log Z``;
* TLM (trajectory likelihood maximisation): the generation process and log Z are trained by
  :func:`tb_loss` against the EMA target copy of phi (so ``OBJECTIVES["tlm"]`` is :func:`tb_loss`),
  the destruction process by :func:`tlm_loss`, ``-mean_b sum_i log p_phi(x_i | x_{i+1})`` on
  detached states.

:func:`objective_losses` splits an objective into the loss of the generation parameters (and log Z)
and the loss of the destruction parameters, which differ only with a target network or TLM.
:func:`log_weights` is ``log w`` from the per-step log-probabilities a rollout recorded (evaluation,
the divergence guard and the baselines use it).

Shapes: ``log_w``, ``log_reward`` ``[B]``; ``log_z`` 0-dim; trajectory fields as in
:class:`~ads_bench.rollout.Trajectory`. Pure tensor code: no host synchronisation and no branch on
tensor values, so a training step that calls it is ``torch.compile``-able.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ads_bench.ops import gaussian_logprob, trajectory_balance
from ads_bench.rollout import Trajectory
from ads_bench.sampler import Sampler

__all__ = [
    "OBJECTIVES",
    "LossFn",
    "Losses",
    "log_weights",
    "objective_losses",
    "reverse_kl_loss",
    "tb_loss",
    "tlm_loss",
    "vargrad_loss",
]

#: ``loss(traj, log_reward, log_z, *, impl) -> (loss, log_w)``: 0-dim loss, ``[B]`` log-weights.
LossFn = Callable[..., tuple[Tensor, Tensor]]


def _masked_sum(traj: Trajectory, per_step: Tensor) -> Tensor:
    """``sum_i`` of a ``[B, T]`` destruction term over the steps with ``step_mask`` True -> ``[B]``."""
    return torch.where(traj.step_mask, per_step, 0.0).sum(-1)


def log_weights(traj: Trajectory, log_reward: Tensor, *, log_pb: Tensor | None = None) -> Tensor:
    """``log w`` ``[B]`` from the recorded per-step log-probabilities ``traj.log_pf``, ``traj.log_pb``.

    ``log_reward`` is ``log R(x_T)`` ``[B]``; ``log_pb`` ``[B, T]`` replaces ``traj.log_pb`` (e.g.
    the target network's log-probabilities). Steps with ``step_mask`` False contribute 0. The
    trajectory needs its log-probabilities (a rollout with ``log_probs=True``); the losses below
    evaluate the kernels' parameters instead.
    """
    pb = traj.log_pb if log_pb is None else log_pb
    return log_reward + _masked_sum(traj, pb) - traj.log_pf.sum(-1) - traj.log_p0


def _balance(
    traj: Trajectory, log_reward: Tensor, log_z: Tensor | None, impl: str
) -> tuple[Tensor, Tensor]:
    """``trajectory_balance`` of the trajectory's kernels: TB (``log_z``) or VarGrad (``None``)."""
    return trajectory_balance(
        traj.states,
        traj.fwd_mean,
        traj.fwd_log_var,
        traj.bwd_mean,
        traj.bwd_log_var,
        log_reward - traj.log_p0,
        log_z,
        step_mask=traj.step_mask,
        impl=impl,
    )


def tb_loss(
    traj: Trajectory, log_reward: Tensor, log_z: Tensor, *, impl: str = "auto"
) -> tuple[Tensor, Tensor]:
    """Trajectory balance ``mean_b (log_z - log w_b)^2``; trains both processes and ``log_z``."""
    return _balance(traj, log_reward, log_z, impl)


def vargrad_loss(
    traj: Trajectory, log_reward: Tensor, log_z: Tensor, *, impl: str = "auto"
) -> tuple[Tensor, Tensor]:
    """VarGrad ``mean_b (log w_b - mean(log w))^2`` (``log_z`` unused).

    TB with ``log Z`` replaced by its batch optimum ``mean(log w)``; the 1/B normalisation makes it
    ``min_c`` of TB over constants ``c``, and its gradient is the same as with the mean detached.
    """
    return _balance(traj, log_reward, None, impl)


def reverse_kl_loss(
    traj: Trajectory, log_reward: Tensor, log_z: Tensor, *, impl: str = "auto"
) -> tuple[Tensor, Tensor]:
    """``-mean log w`` (``log_z`` unused): the reverse KL up to ``log Z``; gradients flow through
    the states, so ``traj`` comes from a ``reparam=True`` rollout."""
    _, log_w = _balance(traj, log_reward, None, impl)
    return -log_w.mean(), log_w


def tlm_loss(traj: Trajectory, *, impl: str = "auto") -> Tensor:
    """TLM's destruction loss ``-mean_b sum_i log p_phi(x_i | x_{i+1})`` (masked steps excluded).

    Evaluates the trajectory's destruction kernel on its states; with detached states
    (``forward_rollout(reparam=False)`` or :func:`~ads_bench.rollout.backward_rollout`) no
    gradient reaches the generation process. A trunk shared with ``backbone="shared"`` receives it
    (the ``Sampler.parameter_groups()["trunk"]`` group); ``"shared-detached"`` keeps it off the trunk.
    """
    per_step = gaussian_logprob(traj.states[:, :-1], traj.bwd_mean, traj.bwd_log_var, impl=impl)
    return -_masked_sum(traj, per_step).mean()


#: The objectives by ``train.objective`` name (the only list of allowed names). TLM trains the
#: generation with TB against the target copy of phi; its destruction loss is :func:`tlm_loss`.
OBJECTIVES: dict[str, LossFn] = {
    "tb": tb_loss,
    "vargrad": vargrad_loss,
    "kl": reverse_kl_loss,
    "tlm": tb_loss,
}


# ---------------------------------------------------------------- the generation/destruction split
@dataclass(frozen=True)
class Losses:
    """The two losses of one batch and its monitored log-weights."""

    gen: Tensor  # scalar: trains generation parameters and log Z
    dest: Tensor  # scalar: trains destruction parameters (may be the same tensor as ``gen``)
    log_w: Tensor  # [B] log-weights (live destruction; target copy for TLM), detached


def _with_destruction(traj: Trajectory, params: tuple[Tensor, Tensor]) -> Trajectory:
    """``traj`` with another destruction kernel ``(mean, log_var)`` ``[B, T, D]``."""
    return dataclasses.replace(traj, bwd_mean=params[0], bwd_log_var=params[1])


def _generation_detached(traj: Trajectory) -> Trajectory:
    """``traj`` with no gradient path to the generation process (states and its kernel).

    The states too: reparameterised (KL) states carry generation gradients."""
    return dataclasses.replace(
        traj,
        states=traj.states.detach(),
        fwd_mean=traj.fwd_mean.detach(),
        fwd_log_var=traj.fwd_log_var.detach(),
    )


def objective_losses(
    model: Sampler,
    traj: Trajectory,
    log_reward: Tensor,
    objective: str,
    *,
    use_target: bool,
    impl: str = "auto",
) -> Losses:
    """The generation and destruction losses of one batch (on- or off-policy trajectories).

    ``log_reward`` ``[B]``; ``use_target`` selects the EMA destruction copy inside the generation
    loss (required for TLM). The trajectory needs its kernel parameters only (a rollout with
    ``log_probs=False`` suffices). The two losses are one tensor unless a target network or TLM
    decouples them:

    - no target network: ``gen = dest = L(traj)``, both processes get the gradient of one loss;
    - target network: ``gen = L(traj with phi_target)`` and
      ``dest = L(traj with its generation terms detached)``;
    - TLM: ``gen = TB(traj with phi_target)``, ``dest =`` :func:`tlm_loss` ``(traj)``.

    With ``sampler.backbone="shared"`` the trunk is a group of its own and receives both gradients;
    with ``"shared-detached"`` it is in the generation group and receives only the generation's.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {tuple(OBJECTIVES)}, got {objective!r}")
    if objective == "tlm" and not use_target:
        raise ValueError("objective 'tlm' needs a target network (set train.target_rate)")
    loss_fn = OBJECTIVES[objective]
    if not use_target:
        loss, log_w = loss_fn(traj, log_reward, model.log_z, impl=impl)
        return Losses(gen=loss, dest=loss, log_w=log_w.detach())
    target = _with_destruction(traj, model.pb_params(traj.states, use_target=True))
    gen, log_w = loss_fn(target, log_reward, model.log_z, impl=impl)
    if objective == "tlm":
        # log_w (the monitored log-weight) is then the one of the generation loss, with phi_target.
        dest = tlm_loss(traj, impl=impl)
    else:
        live = _generation_detached(traj)
        dest, log_w = loss_fn(live, log_reward.detach(), model.log_z.detach(), impl=impl)
    return Losses(gen=gen, dest=dest, log_w=log_w.detach())
