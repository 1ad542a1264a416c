"""The training loop, config, methods and CLI: end to end on tiny budgets."""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys

import pytest
import torch

import ads_bench
from ads_bench import training
from ads_bench.config import Config
from ads_bench.evaluation import METRIC_KEYS, evaluate
from ads_bench.methods import METHODS, get_method, make_config
from ads_bench.replay import ReplayBuffer
from ads_bench.sampler import Sampler, build_sampler
from ads_bench.store import StoreError
from ads_bench.training import NonFiniteError, train, validate_config

TINY = {
    "sampler.hidden": 16,
    "sampler.n_freq": 8,
    "train.batch_size": 32,
    "eval.n": 64,
    "eval.every": 0,
}


class Gauss1D:
    """A user target: N(1, 0.5^2) scaled by e^1.5, so log Z = 1.5."""

    dim = 1
    log_z = 1.5

    def log_prob(self, x):
        z = (x[..., 0] - 1.0) / 0.5
        return -0.5 * z**2 - math.log(0.5 * math.sqrt(2 * math.pi)) + 1.5

    def sample(self, n, generator=None, dtype=torch.float32):
        return (1.0 + 0.5 * torch.randn(n, 1, generator=generator)).to(dtype)


def test_adaptive_learns_a_gaussian_log_z():
    overrides = {"sampler.steps": 5, "sampler.t_scale": 1.0, "sampler.hidden": 32,
                 "train.iterations": 250, "eval.every": 0, "eval.sample_metrics": False}  # fmt: skip
    result = ads_bench.train(
        make_config("adaptive", "x", overrides=overrides), Gauss1D(), progress=False
    )
    m = result.metrics
    assert m["delta_logz_elbo"] < 0.05
    assert m["delta_logz_is"] < 0.05
    assert abs(m["logz_learned"] - 1.5) < 0.05
    assert m["eubo"] >= 1.5 - 0.05 and m["elbo"] <= 1.5 + 0.05


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_runs_and_its_loss_falls(method, tmp_path):
    cfg = make_config(
        method, "gmm9", overrides={**TINY, "train.iterations": 60, "sampler.steps": 4}
    )
    result = train(cfg, out_dir=tmp_path, progress=False)
    assert result.env["fused_kernels"] is True
    data = json.loads((tmp_path / "result.json").read_text())
    assert set(data) == {"config", "metrics", "metrics_eval_steps", "timing", "env"}
    for key in ("elbo", "logz_is", "eubo", "ess", "w2", "sinkhorn", "mmd"):
        assert math.isfinite(data["metrics"][key]), key
    assert (data["metrics"]["logz_learned"] is None) == (cfg.train.objective == "vargrad")
    assert data["timing"]["ms_per_iteration"] > 0
    assert (tmp_path / "history.csv").read_text().startswith("iteration,loss")
    # ... and its loss falls: on a 1-D Gaussian (gmm9 moves too little in a test's budget for some
    # objectives) the mean of the last three logged losses is under half the first three's, and the
    # ELBO rises (measured: every method's loss falls 2.2-60x in these 150 iterations)
    over = {**TINY, "train.iterations": 150, "eval.every": 10, "eval.n": 256, "sampler.steps": 5}
    history = train(make_config(method, "x", overrides=over), Gauss1D(), progress=False).history
    first, last = history[:3], history[-3:]
    assert sum(r["loss"] for r in last) < 0.5 * sum(r["loss"] for r in first), history
    assert min(r["elbo"] for r in last) > max(r["elbo"] for r in first), history


def test_loss_falls_with_training():
    over = {**TINY, "train.iterations": 150, "eval.every": 10, "eval.n": 256, "sampler.steps": 5}
    history = train(make_config("fixed", "x", overrides=over), Gauss1D(), progress=False).history
    first, last = history[:3], history[-3:]
    assert sum(r["loss"] for r in last) < 0.2 * sum(r["loss"] for r in first)
    assert min(r["elbo"] for r in last) > max(r["elbo"] for r in first)


def test_resume_continues_the_same_run(tmp_path, monkeypatch):
    over = {**TINY, "train.iterations": 40, "train.checkpoint_every": 20, "sampler.steps": 3}
    cfg = make_config("adaptive", "gmm9", overrides=over)  # replay, target network, two losses
    straight = train(cfg, out_dir=tmp_path / "a", progress=False)

    real_step = training._Run.step

    def interrupted(self, it):
        if it == 27:
            raise KeyboardInterrupt
        return real_step(self, it)

    monkeypatch.setattr(training._Run, "step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, out_dir=tmp_path / "b", progress=False)
    assert not (tmp_path / "b" / "result.json").exists()
    monkeypatch.setattr(training._Run, "step", real_step)
    resumed = train(cfg, out_dir=tmp_path / "b", progress=False)
    assert resumed.timing["resumed"]
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)
    assert a["iteration"] == b["iteration"] == 40
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], rtol=0, atol=0)
    assert resumed.metrics == straight.metrics


def test_checkpoint_of_another_config_is_refused(tmp_path):
    cfg = make_config(
        "fixed", "gmm9", overrides={**TINY, "train.iterations": 5, "train.checkpoint_every": 5}
    )
    train(cfg, out_dir=tmp_path, progress=False)
    other = cfg.with_overrides({"train.lr_gen": 1e-2})
    with pytest.raises(StoreError, match="different configuration"):
        train(other, out_dir=tmp_path, progress=False)


def test_non_finite_loss_stops_with_iteration_and_quantity(tmp_path):
    class Bad(Gauss1D):
        calls = 0  # finite when the target is probed before training, NaN from then on

        def log_prob(self, x):
            Bad.calls += 1
            return super().log_prob(x) if Bad.calls == 1 else torch.full(x.shape[:-1], torch.nan)

    cfg = make_config("fixed", "x", overrides={**TINY, "train.iterations": 5})
    with pytest.raises(NonFiniteError, match="non-finite loss at iteration 0"):
        train(cfg, Bad(), out_dir=tmp_path, progress=False)
    assert not (tmp_path / "checkpoint.pt").exists()


def test_non_finite_gradient_stops_before_the_step_and_names_the_group(tmp_path, monkeypatch):
    over = {**TINY, "train.iterations": 6, "train.checkpoint_every": 1, "sampler.steps": 3}
    cfg = make_config("adaptive", "gmm9", overrides=over)
    real = torch.Tensor.backward

    def poisoned(self, *args, **kwargs):  # a finite loss whose backward leaves a NaN gradient
        real(self, *args, **kwargs)
        if poisoned.calls == 3:
            for p in poisoned.params:
                if p.grad is not None:
                    p.grad[...] = torch.nan
                    break
        poisoned.calls += 1

    poisoned.calls = 0
    real_init = training._Run.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        poisoned.params = self.groups["destruction"]

    monkeypatch.setattr(training._Run, "__init__", init)
    monkeypatch.setattr(torch.Tensor, "backward", poisoned)
    with pytest.raises(
        NonFiniteError, match="gradient of the destruction parameters at iteration 3"
    ) as err:
        train(cfg, out_dir=tmp_path, progress=False)
    assert "checkpoint.pt (iteration 3)" in str(err.value)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["iteration"] == 3
    assert all(bool(torch.isfinite(v).all()) for v in state["model"].values())


def test_tlm_never_updates_generation_from_the_tlm_loss():
    from ads_bench.objectives import objective_losses
    from ads_bench.rollout import forward_rollout

    cfg = make_config("adaptive-tlm", "gmm9", overrides={**TINY, "sampler.backbone": "separate"})
    target = ads_bench.targets.get_target("gmm9")
    model = build_sampler(cfg, target)
    traj = forward_rollout(model, 8)
    losses = objective_losses(
        model, traj, target.log_prob(traj.states[:, -1]), "tlm", use_target=True
    )
    gen = model.parameter_groups()["generation"]
    grads = torch.autograd.grad(losses.dest, gen, allow_unused=True)
    assert all(g is None or torch.count_nonzero(g) == 0 for g in grads)
    tgt = list(model.target_destruction.parameters())
    assert all(not p.requires_grad for p in tgt)


def test_config_overrides_and_errors():
    cfg = Config().with_overrides({"sampler.steps": "7", "r_a": "none", "train.iterations": "2e3"})
    assert (cfg.sampler.steps, cfg.sampler.r_a, cfg.train.iterations) == (7, None, 2000)
    with pytest.raises(ValueError, match=r"unknown config field 'sampler\.nope'"):
        Config().with_overrides({"sampler.nope": 1})
    with pytest.raises(ValueError, match="cannot parse 'x' as int"):
        Config().with_overrides({"sampler.steps": "x"})
    with pytest.raises(ValueError, match="unknown method"):
        get_method("nope")
    with pytest.raises(ValueError, match="tlm' needs a target network"):
        validate_config(make_config("adaptive-tlm", overrides={"train.target_rate": None}))
    assert Config().key() == Config().key() != cfg.key()


def test_r_m_override_reaches_the_sampler():
    base = make_config("adaptive", "gmm9", overrides=TINY)
    for text, expected in [("2", 2.0), ("none", None)]:
        cfg = base.with_overrides({"sampler.r_m": text})
        assert cfg.sampler.r_m == expected
        validate_config(cfg)
        model = build_sampler(cfg, ads_bench.targets.get_target("gmm9"))
        assert model.destruction.r_m == expected
        assert model.init_kwargs["r_m"] == expected
    assert Config().sampler.r_m is None
    with pytest.raises(ValueError, match=r"sampler\.r_m must be > 0"):
        validate_config(base.with_overrides({"sampler.r_m": "0"}))
    # r_m = None, train.threads = 1, train.lr_trunk = 1e-3 (neutral) are left out of the key: runs keyed before those
    # fields existed stay valid
    old = base.as_dict()
    del old["sampler"]["r_m"]
    del old["train"]["threads"]
    del old["train"]["lr_trunk"]
    blob = json.dumps(old, sort_keys=True, default=str).encode()
    assert base.key() == hashlib.sha256(blob).hexdigest()[:16]
    assert base.with_overrides({"sampler.r_m": 2}).key() != base.key()
    assert base.with_overrides({"train.threads": 2}).key() != base.key()


def test_evaluate_reports_logw_var():
    assert METRIC_KEYS[-1] == "logw_var"
    torch.manual_seed(0)
    model = Sampler(1, 3, destruction="adaptive", hidden=16, n_freq=8)
    out = evaluate(model, Gauss1D(), n=64, generator=torch.Generator().manual_seed(0),
                   learned_log_z=False, sample_metrics=False)  # fmt: skip
    assert set(out) == set(METRIC_KEYS)
    assert type(out["logw_var"]) is float and math.isfinite(out["logw_var"])
    assert out["logw_var"] > 0.0  # an untrained sampler is not exact


def test_replay_buffer_rank_priorities():
    buf = ReplayBuffer(4, 1, k=0.01)
    buf.add(torch.tensor([[0.0], [1.0], [2.0]]), torch.tensor([0.0, 2.0, 1.0]))
    probs = buf.probabilities()
    expected = torch.tensor([1 / (0.03 + 2), 1 / 0.03, 1 / (0.03 + 1)], dtype=torch.float64)
    torch.testing.assert_close(probs, expected / expected.sum())
    buf.add(torch.tensor([[5.0], [6.0]]), torch.tensor([0.5, float("nan")]))  # NaN dropped
    assert len(buf) == 4
    buf.add(torch.tensor([[7.0]]), torch.tensor([3.0]))  # overwrites the oldest
    assert sorted(buf.x[:, 0].tolist()) == [1.0, 2.0, 5.0, 7.0]


def test_replay_order_is_kept_without_resorting(monkeypatch):
    """The merged reward order equals a fresh sort after every add (ring wrap-around included), and
    sampling sorts the whole buffer once, not every batch."""
    gen = torch.Generator().manual_seed(0)
    buf = ReplayBuffer(50, 2, k=0.01)
    full_sorts = []
    real_argsort = torch.argsort

    def counting(t, *args, **kwargs):
        full_sorts.append(t.numel())
        return real_argsort(t, *args, **kwargs)

    monkeypatch.setattr(torch, "argsort", counting)
    for i in range(30):
        n = int(torch.randint(1, 17, (), generator=gen))
        log_r = torch.randn(n, generator=gen)
        if i % 7 == 3:
            log_r[0] = float("nan")  # dropped
        buf.add(torch.randn(n, 2, generator=gen), log_r)
        fresh = real_argsort(buf.log_r[: len(buf)], descending=True)
        assert torch.equal(buf.order(), fresh), i
        buf.sample(8, gen)
    # one sort of the buffer (at the first sample), then sorts of the arriving batches only
    assert len(buf) == 50 and all(n <= 16 for n in full_sorts[1:]) and len(full_sorts) > 20
    other = ReplayBuffer(50, 2, k=0.01)
    other.load_state_dict(buf.state_dict())
    torch.testing.assert_close(other.probabilities(), buf.probabilities(), rtol=0, atol=0)


def test_cli_dry_run_and_errors(tmp_path, capsys):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "ads_bench", *args],
                              capture_output=True, text=True, timeout=300)  # fmt: skip

    out = cli("--method", "bounded", "--steps", "5", "--set", "train.lr_dest=1e-4", "--dry-run")
    assert out.returncode == 0, out.stderr
    cfg = json.loads(out.stdout)
    assert cfg["sampler"]["destruction"] == "bounded" and cfg["train"]["lr_dest"] == 1e-4
    assert cfg["sampler"]["steps"] == 5
    # Errors, in-process (tests/test_cli_errors.py has the full table, and real subprocesses).
    from ads_bench.cli import main

    assert main(["--target", "nope", "--dry-run"]) == 2
    assert "valid names" in capsys.readouterr().err
    assert main(["--set", "train.batch_size=0", "--dry-run"]) == 2
    assert "batch_size" in capsys.readouterr().err


@pytest.mark.parametrize("target", ["gmm25", "gmm40", "gmm9", "funnel", "manywell"])
def test_every_method_on_every_target_at_smoke_budget(target):
    over = {**TINY, "train.iterations": 3, "train.batch_size": 16, "eval.n": 32, "sampler.steps": 3}
    for method in sorted(METHODS):
        result = train(make_config(method, target, overrides=over), progress=False)
        finite = [k for k in ("elbo", "eubo", "w2", "ess") if math.isfinite(result.metrics[k])]
        assert finite == ["elbo", "eubo", "w2", "ess"], (method, result.metrics)


@pytest.mark.parametrize(
    "extra",
    [{"sampler.langevin": True}, {"sampler.prior": "gaussian"}, {"train.objective": "kl",
     "train.replay_ratio": 0.0}, {"sampler.r_a": None}, {"train.impl": "reference"},
     {"train.exploration_std": 0.5}, {"train.grad_clip": 1.0}],
    ids=["langevin", "gaussian-prior", "kl", "unbounded", "reference-ops", "exploration", "clip"],
)  # fmt: skip
def test_variants_run(extra):
    over = {**TINY, "train.iterations": 5, "sampler.steps": 3, **extra}
    result = train(make_config("adaptive", "gmm9", overrides=over), progress=False)
    assert math.isfinite(result.metrics["elbo"])
    assert result.env["fused_kernels"] == (extra.get("train.impl") != "reference")


def test_cli_run_writes_results(tmp_path):
    args = ["--target", "gmm9", "--method", "adaptive", "--steps", "3", "--iterations", "4",
            "--out", str(tmp_path), "--quiet", "--set", "train.batch_size=8", "--set", "eval.n=16"]  # fmt: skip
    out = subprocess.run([sys.executable, "-m", "ads_bench", *args],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "result.json").read_text())
    assert data["config"]["method"] == "adaptive" and data["env"]["fused_kernels"] is True
    assert data["timing"]["iterations"] == 4
    assert json.loads((tmp_path / "config.json").read_text()) == data["config"]


def test_target_without_samples_reports_null_sample_metrics():
    class NoSamples:
        dim = 2

        def log_prob(self, x):
            return -0.5 * (x**2).sum(-1)

    result = train(make_config("fixed", "x", overrides={**TINY, "train.iterations": 3}), NoSamples(),
                   progress=False)  # fmt: skip
    m = result.metrics
    assert m["eubo"] is None and m["w2"] is None and m["delta_logz_elbo"] is None
    assert math.isfinite(m["elbo"]) and math.isfinite(m["logz_is"])


@pytest.mark.parametrize("objective", ["tb", "vargrad", "kl"])
def test_fused_objective_matches_the_reference(objective):
    from ads_bench.objectives import objective_losses
    from ads_bench.ops import reference
    from ads_bench.rollout import forward_rollout

    cfg = make_config("adaptive", "gmm9", overrides={**TINY, "sampler.steps": 4}).with_overrides(
        {"train.target_rate": None, "train.objective": objective}
    )
    target = ads_bench.targets.get_target("gmm9")
    model = build_sampler(cfg, target).double()
    with torch.no_grad():
        model.log_z.fill_(0.3)
    traj = forward_rollout(model, 16, generator=torch.Generator().manual_seed(0),
                           reparam=objective == "kl")  # fmt: skip
    log_r = target.double().log_prob(traj.states[:, -1])
    # The reference op on the rollout's kernel parameters, composed by hand: TB with the learned
    # log Z, VarGrad without, reverse KL as -mean log w.
    loss_ref, expected_w = reference.trajectory_balance(
        traj.states, traj.fwd_mean, traj.fwd_log_var, traj.bwd_mean, traj.bwd_log_var,
        log_r - traj.log_p0, model.log_z if objective == "tb" else None, traj.step_mask,
    )  # fmt: skip
    expected = -expected_w.mean() if objective == "kl" else loss_ref
    params = [p for p in model.parameters() if p.requires_grad]
    g_ref = torch.autograd.grad(expected, params, allow_unused=True, retain_graph=True)
    for impl in ("fused", "reference"):
        losses = objective_losses(model, traj, log_r, objective, use_target=False, impl=impl)
        torch.testing.assert_close(losses.gen, expected)
        torch.testing.assert_close(losses.log_w, expected_w.detach())
        grads = torch.autograd.grad(losses.gen, params, allow_unused=True, retain_graph=True)
        for g, r in zip(grads, g_ref, strict=True):
            if r is None:
                assert g is None or torch.count_nonzero(g) == 0
            else:
                torch.testing.assert_close(g, r)


def test_compiled_training_step_matches_eager():
    over = {**TINY, "train.iterations": 4, "sampler.steps": 3, "train.checkpoint_every": 0}
    cfg = make_config("adaptive", "gmm9", overrides=over)  # on- and off-policy graphs, split losses
    eager = training._Run(cfg, ads_bench.targets.get_target("gmm9"), None)
    compiled = training._Run(cfg.with_overrides({"train.compile": True}),
                             ads_bench.targets.get_target("gmm9"), None)  # fmt: skip
    for it in range(4):
        a, b = eager.step(it), compiled.step(it)
        assert a == pytest.approx(b, rel=1e-4, abs=1e-5)
    for (name, p), q in zip(
        eager.model.named_parameters(), compiled.model.parameters(), strict=True
    ):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5, msg=name)
    assert set(compiled._compiled_fns) == {"on_policy", "off_policy"}


def test_ads_bench_train_is_the_function_after_the_cli_module_is_imported():
    # The CLI lives in ads_bench.cli (python -m ads_bench), so nothing rebinds ads_bench.train.
    import importlib

    import ads_bench.training

    importlib.import_module("ads_bench.cli")
    assert ads_bench.train.__module__ == "ads_bench" and callable(ads_bench.train)
    over = {**TINY, "train.iterations": 2, "sampler.steps": 2}
    result = ads_bench.train(make_config("fixed", "gmm9", overrides=over), progress=False)
    assert math.isfinite(result.metrics["elbo"])


def test_adaptive_variants_differ_from_adaptive_only_in_the_objective():
    from ads_bench.methods import ADAPTIVE_STUDY_BASE, ADAPTIVE_STUDY_CHOICE

    def resolved(name, extra=None):
        data = make_config(name, overrides=extra).as_dict()
        del data["method"]
        return data

    # the preset is exactly the study's base with the study's choice on top (no stray field)
    assert resolved("adaptive") == resolved(
        "fixed", {**ADAPTIVE_STUDY_BASE, **ADAPTIVE_STUDY_CHOICE}
    )
    assert resolved("adaptive-vargrad") == resolved("adaptive", {"train.objective": "vargrad"})
    # TLM trains generation against the EMA target copy of phi, so it needs one
    assert resolved("adaptive-tlm") == resolved(
        "adaptive", {"train.objective": "tlm", "train.target_rate": 0.01}
    )


def test_backbone_choice_config_and_learning_rates():
    base = make_config("adaptive", "gmm9", overrides=TINY)
    with pytest.raises(ValueError, match=r"sampler\.shared_backbone.*renamed.*sampler\.backbone"):
        base.with_overrides({"sampler.shared_backbone": "true"})
    with pytest.raises(ValueError, match=r"sampler\.backbone must be one of 'separate'"):
        validate_config(base.with_overrides({"sampler.backbone": "tied"}))
    # a record written before the rename still loads, as the choice it meant
    old = base.as_dict()
    old["sampler"].pop("backbone")
    for flag, meant in ((True, "shared"), (False, "separate")):
        old["sampler"]["shared_backbone"] = flag
        assert Config.from_dict(old).sampler.backbone == meant
    cfg = base.with_overrides({"sampler.backbone": "shared", "train.lr_trunk": 3e-4,
                               "train.lr_dest": 1e-5})  # fmt: skip
    run = training._Run(cfg, ads_bench.targets.get_target("gmm9"), None)
    lrs = {g: opt.param_groups[0]["lr"] for g, opt in run.optimizers.items()}
    assert lrs == {"generation": 1e-3, "destruction": 1e-5, "trunk": 3e-4, "log_z": 1e-1}
    trunk = {id(p) for p in run.model.generation.net.trunk.parameters()}
    assert {id(p) for p in run.optimizers["trunk"].param_groups[0]["params"]} == trunk
    for backbone in ("separate", "shared-detached"):  # no trunk group: lr_trunk is unused
        run = training._Run(cfg.with_overrides({"sampler.backbone": backbone}),
                            ads_bench.targets.get_target("gmm9"), None)  # fmt: skip
        assert "trunk" not in run.optimizers
