"""Evaluation of a sampler with the metrics of README "Metrics", and its random streams.

- from ``n`` generation trajectories: ``elbo``, ``logz_is``, ``ess``, their gaps to the true
  log Z, and ``logw_var``, the variance of their log-weights (0 for a perfect sampler; needs no
  log Z);
- from ``n`` destruction trajectories started at exact target samples: ``eubo`` and ``eubo_gap``;
- from the ``n`` generated terminal states against ``n`` fresh exact samples: ``w2``, ``sinkhorn``
  (with its ``sinkhorn_eps``), ``mmd``, and ``emc`` for mixtures.

Quantities that do not exist for a target (no exact samples, unknown log Z, no learned log Z) are
``None``. Randomness comes from the given generator only; a training run gives each of its
evaluations a fresh generator of its own (:func:`eval_generator`), derived from the seed and the
iteration it evaluates, so how often a run is evaluated changes neither its training nor its final
metrics, and a finished run re-evaluated from its final checkpoint gets the same numbers. The
metric dictionaries themselves are :mod:`ads_bench.metrics.summary`'s pure functions.
"""

from __future__ import annotations

import numpy as np
import torch

from ads_bench.metrics import evaluate_log_weights, evaluate_samples
from ads_bench.objectives import log_weights
from ads_bench.rollout import backward_rollout, forward_rollout
from ads_bench.sampler import Sampler

__all__ = ["METRIC_KEYS", "eval_generator", "evaluate"]

#: Every metric of :func:`evaluate`, in the column order of ``history.csv``.
METRIC_KEYS = (
    "elbo", "delta_logz_elbo", "logz_is", "delta_logz_is", "logz_learned", "eubo", "eubo_gap",
    "ess", "w2", "sinkhorn", "sinkhorn_eps", "mmd", "emc", "modes", "logw_var",
)  # fmt: skip

#: Stream of the periodic evaluations in :func:`eval_generator`'s ``SeedSequence``.
_STREAM_PERIODIC = 1


def eval_generator(seed: int, iteration: int, *, final: bool, device="cpu") -> torch.Generator:
    """The generator of the evaluation of the run with ``seed`` at ``iteration``.

    The final evaluation uses ``seed + 1_000_003`` (the stream every finished run of this package
    has used); periodic ones a stream derived from ``(seed, iteration)`` with NumPy's
    ``SeedSequence``. So no evaluation depends on whether or how often another one ran."""
    gen = torch.Generator(device=device)
    if final:
        return gen.manual_seed(seed + 1_000_003)
    state = np.random.SeedSequence([seed, _STREAM_PERIODIC, iteration]).generate_state(1, np.uint64)
    return gen.manual_seed(int(state[0]) >> 1)


def _has_samples(target) -> bool:
    """Whether ``target`` draws exact samples (``has_sample``, True unless it says otherwise)."""
    return bool(getattr(target, "has_sample", True))


@torch.no_grad()
def evaluate(
    model: Sampler,
    target,
    *,
    n: int,
    generator: torch.Generator,
    learned_log_z: bool,
    sample_metrics: bool = True,
    sinkhorn_eps: float = 1e-3,
    impl: str = "auto",
) -> dict:
    """All metrics as a dict of Python floats (or ``None``), keys :data:`METRIC_KEYS`."""
    out = dict.fromkeys(METRIC_KEYS)
    traj = forward_rollout(model, n, generator=generator, impl=impl)
    x_gen = traj.states[:, -1]
    log_w = log_weights(traj, target.log_prob(x_gen))
    log_w_bwd = None
    exact = None
    if _has_samples(target):
        exact = target.sample(n, generator, dtype=x_gen.dtype).to(x_gen.device)
        back = backward_rollout(model, exact, generator=generator, impl=impl)
        log_w_bwd = log_weights(back, target.log_prob(exact))
    weights = evaluate_log_weights(log_w, log_z=target.log_z, log_w_bwd=log_w_bwd)
    out.update({k: v for k, v in weights.items() if k in out})
    if out.get("eubo") is not None and target.log_z is not None:
        out["eubo_gap"] = out["eubo"] - target.log_z
    if learned_log_z:
        out["logz_learned"] = float(model.log_z)
    if sample_metrics and exact is not None:
        fresh = target.sample(n, generator, dtype=x_gen.dtype).to(x_gen.device)
        means = getattr(target, "means", None)
        samples = evaluate_samples(x_gen, fresh, means=means, sinkhorn_eps=sinkhorn_eps)
        out.update({k: v for k, v in samples.items() if k in out})
    return out
