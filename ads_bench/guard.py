"""When training has gone wrong: the errors that stop a run, and the divergence guard.

Two ways a run stops before its last iteration, both *before* anything bad reaches a checkpoint,
so the run folder keeps its last good one:

* :class:`NonFiniteError`: a loss, log-weight or gradient became NaN/inf (checked every iteration,
  before the optimiser step);
* :class:`DivergenceError`: every value is finite but the sampler has run away, by the stated rule
  below (checked before every periodic evaluation, every checkpoint and the final one).

The rule (issue 18; ``eval.guard_elbo_gap``, ``eval.guard_logw_std``): on ``eval.n`` fresh
on-policy trajectories of the current networks, a run has diverged when

* its ELBO gap ``log Z - mean(log w)`` exceeds ``guard_elbo_gap`` nats (targets with a known
  ``log Z``; default 1e4), or
* the standard deviation of its log-weights ``log w`` exceeds ``guard_logw_std`` nats (every target;
  default 1e3), or
* a log-weight is not finite.

The bounds sit between what healthy runs reach and what the runaways did. Over Table 1's 108
configurations (batch 300, 200 iterations, ``results/budget_pilot/``) the largest ELBO gap was 405
nats and the largest log-weight standard deviation 99 nats (both DIS on manywell at T = 5, a poor
but stable sampler); the 25 000-iteration convergence runs stayed below 111 nats of ELBO gap. The
runaway the guard is for (issue 18: the ``adaptive`` preset on gmm25 T = 5 and manywell) reached
ELBO gaps of 3e8-6e16, with samples ~1e4 away, while every value stayed finite. ``None`` switches a
bound off.

A diverged run is an outcome, not a failure: the sweep records it (``error.json`` with
``"kind": "diverged"``) and does not retrain it; tables count it per cell and leave it out of every
mean.
"""

from __future__ import annotations

import math

import torch

__all__ = ["DivergenceError", "NonFiniteError", "guard_probe"]


class NonFiniteError(FloatingPointError):
    """A loss, log-weight or gradient became NaN/inf; ``iteration`` and ``quantity`` say where."""

    def __init__(self, iteration: int, quantity: str, checkpoint: str | None, what: str = ""):
        self.iteration, self.quantity, self.checkpoint = iteration, quantity, checkpoint
        kept = f"; last good checkpoint: {checkpoint}" if checkpoint else ""
        what = what or f"non-finite {quantity} at iteration {iteration}"
        super().__init__(f"{what}{kept}")


class DivergenceError(NonFiniteError):
    """The divergence guard fired: ``quantity`` (``"ELBO gap"`` or ``"log-weight std"``) was
    ``value``, above ``bound``, at ``iteration``."""

    def __init__(
        self, iteration: int, quantity: str, value: float, bound: float, checkpoint: str | None
    ):
        self.value, self.bound = value, bound
        super().__init__(
            iteration, quantity, checkpoint,
            f"diverged at iteration {iteration}: {quantity} {value:.4g} > {bound:g} nats "
            "(divergence guard)",
        )  # fmt: skip


@torch.no_grad()
def guard_probe(model, target, *, n: int, generator: torch.Generator, impl: str = "auto") -> dict:
    """``{"elbo_gap", "logw_std", "finite"}`` of ``n`` on-policy trajectories of ``model``.

    ``elbo_gap`` = ``log Z - mean(log w)`` (``None`` when the target's ``log Z`` is unknown),
    ``logw_std`` the standard deviation of ``log w`` (``[n]``), ``finite`` whether every log-weight
    is. One host synchronisation."""
    from ads_bench.objectives import log_weights
    from ads_bench.rollout import forward_rollout

    traj = forward_rollout(model, n, generator=generator, impl=impl)
    log_w = log_weights(traj, target.log_prob(traj.states[:, -1])).double()
    mean, std, finite = torch.stack(
        [log_w.mean(), log_w.std(), torch.isfinite(log_w).all().double()]
    ).tolist()
    log_z = target.log_z
    gap = None if log_z is None or not math.isfinite(mean) else float(log_z) - mean
    return {"elbo_gap": gap, "logw_std": std, "finite": bool(finite)}


def check_divergence(
    probe: dict,
    *,
    iteration: int,
    max_elbo_gap: float | None,
    max_logw_std: float | None,
    checkpoint: str | None,
) -> None:
    """Raise :class:`DivergenceError` (or :class:`NonFiniteError` for a non-finite log-weight) if
    ``probe`` (:func:`guard_probe`) breaks the rule of the module docstring."""
    if not probe["finite"]:
        raise NonFiniteError(iteration, "log-weight of the divergence probe", checkpoint)
    gap, std = probe["elbo_gap"], probe["logw_std"]
    if max_elbo_gap is not None and gap is not None and gap > max_elbo_gap:
        raise DivergenceError(iteration, "ELBO gap", gap, max_elbo_gap, checkpoint)
    if max_logw_std is not None and std > max_logw_std:
        raise DivergenceError(iteration, "log-weight std", std, max_logw_std, checkpoint)
