"""The single-seed code batched over seeds: stacked parameters, ``vmap`` of a ``functional_call``.

Every parameter of a seed ensemble's :class:`~ads_bench.sampler.Sampler` is one ``[S, ...]`` tensor
(:func:`stack_parameters`), each seed's module holding views of its slice; one call of the ordinary
single-seed code (:class:`SeedCall`) runs for all ``S`` seeds at once under
``torch.func.vmap(functional_call(...))`` (:func:`batched_call`), so each matmul is batched over
seeds. Gradient-norm clipping is applied per seed (:func:`clip_grad_norm_per_seed`), and the
Langevin target score is taken by ``torch.func.grad`` (:func:`functional_score`), which ``vmap``
can batch where ``torch.autograd.grad`` cannot.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, vmap

__all__ = [
    "SeedCall",
    "batched_call",
    "clip_grad_norm_per_seed",
    "functional_score",
    "stack_parameters",
]


class SeedCall(nn.Module):
    """``forward(kind, *tensors)`` = one piece of the single-seed code on ``self.model``: what
    ``functional_call`` swaps the stacked parameters into. Kinds: ``on_policy`` / ``off_policy``
    (``run._<kind>_losses``, the eager ensemble's), and the compiled update's pieces
    (:mod:`ads_bench.update`): ``gen_step``, ``dest_step`` (one sampling step) and ``objective``
    (the loss on given states)."""

    def __init__(self, run):
        super().__init__()
        self.model = run.model
        self.run = run
        self._losses = {"on_policy": run._on_policy_losses, "off_policy": run._off_policy_losses}

    def forward(self, kind: str, *args):
        """Run the piece ``kind`` of the single-seed code on ``args``."""
        if kind in self._losses:
            return self._losses[kind](*args)
        return getattr(self, f"_{kind}")(*args)

    def _gen_step(self, x, i, noise_i, exploration):
        """``x_{i+1}`` from ``x_i`` ``[B, D]`` (step ``i`` a tensor), as :func:`forward_rollout`."""
        mean, log_var = self.model.generation(x, i)
        return mean + torch.sqrt(torch.exp(log_var) + exploration**2) * noise_i

    def _dest_step(self, x, i, noise_i):
        """``x_i`` from ``x_{i+1}`` ``[B, D]``, as :func:`backward_rollout` (live destruction)."""
        mean, log_var = self.model.destruction(x, i)
        return mean + torch.exp(0.5 * log_var) * noise_i

    def _objective(self, states, log_r):
        """The loss that one backward pass of :meth:`_Run.step` differentiates, and the
        log-weights, of trajectories ``states`` ``[B, T+1, D]`` with log-rewards ``[B]``."""
        from ads_bench.objectives import objective_losses
        from ads_bench.rollout import _finish

        run = self.run
        traj = _finish(
            self.model, states, None, use_target=False, impl="reference", log_probs=False
        )
        losses = objective_losses(
            self.model,
            traj,
            log_r,
            run.cfg.train.objective,
            use_target=run.use_target,
            impl="reference",
        )
        total = losses.gen if not run.use_target else losses.gen + losses.dest
        return total, losses.log_w

    def log_reward(self, x):
        """``log R(x)`` of the run's target (``x [..., D]``)."""
        return self.run.target.log_prob(x)


def functional_score(target):
    """``x [..., D] -> grad_x log R(x)`` through ``torch.func.grad`` (composable with ``vmap`` and
    ``torch.compile``), the same values as ``target.score`` (the samples are independent, so the
    gradient of the summed log density is every sample's own score)."""

    def score(x):
        return torch.func.grad(lambda y: target.log_prob(y).sum())(x)

    return score


def _set_parameter(module: nn.Module, dotted: str, param: nn.Parameter) -> None:
    *path, leaf = dotted.split(".")
    for name in path:
        module = getattr(module, name)
    module._parameters[leaf] = param


def stack_parameters(runs: list) -> dict[str, torch.Tensor]:
    """Every parameter of the runs' models stacked on a leading seed dimension ``[S, ...]`` (by
    parameter name); each run's module is rebound to an ``nn.Parameter`` view of its own slice."""
    base = runs[0].model
    names = [n for n, _ in base.named_parameters()]
    per_run = [dict(run.model.named_parameters()) for run in runs]
    stacked: dict[str, torch.Tensor] = {}
    for n in names:
        grad = per_run[0][n].requires_grad
        tensor = torch.stack([d[n].detach() for d in per_run]).requires_grad_(grad)
        stacked[n] = tensor
        for s, run in enumerate(runs):
            _set_parameter(run.model, n, nn.Parameter(tensor.detach()[s], requires_grad=grad))
    return stacked


def batched_call(call: SeedCall, params: dict[str, torch.Tensor], kind: str, *args, in_dims):
    """``call(kind, *args)`` for every seed at once: ``vmap`` over the stacked ``params`` (dim 0)
    and ``args`` (``in_dims``, one per argument: 0 for a per-seed ``[S, ...]`` tensor, None for one
    shared by all seeds)."""
    fn = vmap(
        # tie_weights=False: a shared trunk is one module, so swapping its parameters under one
        # name swaps them for both networks (re-swapping the alias would leak batched tensors).
        lambda p, *a: functional_call(call, p, (kind, *a), tie_weights=False),
        in_dims=(0, *in_dims),
    )
    return fn(params, *args)


def clip_grad_norm_per_seed(params: list[torch.Tensor], max_norm: float, n_seeds: int) -> None:
    """``clip_grad_norm_`` per seed: each seed's gradients of the stacked ``params`` ``[S, ...]``
    scaled by ``min(1, max_norm / (||g_s|| + 1e-6))``."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    # Seed by seed, each norm reduced like torch.nn.utils.clip_grad_norm_ reduces one seed's
    # tensors (a reduction over a [S, n] view would sum in an order that depends on S).
    total = torch.stack(
        [
            torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g[s]) for g in grads]))
            for s in range(n_seeds)
        ]
    )  # [S]
    coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.view(-1, *([1] * (g.ndim - 1))))
