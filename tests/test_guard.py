"""The divergence guard (ads_bench.guard): a finite runaway stops a run as *diverged*, keeps its
last good checkpoint, is not retrained by the sweep, and is counted, not averaged, by the tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ads_bench import training
from ads_bench.config import EvalConfig
from ads_bench.guard import DivergenceError, NonFiniteError, check_divergence, guard_probe
from ads_bench.methods import make_config
from ads_bench.sampler import Sampler
from ads_bench.sweep.runner import run_sweep
from ads_bench.targets import get_target
from ads_bench.training import train

TINY = {
    "sampler.hidden": 16,
    "sampler.n_freq": 8,
    "sampler.steps": 4,
    "train.batch_size": 32,
    "train.iterations": 6,
    "train.checkpoint_every": 2,
    "eval.n": 64,
    "eval.every": 0,
    "eval.sample_metrics": False,
}


def _runaway(model: Sampler, scale: float) -> None:
    """Push the generation drift far out (finite): what issue 18's diverged runs looked like."""
    with torch.no_grad():
        model.generation.net.head.bias[: model.dim] += scale


def test_probe_of_a_runaway_sampler_breaks_the_rule_and_a_fresh_one_does_not():
    target = get_target("gmm25").to(dtype=torch.float32)
    model = Sampler(2, 5, learn_var=True, destruction="adaptive", hidden=16, n_freq=8)
    gen = torch.Generator().manual_seed(0)
    fresh = guard_probe(model, target, n=256, generator=gen)
    assert fresh["finite"] and fresh["elbo_gap"] < 100 and fresh["logw_std"] < 100
    rule = {"max_elbo_gap": EvalConfig.guard_elbo_gap, "max_logw_std": EvalConfig.guard_logw_std}
    assert rule == {"max_elbo_gap": 1e4, "max_logw_std": 1e3}  # the documented defaults
    check_divergence(fresh, iteration=7, checkpoint=None, **rule)

    _runaway(model, 1e3)  # samples ~1e3 away from every mode, log-weights all finite
    probe = guard_probe(model, target, n=256, generator=gen)
    assert probe["finite"] and probe["elbo_gap"] > 1e4
    with pytest.raises(DivergenceError, match=r"diverged at iteration 7: ELBO gap .* > 10000 nats"):
        check_divergence(probe, iteration=7, checkpoint=None, **rule)
    # the log-weight bound alone also sees it (it is the rule for targets without a known log Z)
    with pytest.raises(DivergenceError, match="log-weight std"):
        check_divergence(
            {**probe, "elbo_gap": None}, iteration=7, max_elbo_gap=None, max_logw_std=1.0,
            checkpoint="c.pt (iteration 6)",
        )  # fmt: skip
    with pytest.raises(NonFiniteError, match="non-finite log-weight"):
        check_divergence({**probe, "finite": False}, iteration=7, max_elbo_gap=1e3,
                         max_logw_std=1e2, checkpoint=None)  # fmt: skip
    # both bounds off: nothing is checked but finiteness
    check_divergence(probe, iteration=7, max_elbo_gap=None, max_logw_std=None, checkpoint=None)


def _provoke_after(monkeypatch, iteration: int, seeds=None):
    """From ``iteration`` on, the runs of ``seeds`` (all if None) run away before the guard looks."""
    real = training.divergence_guard

    def guard(run):
        if run.iteration >= iteration and (seeds is None or run.cfg.seed in seeds):
            _runaway(run.model, 1e3)
        real(run)

    monkeypatch.setattr(training, "divergence_guard", guard)


def test_a_provoked_divergence_stops_the_run_and_keeps_the_last_good_checkpoint(
    tmp_path, monkeypatch
):
    cfg = make_config("adaptive", "gmm25", overrides=TINY)
    _provoke_after(monkeypatch, 4)
    with pytest.raises(DivergenceError, match="diverged at iteration 4: ELBO gap") as err:
        train(cfg, out_dir=tmp_path, progress=False)
    assert "checkpoint.pt (iteration 2)" in str(err.value)
    kept = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert kept["iteration"] == 2  # the diverged model never reached a checkpoint
    assert not (tmp_path / "result.json").exists()


def test_the_guard_leaves_healthy_runs_alone_and_changes_no_number(tmp_path):
    cfg = make_config("adaptive", "gmm25", overrides={**TINY, "eval.every": 2})
    on = train(cfg, out_dir=tmp_path / "on", progress=False)
    off = train(cfg.with_overrides({"eval.guard_elbo_gap": None, "eval.guard_logw_std": None}),
                out_dir=tmp_path / "off", progress=False)  # fmt: skip
    assert on.metrics == off.metrics  # the probe draws from a generator of its own
    assert [r["elbo"] for r in on.history] == [r["elbo"] for r in off.history]


def test_a_diverged_seed_of_an_ensemble_stops_alone(tmp_path, monkeypatch):
    cfg = make_config("adaptive", "gmm25", overrides=TINY)
    clean = train(cfg, seeds=[0, 2], progress=False)
    _provoke_after(monkeypatch, 4, seeds={1})
    results = train(cfg, seeds=[0, 1, 2], out_dir=tmp_path, progress=False)
    assert results[1].error.startswith("DivergenceError: diverged at iteration 4")
    error = json.loads((tmp_path / "seed-1" / "error.json").read_text())
    assert error["kind"] == "diverged"
    assert torch.load(tmp_path / "seed-1" / "checkpoint.pt", weights_only=True)["iteration"] == 2
    for s, ref in ((0, clean[0]), (2, clean[1])):  # the others are untouched by it
        for k, v in ref.metrics.items():
            if isinstance(v, float):
                assert results[s].metrics[k] == pytest.approx(v, rel=1e-4, abs=1e-5), (s, k)


@pytest.mark.parametrize("ensembles", [False, True])
def test_sweep_records_a_diverged_run_counts_it_and_does_not_retrain_it(
    tmp_path, monkeypatch, ensembles
):
    from claims import diverged_cells, render_claims
    from table1 import aggregate, render

    from ads_bench.sweep.specs import expand_grid

    over = {k: v for k, v in TINY.items() if k != "sampler.steps"}
    specs = expand_grid("gmm25", "adaptive", 4, [0, 1], overrides=over)
    _provoke_after(monkeypatch, 4, seeds={1})
    first = run_sweep(specs, tmp_path, progress=False, seed_ensembles=ensembles)
    status = {r.spec.seed: r.status for r in first.records}
    assert status == {0: "done", 1: "diverged"}
    assert "1 diverged, 0 failed" in first.summary() and "DIVERGED" in first.summary()
    err = json.loads((Path(first.records[1].path) / "error.json").read_text())
    assert err["kind"] == "diverged" and "DivergenceError" in err["error"]

    again = run_sweep(specs, tmp_path, progress=False, seed_ensembles=ensembles)
    assert again.ran == 0  # a diverged run is an outcome: served, not retrained
    assert [r.status for r in again.records] == ["cached", "diverged"]

    (row,) = aggregate(again.records)
    assert row["n_diverged"] == 1 and row["n_failed"] == 1 and row["seeds"] == [0]
    assert row["errors"] == []  # diverged is not a failure
    assert row["delta_logz_elbo"] == pytest.approx(first.records[0].metrics["delta_logz_elbo"])
    budget = type("B", (), {"note": "test"})()
    assert "1/2 diverged (not in the mean)" in render([row], budget, None)["md"]
    cells = diverged_cells([row])
    assert cells == [{"target": "gmm25", "steps": 4, "method": "adaptive", "diverged": 1,
                      "runs": 2}]  # fmt: skip
    assert "adaptive gmm25 T=4: 1/2" in render_claims([], "", None, cells)
