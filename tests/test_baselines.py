"""Continuous-time baselines (PIS, DIS, DDS) and the step-reduction control (issue 5).

Hand-computed values use literal numbers worked out from the formulas in each module's docstring, not
the module's own code paths.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from ads_bench import train as ads_train
from ads_bench.cli import main as cli_main
from ads_bench.methods import get_method, make_config, method_names
from ads_bench.objectives import log_weights
from ads_bench.rollout import forward_rollout
from ads_bench.sampler import Sampler, build_sampler
from ads_bench.schemes import default_scheme, get_scheme
from ads_bench.targets import get_target
from ads_bench.training import train
from baselines import BASELINES
from baselines.dds import scheme as dds_scheme
from baselines.dis import scheme as dis_scheme

TINY = {"sampler.hidden": 16, "sampler.n_freq": 8, "train.batch_size": 32, "eval.n": 64,
        "eval.every": 0}  # fmt: skip
GRID2 = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
KW = {"t_scale": 5.0, "prior_std": 1.0, "beta_min": 0.1, "beta_max": 10.0}


class Gauss2D:
    """N(mu, I) in 2-D scaled by e^1.5: log Z = 1.5; the stationary law of the DIS/DDS references
    (sigma_0 = 1) shifted, and the PIS reference's law at t = 1 (sigma^2 = 1) shifted."""

    dim, log_z, name = 2, 1.5, "gauss2d"
    mu = torch.tensor([1.0, -0.5])

    def log_prob(self, x):
        return -0.5 * (x - self.mu.to(x)).square().sum(-1) - math.log(2 * math.pi) + 1.5

    def sample(self, n, generator=None, dtype=torch.float32):
        return (self.mu + torch.randn(n, 2, generator=generator)).to(dtype)


def _close(t, values):
    torch.testing.assert_close(t, torch.tensor(values, dtype=torch.float64), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- registry


def test_baselines_join_the_registry_through_entry_points():
    names = method_names()
    for name in ("pis", "pis-lp", "dis", "dis-kl", "dds"):
        assert name in names
        assert get_method(name) == BASELINES[name]
    assert get_method("pis")["train.objective"] == "kl"
    assert get_method("dis")["train.objective"] == "vargrad"
    assert get_method("dis-kl")["train.objective"] == "kl"
    assert get_method("dds")["train.objective"] == "kl"


# ----------------------------------------------------------------------------- kernels by hand


def test_pis_scheme_is_euler_with_the_brownian_bridge():
    s = default_scheme(GRID2, prior="pinned", **KW)
    _close(s.gen_coef, [1.0, 1.0])
    _close(s.gen_scale, [0.5, 0.5])
    _close(s.gen_log_var, [math.log(2.5), math.log(2.5)])  # sigma^2 dt = 5 * 0.5
    assert s.step_mask.tolist() == [False, True]
    _close(s.dest_coef[1:], [0.5])  # t_1 / t_2
    _close(s.dest_log_var[1:], [math.log(1.25)])  # sigma^2 dt t_1 / t_2


def test_dis_scheme_is_euler_maruyama_of_the_vp_sde():
    # beta(tau) = 0.1 + 9.9 tau; generation uses tau = 1 - t_i (1, 0.5): b = 5, 2.525;
    # noising uses tau = 1 - t_{i+1} (0.5, 0): b' = 2.525, 0.05.
    s = dis_scheme(GRID2, prior="gaussian", **KW)
    _close(s.gen_coef, [1 - 2.5, 1 - 1.2625])
    _close(s.gen_scale, [5.0, 2.525])
    _close(s.gen_log_var, [math.log(5.0), math.log(2.525)])
    _close(s.dest_coef, [1 - 1.2625, 1 - 0.025])
    _close(s.dest_log_var, [math.log(2.525), math.log(0.05)])
    assert s.step_mask.tolist() == [True, True]
    scaled = dis_scheme(GRID2, prior="gaussian", **{**KW, "prior_std": 2.0})
    _close(scaled.gen_scale, [20.0, 10.1])  # sigma_0^2 b
    _close(scaled.dest_log_var, [math.log(10.1), math.log(0.2)])


def test_dds_scheme_is_the_exponential_integrator_of_the_ou_reference():
    # cosine schedule, T = 2: step 1 keeps abar(0.5)/abar(0) of the signal, step 0 goes to
    # abar(1) = 0 and is clipped at 0.999.
    a = [0.999, 0.5061564095593623]
    keep = [math.sqrt(1 - v) for v in a]
    s = dds_scheme(GRID2, prior="gaussian", **{**KW, "prior_std": 2.0})
    _close(s.gen_coef, keep)
    _close(s.dest_coef, keep)
    _close(s.gen_scale, [2 * 4.0 * (1 - k) for k in keep])
    _close(s.gen_log_var, [math.log(4.0 * v) for v in a])
    _close(s.dest_log_var, [math.log(4.0 * v) for v in a])


@pytest.mark.parametrize("scheme", [dis_scheme, dds_scheme], ids=["dis", "dds"])
def test_gaussian_prior_schemes_refuse_the_pinned_prior(scheme):
    with pytest.raises(ValueError, match="prior='gaussian'"):
        scheme(GRID2, prior="pinned", **KW)


def test_unknown_scheme_is_named():
    with pytest.raises(ValueError, match=r"cannot load scheme 'baselines\.nope:scheme'"):
        get_scheme("baselines.nope:scheme")
    with pytest.raises(ValueError, match=r"scheme must be 'default' or 'module:attr'"):
        get_scheme("nope")


@pytest.mark.parametrize("method", ["pis", "dis", "dds"])
def test_log_weight_of_a_trajectory_by_hand(method):
    """One 1-D trajectory with a constant learned drift k, states and log w recomputed by hand."""
    cfg = make_config(
        method,
        "gmm9",
        overrides={"sampler.steps": 3, "sampler.prior_std": 1.5, "train.dtype": "float64"},
    )
    target = get_target(Gauss2D())
    model = build_sampler(cfg, target)  # float64: grid constants exact
    k = torch.tensor([0.7, -0.2], dtype=torch.float64)
    with torch.no_grad():
        model.generation.net.head.bias[:2] = k  # f_theta(x, t) = k everywhere
    noise = torch.tensor([[[0.3, -1.1], [0.5, 0.2], [-0.4, 1.3], [1.0, -0.6]]], dtype=torch.float64)
    traj = forward_rollout(model, 1, noise=noise)
    lw = log_weights(traj, target.log_prob(traj.states[:, -1]))

    sch = get_scheme(cfg.sampler.scheme)(
        model.times, t_scale=model.t_scale, prior=cfg.sampler.prior, prior_std=1.5,
        beta_min=cfg.sampler.beta_min, beta_max=cfg.sampler.beta_max,
    )  # fmt: skip

    def normal(x, m, log_var):
        return float(-0.5 * ((x - m) ** 2 / math.exp(log_var) + log_var + math.log(2 * math.pi)))

    x = (
        noise[0, 0] * 1.5
        if cfg.sampler.prior == "gaussian"
        else torch.zeros(2, dtype=torch.float64)
    )
    states, total = [x], 0.0
    if cfg.sampler.prior == "gaussian":
        total -= sum(normal(float(v), 0.0, math.log(1.5**2)) for v in x)
    for i in range(3):
        mean = float(sch.gen_coef[i]) * x + float(sch.gen_scale[i]) * k
        lv = float(sch.gen_log_var[i])
        nxt = mean + math.exp(0.5 * lv) * noise[0, i + 1]
        total -= sum(normal(float(a), float(b), lv) for a, b in zip(nxt, mean, strict=True))
        states.append(nxt)
        x = nxt
    for i in range(3):
        if not bool(sch.step_mask[i]):
            continue
        m = float(sch.dest_coef[i]) * states[i + 1]
        lv = float(sch.dest_log_var[i])
        total += sum(normal(float(a), float(b), lv) for a, b in zip(states[i], m, strict=True))
    total += float(target.log_prob(states[-1]))
    torch.testing.assert_close(traj.states[0], torch.stack(states), rtol=1e-12, atol=1e-12)
    assert float(lw[0].detach()) == pytest.approx(total, rel=1e-10, abs=1e-10)


# ----------------------------------------------------------------------------- shared variance


@pytest.mark.parametrize("method", ["pis", "pis-lp", "dis", "dis-kl", "dds"])
def test_baselines_have_no_independent_destruction_variance(method):
    cfg = make_config(method, "gmm25", overrides={"sampler.steps": 6})
    model = build_sampler(cfg, get_target(Gauss2D()))
    assert model.parameter_groups()["destruction"] == []
    assert model.destruction.net is None and model.target_destruction is None
    assert not model.generation.learn_var
    gen, dest = model.generation.log_var_base, model.destruction.log_var_base
    t = model.times
    if cfg.sampler.prior == "pinned":  # bridge: sigma^2 dt t_i/t_{i+1} from the same sigma^2 dt
        torch.testing.assert_close(dest[1:], gen[1:] + torch.log(t[1:-1] / t[2:]))
    elif method.startswith("dis"):  # the same beta(tau) dt, one step apart on the grid
        torch.testing.assert_close(dest[:-1], gen[1:])
    else:  # dds: identical noise levels in both directions
        torch.testing.assert_close(dest, gen)
    # the variances never depend on the state: the mean/log-var heads are the generation's only
    x = torch.randn(4, 6, 2)
    _, lv = model.destruction(x, None)
    assert torch.equal(lv, dest.float().unsqueeze(-1).expand_as(x))


# ----------------------------------------------------------------------------- learning


@pytest.mark.parametrize(
    ("method", "steps", "over"),
    [("pis", 10, {"sampler.t_scale": 1.0}), ("dds", 10, {"sampler.prior_std": 1.0}),
     ("dis", 20, {"sampler.prior_std": 1.0})],
)  # fmt: skip
def test_each_baseline_learns_a_gaussian_log_z(method, steps, over):
    overrides = {"sampler.steps": steps, "sampler.hidden": 32, "train.batch_size": 128,
                 "train.iterations": 300, "eval.every": 0, "eval.n": 2000,
                 "eval.sample_metrics": False, **over}  # fmt: skip
    m = ads_train(make_config(method, "x", overrides=overrides), Gauss2D(), progress=False).metrics
    assert m["delta_logz_is"] < 0.1, m
    if method == "dis":
        # Euler-Maruyama kernels of the VP SDE cannot be exact reversals of each other: even with a
        # perfect drift the ELBO keeps a gap of O(sum_i b_i^2); see the next test.
        assert m["delta_logz_elbo"] < 5.0, m
    else:
        assert m["delta_logz_elbo"] < 0.1, m


def test_dis_euler_maruyama_gap_shrinks_with_the_step_size():
    """At initialisation DIS's generation chain is the Euler-Maruyama reversal of its noising chain
    in the stationary regime: on the stationary target N(0, sigma_0^2) its ELBO gap is the pure
    discretisation error, which must fall roughly like 1/T."""
    gen = torch.Generator().manual_seed(0)
    gaps = []
    for steps in (10, 20, 40):
        model = Sampler(2, steps, prior="gaussian", prior_std=1.0, scheme=dis_scheme,
                        beta_max=10.0).double()  # fmt: skip
        with torch.no_grad():
            traj = forward_rollout(model, 4000, generator=gen)
            x = traj.states[:, -1]
            lw = log_weights(traj, -0.5 * x.square().sum(-1) - math.log(2 * math.pi))
        gaps.append(float(-lw.mean()))
    assert gaps[0] > 0 and gaps[1] < 0.65 * gaps[0] and gaps[2] < 0.65 * gaps[1], gaps


# ----------------------------------------------------------------------------- step reduction


def test_with_steps_reuses_the_networks_on_a_new_grid():
    model = Sampler(2, 8, destruction="adaptive", learn_var=True, backbone="shared",
                    target_network=True)  # fmt: skip
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    coarse = model.with_steps(4)
    assert coarse.steps == 4 and coarse.times.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    for (name, p), (name2, q) in zip(
        model.named_parameters(), coarse.named_parameters(), strict=True
    ):
        assert name == name2 and torch.equal(p, q)
    same = model.with_steps(8)
    states = forward_rollout(model, 5, generator=torch.Generator().manual_seed(1)).states
    torch.testing.assert_close(same.log_pf(states), model.log_pf(states))
    torch.testing.assert_close(same.log_pb(states), model.log_pb(states))


@pytest.mark.parametrize("method", ["fixed", "pis", "dds"])
def test_step_reduction_reports_finite_metrics(method, tmp_path):
    args = ["--target", "gmm9", "--method", method, "--steps", "8", "--iterations", "20",
            "--eval-steps", "3", "--out", str(tmp_path), "--quiet", "--set", "train.batch_size=16",
            "--set", "eval.n=64", "--set", "sampler.hidden=16"]  # fmt: skip
    assert cli_main(args) == 0
    data = json.loads((tmp_path / "result.json").read_text())
    assert data["config"]["eval"]["steps"] == 3
    reduced = data["metrics_eval_steps"]
    assert reduced["steps"] == 3
    for key in ("elbo", "logz_is", "eubo", "ess", "w2"):
        assert math.isfinite(reduced[key]) and math.isfinite(data["metrics"][key]), key
    assert reduced["elbo"] != data["metrics"]["elbo"]


# ----------------------------------------------------------------------------- CLI


@pytest.mark.parametrize("target", ["gmm25", "gmm40", "gmm9", "funnel", "manywell"])
@pytest.mark.parametrize("method", ["pis", "dis", "dds"])
def test_cli_runs_each_baseline_on_each_target(method, target, tmp_path, capsys):
    args = ["--target", target, "--method", method, "--steps", "5", "--iterations", "3",
            "--out", str(tmp_path), "--quiet", "--set", "train.batch_size=16",
            "--set", "eval.n=32", "--set", "sampler.hidden=16"]  # fmt: skip
    assert cli_main(args) == 0
    data = json.loads((tmp_path / "result.json").read_text())
    assert data["config"]["method"] == method
    assert data["config"]["sampler"]["destruction"] == "fixed"
    for key in ("elbo", "eubo", "ess", "w2"):
        assert math.isfinite(data["metrics"][key]), key
    printed = json.loads(capsys.readouterr().out)
    assert printed["metrics"]["elbo"] == data["metrics"]["elbo"]


def test_baselines_train_with_the_same_result_format_as_builtin_methods(tmp_path):
    res = train(make_config("dds", "gmm9", overrides={**TINY, "train.iterations": 5,
                                                      "sampler.steps": 3}),
                out_dir=tmp_path, progress=False)  # fmt: skip
    data = json.loads((tmp_path / "result.json").read_text())
    assert set(data) == {"config", "metrics", "metrics_eval_steps", "timing", "env"}
    assert data["env"]["fused_kernels"] is True and res.metrics["logz_learned"] is None
