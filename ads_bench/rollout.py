"""Trajectory rollouts of a :class:`~ads_bench.sampler.Sampler` (paper arXiv 2506.01541, section 3).

* :func:`forward_rollout` samples ``x_0 ~ p_0`` and ``x_{i+1} ~ p_theta(. | x_i)`` (on-policy, or with
  extra exploration noise), the trajectories of TB / VarGrad / reverse KL / TLM;
* :func:`backward_rollout` noises given terminal samples ``x_T`` back to ``t_0`` with the
  destruction process ``x_i ~ p_phi(. | x_{i+1})`` (e.g. from a replay buffer or target samples).

Sampling is sequential over the ``T`` steps. The log-probabilities of every step under both processes
are then computed with one batched network evaluation per process on the known states (``[B, T, D]``,
all steps at once) and one :func:`ads_bench.ops.gaussian_logprob` call per process. The only exception
is the reparameterised forward rollout, whose generation ``(mean, log_var)`` are kept from the
sampling pass (re-evaluating would give the same values and the same gradient paths).

Randomness comes from ``noise`` ``[B, T+1, D]`` (``noise[:, k]`` is the standard normal draw that
produced ``states[:, k]``; unused entries are ignored) or, if it is not given, from
``Sampler.draw_noise(B, generator)``. ``torch.compile(fullgraph=True)`` cannot trace a
``torch.Generator`` argument (dynamo has no proxy for it), so a compiled rollout takes ``generator=None``
(the global RNG) or pre-drawn ``noise``. With ``langevin=True`` the ``score_fn`` must be traceable
too: ``Target.score`` calls ``torch.autograd.grad``, which breaks a fullgraph trace (it still compiles
with graph breaks); a closed-form score does not.

Everything is compile-friendly: Python control flow depends only on static configuration, never on
tensor values, and nothing synchronises with the host.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from ads_bench.ops import gaussian_logprob
from ads_bench.sampler import Sampler

__all__ = ["Trajectory", "backward_rollout", "forward_rollout"]


@dataclasses.dataclass(frozen=True)
class Trajectory:
    """A batch of trajectories and their per-step kernel parameters.

    Attributes:
        states: ``[B, T+1, D]``, ``states[:, i] = x_i``.
        log_pf: ``[B, T]``, ``log p_theta(x_{i+1} | x_i)`` (without exploration noise); ``None``
            when the rollout was made with ``log_probs=False``.
        log_pb: ``[B, T]``, ``log p_phi(x_i | x_{i+1})``, exactly 0 where ``step_mask`` is False
            (``None`` likewise).
        log_p0: ``[B]``, ``log p_0(x_0)`` (0 for the pinned prior).
        step_mask: ``[T]`` bool, False for a deterministic destruction step (step 0 of the pinned
            prior), True otherwise. It concerns the destruction process only.
        fwd_mean, fwd_log_var: ``[B, T, D]``, generation kernel of step ``i`` at ``x_i``.
        bwd_mean, bwd_log_var: ``[B, T, D]``, destruction kernel of step ``i`` at ``x_{i+1}``; on a
            masked step ``(x_i, 0)`` so that they stay finite.
    """

    states: Tensor
    log_pf: Tensor | None
    log_pb: Tensor | None
    log_p0: Tensor
    step_mask: Tensor
    fwd_mean: Tensor
    fwd_log_var: Tensor
    bwd_mean: Tensor
    bwd_log_var: Tensor


def _finish(
    model: Sampler,
    states: Tensor,
    fwd: tuple[Tensor, Tensor] | None,
    *,
    use_target: bool,
    impl: str,
    log_probs: bool = True,
) -> Trajectory:
    """Batched kernel parameters (and, with ``log_probs``, log-probabilities) of both processes on
    known ``states`` ``[B, T+1, D]``. Without ``log_probs`` the ``log_pf``/``log_pb`` fields are
    ``None``: a caller that feeds the parameters to the fused ``trajectory_balance`` op skips the pass."""
    fwd_mean, fwd_log_var = model.pf_params(states) if fwd is None else fwd
    bwd_mean, bwd_log_var = model.pb_params(states, use_target=use_target)
    return Trajectory(
        states=states,
        log_pf=gaussian_logprob(states[:, 1:], fwd_mean, fwd_log_var, impl=impl)
        if log_probs
        else None,
        log_pb=model.masked_logprob(states[:, :-1], bwd_mean, bwd_log_var, impl=impl)
        if log_probs
        else None,
        log_p0=model.log_p0(states[:, 0], impl=impl),
        step_mask=model.step_mask,
        fwd_mean=fwd_mean,
        fwd_log_var=fwd_log_var,
        bwd_mean=bwd_mean,
        bwd_log_var=bwd_log_var,
    )


def forward_rollout(
    model: Sampler,
    batch_size: int,
    *,
    generator: torch.Generator | None = None,
    noise: Tensor | None = None,
    exploration_std: float | Tensor = 0.0,
    reparam: bool = False,
    use_target: bool = False,
    impl: str = "auto",
    log_probs: bool = True,
) -> Trajectory:
    """Sample ``batch_size`` trajectories from the prior and the generation process.

    Args:
        exploration_std: extra noise for *sampling* only: ``x_{i+1} = mean + sqrt(var + e^2) eps``;
            the log-probabilities use the policy's own ``var``.
        reparam: False -> sampled without autograd, so ``states`` carry no graph (TB, VarGrad, TLM);
            True -> ``x_{i+1} = mean + std eps`` keeps gradients through every state (reverse KL).
            The Langevin score is then evaluated on the non-detached state.
        use_target: evaluate ``log_pb`` with the EMA ``target_destruction`` (TLM's generation loss).
        impl: forwarded to :func:`ads_bench.ops.gaussian_logprob`.
    """
    if noise is None:
        noise = model.draw_noise(batch_size, generator)
    x = model.sample_prior(noise[:, 0])
    states, means, log_vars = [x], [], []
    with torch.set_grad_enabled(reparam and torch.is_grad_enabled()):
        for i in range(model.steps):
            mean, log_var = model.generation(x, i, score_grad=reparam)
            std = torch.sqrt(torch.exp(log_var) + exploration_std**2)
            x = mean + std * noise[:, i + 1]
            states.append(x)
            means.append(mean)
            log_vars.append(log_var)
    fwd = (torch.stack(means, 1), torch.stack(log_vars, 1)) if reparam else None
    return _finish(
        model, torch.stack(states, 1), fwd, use_target=use_target, impl=impl, log_probs=log_probs
    )


def backward_rollout(
    model: Sampler,
    x_T: Tensor,
    *,
    generator: torch.Generator | None = None,
    noise: Tensor | None = None,
    use_target: bool = False,
    impl: str = "auto",
    log_probs: bool = True,
) -> Trajectory:
    """Noise terminal samples ``x_T`` ``[B, D]`` back to ``t_0`` with the destruction process.

    States are sampled without autograd (detached); both processes' log-probabilities are then
    evaluated on the trajectory (differentiable in the network parameters). ``use_target`` samples and
    evaluates with the EMA target destruction instead of the live one.
    """
    if noise is None:
        noise = model.draw_noise(x_T.shape[0], generator)
    kernel = model.destruction_kernel(use_target)
    x = x_T.detach()
    states = [x]
    with torch.no_grad():
        for i in reversed(range(model.steps)):
            if i == 0 and model.prior == "pinned":
                x = torch.zeros_like(x)  # the deterministic last step onto x_0 = 0
            else:
                mean, log_var = kernel(x, i)
                x = mean + torch.exp(0.5 * log_var) * noise[:, i]
            states.append(x)
    states.reverse()
    return _finish(
        model, torch.stack(states, 1), None, use_target=use_target, impl=impl, log_probs=log_probs
    )
