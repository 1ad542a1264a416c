"""Seed ensembles (ads_bench.ensemble): every seed of a config trained as one batched model must
follow the single-seed run of that seed, stop alone when it diverges, and resume exactly."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch

from ads_bench.ensemble.checkpoints import NEXT_CHECKPOINT, settle_pending_checkpoints
from ads_bench.ensemble.loop import parse_seeds, train_ensemble
from ads_bench.ensemble.seed_ensemble import SeedEnsemble
from ads_bench.methods import make_config
from ads_bench.store import RunDir
from ads_bench.sweep.runner import run_sweep
from ads_bench.sweep.specs import expand_grid
from ads_bench.training import train

TINY = {
    "sampler.hidden": 16,
    "sampler.n_freq": 8,
    "train.batch_size": 32,
    "eval.n": 64,
    "eval.every": 0,
    "train.iterations": 30,
    "sampler.steps": 3,
}


pytestmark = pytest.mark.usefixtures("one_thread")


def _close(a: dict, b: dict, tol: float) -> None:
    assert a.keys() == b.keys()
    for k, v in a.items():
        if isinstance(v, float) and math.isfinite(v):
            assert abs(v - b[k]) <= tol * max(1.0, abs(v)), (k, v, b[k])
        else:
            assert v == b[k], k


def test_parse_seeds():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("3") == [3]
    assert parse_seeds("0-2,7") == [0, 1, 2, 7]
    for bad in ("", "a", "3-1", "0,0", "-1"):
        with pytest.raises(ValueError, match="seeds"):
            parse_seeds(bad)


@pytest.mark.parametrize(
    "method, extra",
    [
        ("fixed-learnvar", {}),
        ("adaptive", {"train.grad_clip": 1.0}),  # replay, exploration, shared trunk, clipping
        ("adaptive-tlm", {}),  # target network, two losses
        ("bounded", {"sampler.backbone": "separate"}),
        ("fixed", {"sampler.langevin": True}),  # the score by torch.func.grad under vmap
    ],
)
def test_ensemble_seed_equals_the_single_seed_run(method, extra):
    cfg = make_config(method, "gmm9", overrides={**TINY, "train.dtype": "float64", **extra})
    results = train(cfg, seeds=[0, 1, 2], progress=False)
    for seed, got in zip([0, 1, 2], results, strict=True):
        single = train(cfg.with_overrides({"seed": seed}), progress=False)
        _close(got.metrics, single.metrics, 1e-4)
        assert got.env["ensemble_seeds"] == [0, 1, 2] and got.env["fused_kernels"] is False
    # seeds are independent: the same seed in a smaller ensemble gives the same numbers
    alone = train_ensemble(cfg, [1], progress=False)[0]
    assert alone.metrics == results[1].metrics


def test_ensemble_writes_single_seed_run_folders(tmp_path):
    cfg = make_config("adaptive", "gmm9", overrides={**TINY, "eval.every": 10})
    results = train(cfg, seeds=[2, 5], out_dir=tmp_path, progress=False)
    single = train(cfg.with_overrides({"seed": 5}), out_dir=tmp_path / "single", progress=False)
    for seed, res in zip([2, 5], results, strict=True):
        folder = tmp_path / f"seed-{seed}"
        assert res.out_dir == str(folder)
        names = {p.name for p in folder.iterdir()}
        assert names == {"config.json", "checkpoint.pt", "history.csv", "result.json", "run.lock"}
        data = json.loads((folder / "result.json").read_text())
        assert data["config"] == cfg.with_overrides({"seed": seed}).as_dict()
    a = torch.load(tmp_path / "seed-5" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "single" / "checkpoint.pt", weights_only=True)
    assert a.keys() == b.keys() and a["model"].keys() == b["model"].keys()
    for k in b["model"]:  # plain per-seed tensors, not views of the stacked ones
        assert a["model"][k].shape == b["model"][k].shape
    assert (
        a["optimizers"]["generation"]["param_groups"]
        == b["optimizers"]["generation"]["param_groups"]
    )
    assert single.history[-1]["iteration"] == results[1].history[-1]["iteration"] == 30
    # A seed folder is a single-seed run folder: the single-seed command sees it finished.
    again = train(cfg.with_overrides({"seed": 5}), out_dir=tmp_path / "seed-5", progress=False)
    assert again.cached and again.metrics == results[1].metrics
    # and rerunning the ensemble serves every seed from disk
    assert all(r.cached for r in train(cfg, seeds=[2, 5], out_dir=tmp_path, progress=False))


def test_one_diverging_seed_stops_alone(tmp_path, monkeypatch):
    over = {**TINY, "train.checkpoint_every": 2}
    cfg = make_config("adaptive", "gmm9", overrides=over)
    clean = train(cfg, seeds=[0, 2], progress=False)
    real_step = SeedEnsemble.step
    real_backward = torch.Tensor.backward

    def step(self, it):
        if it == 3 and self.S == 3:

            def poisoned(tensor, *args, **kwargs):  # seed 1's destruction gradient becomes NaN
                real_backward(tensor, *args, **kwargs)
                self.groups["destruction"][0].grad[1] = torch.nan

            monkeypatch.setattr(torch.Tensor, "backward", poisoned)
            try:
                return real_step(self, it)
            finally:
                monkeypatch.setattr(torch.Tensor, "backward", real_backward)
        return real_step(self, it)

    monkeypatch.setattr(SeedEnsemble, "step", step)
    results = train(cfg, seeds=[0, 1, 2], out_dir=tmp_path, progress=False)
    bad = results[1]
    assert "gradient of the destruction parameters at iteration 3" in bad.error
    assert "checkpoint.pt (iteration 2)" in bad.error and bad.metrics == {}
    error = json.loads((tmp_path / "seed-1" / "error.json").read_text())
    assert error["error"].startswith("NonFiniteError: non-finite gradient")
    kept = torch.load(tmp_path / "seed-1" / "checkpoint.pt", weights_only=True)
    assert kept["iteration"] == 2
    assert all(bool(torch.isfinite(v).all()) for v in kept["model"].values())
    assert not (tmp_path / "seed-1" / "result.json").exists()
    # the other seeds went on, exactly as without the diverging one
    assert results[0].metrics == clean[0].metrics and results[2].metrics == clean[1].metrics


def test_killed_ensemble_resumes_exactly(tmp_path, monkeypatch):
    over = {**TINY, "train.iterations": 40, "train.checkpoint_every": 10}
    cfg = make_config("adaptive", "gmm9", overrides=over)
    straight = train(cfg, seeds=[0, 1, 2], out_dir=tmp_path / "a", progress=False)
    _interrupted_at(cfg, [0, 1, 2], tmp_path / "b", 27, monkeypatch)
    resumed = train(cfg, seeds=[0, 1, 2], out_dir=tmp_path / "b", progress=False)
    for a, b in zip(straight, resumed, strict=True):
        assert b.timing["resumed"] and a.metrics == b.metrics


def _interrupted_at(cfg, seeds, out, stop_at, monkeypatch):
    real_step = SeedEnsemble.step

    def step(self, it):
        if it == stop_at:
            raise KeyboardInterrupt
        return real_step(self, it)

    monkeypatch.setattr(SeedEnsemble, "step", step)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, seeds=seeds, out_dir=out, progress=False)
    monkeypatch.setattr(SeedEnsemble, "step", real_step)


@pytest.mark.parametrize("phase", ["renaming", "writing"])
def test_half_committed_checkpoint_rolls_forward_or_back(tmp_path, monkeypatch, phase):
    over = {**TINY, "train.iterations": 30, "train.checkpoint_every": 10}
    cfg = make_config("adaptive", "gmm9", overrides=over)
    straight = train(cfg, seeds=[0, 1], progress=False)
    _interrupted_at(cfg, [0, 1], tmp_path / "at10", 15, monkeypatch)  # checkpoints at 10
    _interrupted_at(cfg, [0, 1], tmp_path / "at20", 25, monkeypatch)  # checkpoints at 20
    x = tmp_path / "x"
    shutil.copytree(tmp_path / "at10", x)
    ck = "checkpoint.pt"
    if phase == "renaming":  # seed 0 committed (20), seed 1 still pending: roll forward
        shutil.copy(tmp_path / "at20" / "seed-0" / ck, x / "seed-0" / ck)
        shutil.copy(tmp_path / "at20" / "seed-1" / ck, x / "seed-1" / NEXT_CHECKPOINT)
        want = 20
    else:  # only seed 0's pending file was written: roll back to 10
        shutil.copy(tmp_path / "at20" / "seed-0" / ck, x / "seed-0" / NEXT_CHECKPOINT)
        want = 10
    dirs = [RunDir(x / f"seed-{s}") for s in (0, 1)]
    settle_pending_checkpoints(dirs)
    assert [rd.load_checkpoint()["iteration"] for rd in dirs] == [want, want]
    assert not any(rd.file(NEXT_CHECKPOINT).exists() for rd in dirs)
    resumed = train(cfg, seeds=[0, 1], out_dir=x, progress=False)
    for a, b in zip(straight, resumed, strict=True):
        assert b.timing["resumed"] and a.metrics == b.metrics


def test_unsupported_configs_are_clear_errors():
    over = {**TINY, "train.objective": "kl", "train.compile": True}
    with pytest.raises(ValueError, match=r"compile.*'kl'"):
        train(make_config("fixed", "gmm9", overrides=over), seeds=[0, 1], progress=False)


def test_sweep_with_seed_ensembles_matches_its_layout(tmp_path):
    grid = {k: v for k, v in TINY.items() if k != "sampler.steps"}
    specs = expand_grid(["gmm9"], ["fixed", "adaptive"], [3], [0, 1], {**grid, "eval.n": 32})
    grouped = run_sweep(specs, tmp_path, workers=1, progress=False, seed_ensembles=True)
    assert grouped.ok and grouped.ran == 4
    for r in grouped.records:
        data = json.loads((tmp_path / "runs" / r.key / "result.json").read_text())
        assert data["config"] == r.spec.config().as_dict()
        assert data["env"]["ensemble_size"] == 2
    again = run_sweep(specs, tmp_path, workers=1, progress=False, seed_ensembles=True)
    assert (again.ran, again.cached) == (0, 4)
    alone = train(specs[1].config(), seeds=[1], progress=False)[0]
    assert alone.metrics == grouped.records[1].metrics
