"""pytest-benchmark: one training iteration of a seed ensemble (rollout, objective, backward,
per-seed clipping, Adam), eager vs compiled (``train.compile``, :mod:`ads_bench.update`), 1 and 5 seeds.

Groups are (method, T, batch); within a group compare ``seeds`` and ``mode`` as ratios of the time per
seed-iteration (``extra_info["seeds"]`` divides the median), never as lone absolute times. A compiled
case is warmed up (compiled) before timing; in the ordinary test run, where benchmarks are disabled,
the compiled cases are skipped (their compilation costs about a minute per graph) and each eager case
runs once as a smoke test. ``reproduce/train_speed.py`` times the same steps end to end.
"""

from __future__ import annotations

import itertools

import pytest

from ads_bench.ensemble.loop import resume_groups
from ads_bench.ensemble.seed_ensemble import SeedEnsemble
from ads_bench.methods import make_config
from ads_bench.targets import get_target

CASES = [("fixed-learnvar", 10, 300), ("adaptive", 10, 300)]


def _ensemble(method: str, steps: int, batch: int, seeds: int, compiled: bool):
    over = {"sampler.steps": steps, "train.batch_size": batch, "train.compile": compiled,
            "train.iterations": 10**6, "eval.every": 0}  # fmt: skip
    cfg = make_config(method, "gmm25", overrides=over)
    todo = [(cfg.with_overrides({"seed": s}), None) for s in range(seeds)]
    (group,) = resume_groups(todo, get_target("gmm25"))
    return SeedEnsemble(group, list(range(seeds)), progress=False)


@pytest.mark.parametrize("mode", ["eager", "compiled"])
@pytest.mark.parametrize("seeds", [1, 5])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "{}-T{}-B{}".format(*c))
def test_ensemble_training_step(benchmark, case, seeds, mode):
    if benchmark.disabled and (mode == "compiled" or seeds > 1):
        pytest.skip("compiled and 5-seed cases are timed only with --benchmark-enable")
    method, steps, batch = case
    benchmark.group = f"training step {method} T={steps} B={batch}"
    benchmark.extra_info.update(method=method, steps=steps, batch=batch, seeds=seeds, mode=mode)
    model = _ensemble(method, steps, batch, seeds, mode == "compiled")
    iterations = itertools.count()
    if mode == "compiled":
        for _ in range(3):  # on- and off-policy graphs compiled before timing
            model.step(next(iterations))
    losses = benchmark(lambda: model.step(next(iterations)))
    assert len(losses) == seeds
