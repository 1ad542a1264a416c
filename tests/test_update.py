"""The compiled training update (ads_bench.update, ``train.compile=true``): over 20 iterations it must
follow the eager ensemble step (float64), stop a diverging seed alone, resume exactly, and compile
each graph once.

Most tests run dynamo's captured full graphs as they are (backend ``"eager"``): the graphs inductor
gets, without AOT autograd's functionalisation and inductor's code generation (about a minute per
graph here). One test runs inductor itself, the whole way (functionalised in-place updates
included)."""

from __future__ import annotations

import math

import pytest
import torch

from ads_bench import update
from ads_bench.ensemble.seed_ensemble import SeedEnsemble
from ads_bench.methods import make_config
from ads_bench.training import train

TINY = {
    "sampler.hidden": 16,
    "sampler.n_freq": 8,
    "train.batch_size": 24,
    "eval.n": 64,
    "eval.every": 0,
    "train.iterations": 20,
    "sampler.steps": 3,
    "train.dtype": "float64",
    "train.checkpoint_every": 0,
}

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def captured(monkeypatch):
    monkeypatch.setattr(update, "BACKEND", "eager")


def _params(out, seeds) -> list[dict]:
    return [torch.load(out / f"seed-{s}" / "checkpoint.pt", weights_only=True)["model"]
            for s in seeds]  # fmt: skip


def _assert_same_runs(a_dir, b_dir, seeds, rtol):
    for pa, pb in zip(_params(a_dir, seeds), _params(b_dir, seeds), strict=True):
        assert pa.keys() == pb.keys()
        for name in pa:
            torch.testing.assert_close(pa[name], pb[name], rtol=rtol, atol=rtol, msg=name)


CASES = [
    # replay (on- and off-policy graphs), exploration, shared trunk, per-seed clipping
    ("adaptive", {"train.grad_clip": 0.5}),
    ("adaptive-tlm", {"sampler.backbone": "separate"}),  # EMA target network, two losses
    ("fixed", {"sampler.langevin": True}),  # the target score by torch.func.grad
]  # (fixed-learnvar: test_inductor_compiled_update_matches_eager)


@pytest.mark.parametrize("method, extra", CASES, ids=[c[0] + str(i) for i, c in enumerate(CASES)])
def test_compiled_update_follows_the_eager_step_for_20_iterations(
    tmp_path, captured, method, extra
):
    cfg = make_config(method, "gmm9", overrides={**TINY, **extra})
    eager = train(cfg, seeds=[0, 1], out_dir=tmp_path / "eager", progress=False)
    compiled = train(cfg.with_overrides({"train.compile": True}), seeds=[0, 1],
                     out_dir=tmp_path / "compiled", progress=False)  # fmt: skip
    _assert_same_runs(tmp_path / "eager", tmp_path / "compiled", [0, 1], rtol=1e-9)
    for a, b in zip(eager, compiled, strict=True):
        for k, v in a.metrics.items():
            if isinstance(v, float) and math.isfinite(v):
                assert b.metrics[k] == pytest.approx(v, rel=1e-8, abs=1e-8), k


def test_one_seed_compiled_is_the_single_seed_run_and_compiles_each_graph_once(
    tmp_path, monkeypatch
):
    counts = {}
    real = torch.compile

    def counting(fn, **kwargs):  # dynamo's graphs run as captured, counted per compilation
        counts[fn.__name__] = 0

        def backend(gm, inputs):
            counts[fn.__name__] += 1
            return gm.forward

        return real(fn, **{**kwargs, "backend": backend})

    cfg = make_config("adaptive", "gmm9", overrides=TINY)
    single = train(cfg, out_dir=tmp_path / "single", progress=False)
    monkeypatch.setattr(torch, "compile", counting)
    compiled = train(cfg.with_overrides({"train.compile": True}), out_dir=tmp_path / "c",
                     progress=False)  # fmt: skip
    # 3 sampling steps of each process, on- and off-policy batches: one graph each
    assert counts == {"_gen_step_fn": 1, "_dest_step_fn": 1, "_reward_fn": 1, "_update_fn": 1}
    assert compiled.out_dir == str(tmp_path / "c") and (tmp_path / "c" / "result.json").exists()
    assert compiled.env["ensemble_size"] == 1
    # the iterations that compiled (the first on- and off-policy ones) are timed apart
    t = compiled.timing
    assert 1 <= t["compile_iterations"] <= 3 and t["compile_seconds"] > 0
    assert single.timing["compile_iterations"] == 0 and single.timing["compile_seconds"] == 0.0
    for k, v in single.metrics.items():
        if isinstance(v, float) and math.isfinite(v):
            assert compiled.metrics[k] == pytest.approx(v, rel=1e-6, abs=1e-6), k


def test_diverging_seed_stops_alone_in_the_compiled_update(tmp_path, captured, monkeypatch):
    cfg = make_config("fixed-learnvar", "gmm9",
                      overrides={**TINY, "train.compile": True, "train.checkpoint_every": 2})  # fmt: skip
    clean = train(cfg.with_overrides({"train.compile": False}), seeds=[0, 2], progress=False)
    real = update.CompiledUpdate.update
    calls = {"n": 0}

    def poisoned(self, states, log_r, active):
        calls["n"] += 1
        if calls["n"] == 4 and states.shape[0] == 3:  # iteration 3: seed 1's rewards are NaN
            log_r = log_r.clone()
            log_r[1] = torch.nan
        return real(self, states, log_r, active)

    monkeypatch.setattr(update.CompiledUpdate, "update", poisoned)
    results = train(cfg, seeds=[0, 1, 2], out_dir=tmp_path, progress=False)
    assert "non-finite loss at iteration 3" in results[1].error
    assert "checkpoint.pt (iteration 2)" in results[1].error
    kept = torch.load(tmp_path / "seed-1" / "checkpoint.pt", weights_only=True)
    assert kept["iteration"] == 2
    assert not (tmp_path / "seed-1" / "result.json").exists()
    for a, b in ((results[0], clean[0]), (results[2], clean[1])):
        for k, v in a.metrics.items():
            if isinstance(v, float) and math.isfinite(v):
                assert b.metrics[k] == pytest.approx(v, rel=1e-8, abs=1e-8), k


def test_single_seed_compiled_divergence_raises(captured, monkeypatch):
    from ads_bench.training import NonFiniteError

    cfg = make_config("fixed-learnvar", "gmm9", overrides={**TINY, "train.compile": True})
    real = update.CompiledUpdate.update

    def poisoned(self, states, log_r, active):
        return real(self, states, torch.full_like(log_r, torch.nan), active)

    monkeypatch.setattr(update.CompiledUpdate, "update", poisoned)
    with pytest.raises(NonFiniteError, match="non-finite loss at iteration 0"):
        train(cfg, progress=False)


def test_killed_compiled_ensemble_resumes_exactly(tmp_path, captured, monkeypatch):
    over = {**TINY, "train.iterations": 30, "train.checkpoint_every": 10, "train.compile": True}
    cfg = make_config("adaptive", "gmm9", overrides=over)
    straight = train(cfg, seeds=[0, 1], out_dir=tmp_path / "a", progress=False)
    real_step = SeedEnsemble.step

    def step(self, it):
        if it == 17:
            raise KeyboardInterrupt
        return real_step(self, it)

    monkeypatch.setattr(SeedEnsemble, "step", step)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, seeds=[0, 1], out_dir=tmp_path / "b", progress=False)
    monkeypatch.setattr(SeedEnsemble, "step", real_step)
    resumed = train(cfg, seeds=[0, 1], out_dir=tmp_path / "b", progress=False)
    for a, b in zip(straight, resumed, strict=True):
        assert b.timing["resumed"] and a.metrics == b.metrics
    # the compiled run's checkpoints are single-seed checkpoints, Adam state included
    state = torch.load(tmp_path / "b" / "seed-1" / "checkpoint.pt", weights_only=True)
    adam = state["optimizers"]["generation"]["state"][0]
    assert float(adam["step"]) == 30 and adam["exp_avg"].dtype == torch.float64


def test_adam_reference_step_is_torch_adam():
    gen = torch.Generator().manual_seed(0)
    p = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    q = p.clone().requires_grad_(True)
    opt = torch.optim.Adam([q], lr=0.01)
    m, v = torch.zeros_like(p), torch.zeros_like(p)
    for t in range(1, 6):
        g = torch.randn(3, 4, generator=gen, dtype=torch.float64)
        q.grad = g.clone()
        opt.step()
        step = torch.tensor(float(t), dtype=torch.float64)
        lr = torch.tensor(0.01, dtype=torch.float64)
        p, m, v = update.adam_reference_step(p, g, m, v, step, lr)
    torch.testing.assert_close(p, q.detach(), rtol=1e-14, atol=1e-15)
    torch.testing.assert_close(v, opt.state[q]["exp_avg_sq"], rtol=1e-14, atol=1e-15)


def test_inductor_compiled_update_matches_eager(tmp_path):
    """The real backend, once: inductor's generated code follows the eager step (float64)."""
    over = {**TINY, "train.iterations": 20}
    cfg = make_config("fixed-learnvar", "gmm9", overrides=over)
    train(cfg, seeds=[0, 1], out_dir=tmp_path / "eager", progress=False)
    train(cfg.with_overrides({"train.compile": True}), seeds=[0, 1],
          out_dir=tmp_path / "inductor", progress=False)  # fmt: skip
    _assert_same_runs(tmp_path / "eager", tmp_path / "inductor", [0, 1], rtol=1e-8)
