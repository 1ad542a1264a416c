"""ads_bench.sampler / ads_bench.transition / ads_bench.rollout: kernel log-probabilities against independent formulas,
the Brownian bridge, initialisation, rollouts, exploration, reparameterisation, torch.compile."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal

from ads_bench.objectives import log_weights, tb_loss
from ads_bench.rollout import backward_rollout, forward_rollout
from ads_bench.sampler import Sampler
from ads_bench.schemes import vp_betas
from ads_bench.targets import get_target
from ads_bench.transition import BOUNDED_VAR_FLOOR, UNBOUNDED_LOG_VAR_CLAMP

SMALL = {"hidden": 16, "layers": 2, "n_freq": 8}


def _perturb(model: torch.nn.Module, gen: torch.Generator, scale: float = 0.3) -> None:
    """Random non-zero weights everywhere, so every network output is non-trivial."""
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))


def _states(model: Sampler, batch: int, gen: torch.Generator) -> torch.Tensor:
    x = 2.0 * torch.randn(batch, model.steps + 1, model.dim, generator=gen, dtype=torch.float64)
    if model.prior == "pinned":
        x[:, 0] = 0.0
    return x


def _normal_logprob(x, mean, var):
    return Normal(mean, var.sqrt()).log_prob(x).sum(-1)


# ---------------------------------------------------------------------------- generation kernel
@pytest.mark.parametrize("impl", ["reference", "auto"])
@pytest.mark.parametrize("learn_var", [False, True])
@pytest.mark.parametrize("langevin", [False, True])
def test_generation_logprob_matches_formula(gen, impl, learn_var, langevin):
    target = get_target("gmm9").double()
    T, d, sigma2, r_f = 4, 2, 5.0, 4.0
    model = Sampler(d, T, t_scale=sigma2, learn_var=learn_var, r_f=r_f, langevin=langevin,
                    score_fn=target.score, **SMALL).double()  # fmt: skip
    _perturb(model, gen)
    states = _states(model, 6, gen)
    x, t = states[:, :-1], (torch.arange(T, dtype=torch.float64) / T).expand(6, T)
    a, b = model.generation.net(x, t)
    drift = a.clamp(-1e4, 1e4)
    if langevin:
        score = target.score(x).clamp(-1e2, 1e2)
        drift = drift + model.generation.langevin_net(t) * score
    dt = 1.0 / T
    var = sigma2 * dt * (torch.exp(r_f * torch.tanh(b)) if learn_var else torch.ones_like(b))
    expected = _normal_logprob(states[:, 1:], x + dt * drift, var)
    torch.testing.assert_close(model.log_pf(states, impl=impl), expected)


def test_langevin_starts_at_clipped_score():
    target = get_target("gmm9").double()
    model = Sampler(2, 4, langevin=True, score_fn=target.score, **SMALL).double()
    x = torch.tensor([[0.3, -4.0], [1e-3, 2.0]], dtype=torch.float64)
    mean, _ = model.generation(x, 2)
    torch.testing.assert_close(mean, x + 0.25 * target.score(x).clamp(-100, 100))
    with pytest.raises(ValueError, match="score_fn"):
        Sampler(2, 4, langevin=True)


def test_drift_clip():
    model = Sampler(1, 2, **SMALL).double()
    with torch.no_grad():
        model.generation.net.head.bias.fill_(1e6)
    mean, _ = model.generation(torch.zeros(3, 1, dtype=torch.float64), 0)
    torch.testing.assert_close(mean, torch.full((3, 1), 0.5 * 1e4, dtype=torch.float64))


# ---------------------------------------------------------------------------- destruction kernel
def _expected_destruction(model, states, mode, prior, sigma2, sigma0, r_b, r_a):
    B, T1, _ = states.shape
    T = T1 - 1
    times = torch.arange(T + 1, dtype=torch.float64) / T
    ti, tn, dt = times[:-1, None], times[1:, None], 1.0 / T
    y = states[:, 1:]
    if prior == "pinned":
        coef, var_b = ti / tn, sigma2 * dt * ti / tn
    else:
        betas = vp_betas(times)
        coef, var_b = (1 - betas).sqrt()[:, None], sigma0**2 * betas[:, None]
    a, b = model.destruction.net(y, times[1:].expand(B, T)) if mode != "fixed" else (0, 0)
    if mode == "fixed":
        mean, var = coef * y, var_b.expand_as(y)
    elif mode == "bounded":
        mean = y + (coef - 1) * y * (1 + r_b * torch.tanh(a))
        var = var_b * (1 + r_b * torch.tanh(b))
    else:
        mean = coef * y + dt * a
        var = var_b * torch.exp(r_a * torch.tanh(b / r_a))
    lp = _normal_logprob(states[:, :-1], mean, var.clamp_min(1e-300))
    if prior == "pinned":
        lp[:, 0] = 0.0
    return lp


@pytest.mark.parametrize("impl", ["reference", "auto"])
@pytest.mark.parametrize("prior", ["pinned", "gaussian"])
@pytest.mark.parametrize("mode", ["fixed", "bounded", "adaptive"])
def test_destruction_logprob_matches_formula(gen, impl, prior, mode):
    sigma2, sigma0, r_b, r_a = 5.0, 1.5, 0.7, 3.0
    model = Sampler(2, 5, t_scale=sigma2, prior=prior, prior_std=sigma0, destruction=mode,
                    r_b=r_b, r_a=r_a, **SMALL).double()  # fmt: skip
    _perturb(model, gen)
    states = _states(model, 6, gen)
    expected = _expected_destruction(model, states, mode, prior, sigma2, sigma0, r_b, r_a)
    got = model.log_pb(states, impl=impl)
    torch.testing.assert_close(got, expected)
    assert model.step_mask.tolist() == [prior == "gaussian"] + [True] * 4


def test_gaussian_prior_logprob(gen):
    model = Sampler(3, 2, prior="gaussian", prior_std=2.0, **SMALL).double()
    x0 = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    expected = Normal(torch.zeros(3, dtype=torch.float64), 2.0).log_prob(x0).sum(-1)
    for impl in ("reference", "auto"):
        torch.testing.assert_close(model.log_p0(x0, impl=impl), expected)
    traj = forward_rollout(model, 4000, generator=gen)
    x0 = traj.states[:, 0]
    expected = Normal(torch.zeros(3, dtype=torch.float64), 2.0).log_prob(x0).sum(-1)
    torch.testing.assert_close(traj.log_p0, expected)
    assert x0.std().item() == pytest.approx(2.0, rel=0.05)
    pinned = forward_rollout(Sampler(3, 2, **SMALL), 4, generator=gen)
    assert torch.equal(pinned.log_p0, torch.zeros(4))
    assert torch.equal(pinned.states[:, 0], torch.zeros(4, 3))


def test_bounded_floor_and_unbounded_clamp():
    for mode, r_a, bias, expected in [
        ("bounded", 4.0, -1e3, math.log(BOUNDED_VAR_FLOOR)),
        ("adaptive", None, 1e3, UNBOUNDED_LOG_VAR_CLAMP),
        ("adaptive", math.inf, -1e3, -UNBOUNDED_LOG_VAR_CLAMP),
        ("adaptive", 4.0, 1e3, 4.0),
    ]:
        model = Sampler(1, 4, destruction=mode, r_b=1.0, r_a=r_a, **SMALL).double()
        with torch.no_grad():
            model.destruction.net.head.bias.fill_(bias)
        _, log_var = model.destruction(torch.ones(2, 1, dtype=torch.float64), 2)
        base = model.destruction.log_var_base[2]
        torch.testing.assert_close(log_var - base, torch.full_like(log_var, expected))
        assert torch.isfinite(model.log_pb(torch.ones(2, 5, 1, dtype=torch.float64))).all()


def test_vp_schedule_ends_near_prior():
    for T in (3, 100):
        betas = vp_betas(torch.arange(T + 1, dtype=torch.float64) / T)
        assert ((betas > 0) & (betas < 1)).all()
        kept = (1 - betas).sqrt().prod()
        torch.testing.assert_close(kept, torch.tensor(math.exp(-20.1 / 4), dtype=torch.float64))
        # larger noise near the prior (t = 0) than near the data (t = 1)
        assert betas[0] > betas[-1]


@pytest.mark.parametrize("r_m", [None, 0.5])
@pytest.mark.parametrize("prior", ["pinned", "gaussian"])
@pytest.mark.parametrize("mode", ["bounded", "adaptive"])
def test_learned_destruction_starts_at_base(gen, prior, mode, r_m):
    fixed = Sampler(2, 5, prior=prior, destruction="fixed", **SMALL).double()
    learned = Sampler(2, 5, prior=prior, destruction=mode, r_m=r_m, **SMALL).double()
    states = _states(fixed, 4, gen)
    pairs = [*zip(fixed.pb_params(states), learned.pb_params(states), strict=True)]
    pairs.append((fixed.log_pb(states), learned.log_pb(states)))
    for a, b in pairs:
        if mode == "adaptive":  # mean c x + dt * 0 and log var log v + 0: bit-exact
            assert torch.equal(a, b)
        else:  # x + (c - 1) x * 1 rounds differently from c x
            torch.testing.assert_close(a, b, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("prior", ["pinned", "gaussian"])
def test_adaptive_mean_bound(gen, prior):
    """``r_m = M``: mean ``c x + dt M tanh(a / M)``, within ``dt M`` of ``c x``.

    ``r_m=None`` (or inf): the unbounded ``c x + dt a``."""
    T, r_m, sigma2, sigma0 = 4, 0.5, 5.0, 1.5
    kw = dict(t_scale=sigma2, prior=prior, prior_std=sigma0, destruction="adaptive", **SMALL)
    bounded = Sampler(2, T, r_m=r_m, **kw).double()
    _perturb(bounded, gen)
    with torch.no_grad():  # large mean outputs of both signs, so the bound is reached
        bounded.destruction.net.head.bias[:2] = torch.tensor([40.0, -40.0], dtype=torch.float64)
    free = Sampler(2, T, r_m=None, **kw).double()
    free.load_state_dict(bounded.state_dict())
    y = _states(bounded, 6, gen)[:, 1:]
    times = torch.arange(T + 1, dtype=torch.float64) / T
    a, _ = bounded.destruction.net(y, times[1:])
    if prior == "pinned":
        coef = (times[:-1] / times[1:])[:, None]
    else:
        coef = (1 - vp_betas(times)).sqrt()[:, None]
    dt = 1.0 / T
    mean, log_var = bounded.destruction(y, None)
    torch.testing.assert_close(mean, coef * y + dt * r_m * torch.tanh(a / r_m))
    shift = (mean - coef * y).abs()
    assert (shift <= dt * r_m * (1 + 1e-12)).all() and (shift > 0.99 * dt * r_m).any()
    # None (and inf) is the unbounded formula, bit for bit; the log-variance does not depend on r_m
    mean_free, log_var_free = free.destruction(y, None)
    k = free.destruction
    assert torch.equal(mean_free, k.coef.unsqueeze(-1) * y + k.dt.unsqueeze(-1) * a)
    assert torch.equal(log_var_free, log_var)
    assert Sampler(2, T, r_m=math.inf, **kw).destruction.r_m is None
    assert bounded.with_steps(3).destruction.r_m == r_m
    for bad in (0.0, -1.0, math.nan):
        for mode in ("fixed", "adaptive"):
            with pytest.raises(ValueError, match="r_m must be positive"):
                Sampler(1, 4, destruction=mode, r_m=bad, **SMALL)


def test_masked_step_parameters_are_finite(gen):
    model = Sampler(2, 3, destruction="adaptive", **SMALL)
    traj = forward_rollout(model, 4, generator=gen)
    assert torch.equal(traj.bwd_mean[:, 0], traj.states[:, 0])
    assert torch.equal(traj.bwd_log_var[:, 0], torch.zeros(4, 2))
    assert torch.equal(traj.log_pb[:, 0], torch.zeros(4))
    for name in ("fwd_mean", "fwd_log_var", "bwd_mean", "bwd_log_var", "log_pf", "log_pb"):
        assert torch.isfinite(getattr(traj, name)).all(), name


# ---------------------------------------------------------------------------- Brownian bridge
def test_bridge_is_the_reverse_of_brownian_motion():
    T, sigma2, n = 4, 5.0, 200_000
    g = torch.Generator().manual_seed(7)
    model = Sampler(1, T, t_scale=sigma2, **SMALL).double()
    incr = torch.randn(n, T, generator=g, dtype=torch.float64) * math.sqrt(sigma2 / T)
    w = torch.cat([torch.zeros(n, 1, dtype=torch.float64), incr.cumsum(1)], 1)  # W_{t_i}
    for i in range(1, T):
        xi, xn = w[:, i], w[:, i + 1]
        slope = (xi * xn).mean() / (xn * xn).mean()
        resid = (xi - slope * xn).var()
        ti, tn = i / T, (i + 1) / T
        assert slope.item() == pytest.approx(ti / tn, abs=5e-3)
        assert resid.item() == pytest.approx(sigma2 / T * ti / tn, rel=1.5e-2)
        # the sampler's fixed destruction kernel has exactly these coefficients
        assert model.destruction.coef[i].item() == pytest.approx(ti / tn, rel=1e-12)
        assert model.destruction.log_var_base[i].exp().item() == pytest.approx(
            sigma2 / T * ti / tn, rel=1e-12
        )


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_brownian_pair_is_perfect(gen, direction):
    sigma2, log_z, d = 5.0, 1.7, 3
    model = Sampler(d, 6, t_scale=sigma2, destruction="fixed", **SMALL).double()

    def log_reward(x):  # N(0, sigma^2 I) at t = 1, times Z
        zero = torch.zeros_like(x)
        return Normal(zero, math.sqrt(sigma2)).log_prob(x).sum(-1) + log_z

    if direction == "forward":
        traj = forward_rollout(model, 64, generator=gen)
    else:
        x_T = math.sqrt(sigma2) * torch.randn(64, d, generator=gen, dtype=torch.float64)
        traj = backward_rollout(model, x_T, generator=gen)
    log_w = log_weights(traj, log_reward(traj.states[:, -1]))
    torch.testing.assert_close(log_w, torch.full_like(log_w, log_z), rtol=0, atol=1e-10)


# ---------------------------------------------------------------------------- sampler structure
def _ids(params):
    return {id(p) for p in params}


@pytest.mark.parametrize("backbone", ["separate", "shared", "shared-detached"])
def test_backbones_say_which_group_owns_every_parameter(backbone):
    model = Sampler(2, 3, destruction="adaptive", backbone=backbone, target_network=True, **SMALL)
    gen_trunk = _ids(model.generation.net.trunk.parameters())
    groups = model.parameter_groups()
    ids = [id(p) for ps in groups.values() for p in ps]
    assert len(ids) == len(set(ids))  # disjoint, and every trainable parameter in one group
    assert set(ids) == {id(p) for p in model.parameters() if p.requires_grad}
    assert groups["log_z"] == [model.log_z] and model.log_z.shape == ()
    head = _ids(model.destruction.net.head.parameters())
    if backbone == "separate":
        assert model.destruction.net.trunk is not model.generation.net.trunk
        assert _ids(groups["destruction"]) == _ids(model.destruction.parameters())
        assert groups["trunk"] == [] and gen_trunk <= _ids(groups["generation"])
    else:
        assert model.destruction.net.trunk is model.generation.net.trunk
        assert _ids(groups["destruction"]) == head
        owner = "trunk" if backbone == "shared" else "generation"
        assert gen_trunk <= _ids(groups[owner])
        if backbone == "shared":
            assert _ids(groups["trunk"]) == gen_trunk
            assert not gen_trunk & _ids(groups["generation"])
    # the target copy has its own trunk and is in no group
    assert model.target_destruction.net.trunk is not model.generation.net.trunk
    assert not _ids(model.target_destruction.parameters()) & set(ids)


@pytest.mark.parametrize("backbone", ["separate", "shared", "shared-detached"])
def test_destruction_gradient_reaches_the_trunk_only_where_the_backbone_says(gen, backbone):
    """Backpropagate the destruction's log-probabilities alone: a shared trunk receives them, a
    detached one does not (the destruction head does in every case)."""
    model = Sampler(2, 3, destruction="adaptive", backbone=backbone, **SMALL)
    _perturb(model, gen)
    states = _states(model, 3, gen).float()
    model.zero_grad(set_to_none=True)
    model.log_pb(states).sum().backward()
    got = {g: any(p.grad is not None and p.grad.abs().sum() > 0 for p in ps)
           for g, ps in model.parameter_groups().items()}  # fmt: skip
    assert got["destruction"]
    trunk_grad = any(p.grad is not None and p.grad.abs().sum() > 0
                     for p in model.generation.net.trunk.parameters())  # fmt: skip
    assert trunk_grad == (backbone == "shared")
    assert not any(p.grad is not None and p.grad.abs().sum() > 0
                   for p in model.generation.net.head.parameters())  # fmt: skip


def test_fixed_destruction_has_no_destruction_or_trunk_group():
    for backbone in ("separate", "shared"):
        groups = Sampler(2, 3, destruction="fixed", backbone=backbone, **SMALL).parameter_groups()
        assert groups["destruction"] == [] and groups["trunk"] == []
    with pytest.raises(ValueError, match="backbone must be one of"):
        Sampler(2, 3, destruction="adaptive", backbone="tied", **SMALL)


@pytest.mark.parametrize("shared", [False, True])
def test_target_network_ema(gen, shared):
    model = Sampler(
        2,
        3,
        destruction="adaptive",
        backbone="shared" if shared else "separate",
        target_network=True,
        **SMALL,
    )
    tgt = model.target_destruction
    assert all(not p.requires_grad for p in tgt.parameters())
    before = [p.clone() for p in tgt.parameters()]
    _perturb(model, gen)
    model.update_target(0.25)
    for b, t, s in zip(before, tgt.parameters(), model.destruction.parameters(), strict=True):
        torch.testing.assert_close(t, 0.75 * b + 0.25 * s)
    model.update_target(1.0)
    states = _states(model, 3, gen).float()
    torch.testing.assert_close(model.log_pb(states, use_target=True), model.log_pb(states))
    with pytest.raises(ValueError, match="target"):
        Sampler(2, 3, destruction="adaptive", **SMALL).log_pb(states, use_target=True)


def test_double_precision_conversion():
    model = Sampler(2, 3, prior="gaussian", destruction="adaptive", **SMALL).double()
    assert model.times.dtype == model.destruction.coef.dtype == torch.float64
    assert model.step_mask.dtype == torch.bool
    traj = forward_rollout(model, 2)
    assert traj.states.dtype == traj.log_pf.dtype == torch.float64


# ---------------------------------------------------------------------------- rollouts
def test_noise_argument_reproduces_generator(gen):
    model = Sampler(2, 4, prior="gaussian", destruction="adaptive", learn_var=True, **SMALL)
    _perturb(model, gen)
    a = forward_rollout(model, 5, generator=torch.Generator().manual_seed(3))
    noise = model.draw_noise(5, torch.Generator().manual_seed(3))
    b = forward_rollout(model, 5, noise=noise)
    assert torch.equal(a.states, b.states) and torch.equal(a.log_pf, b.log_pf)
    assert noise.shape == (5, 5, 2)


def test_backward_rollout_shapes(gen):
    model = Sampler(2, 4, destruction="adaptive", **SMALL)
    _perturb(model, gen)
    x_T = torch.randn(5, 2, generator=gen, requires_grad=True)
    traj = backward_rollout(model, x_T, generator=gen)
    assert traj.states.shape == (5, 5, 2) and traj.log_pf.shape == traj.log_pb.shape == (5, 4)
    assert torch.equal(traj.states[:, -1], x_T.detach())
    assert torch.equal(traj.states[:, 0], torch.zeros(5, 2))
    assert traj.states.grad_fn is None and traj.log_pb.requires_grad
    # the recorded log-probs are those of the two kernels on this trajectory
    torch.testing.assert_close(traj.log_pf, model.log_pf(traj.states))
    torch.testing.assert_close(traj.log_pb, model.log_pb(traj.states))


def test_exploration_changes_spread_not_logprobs(gen):
    model = Sampler(2, 4, t_scale=1.0, learn_var=True, destruction="adaptive", **SMALL)
    _perturb(model, gen, 0.1)
    noise = model.draw_noise(1000, gen)
    plain = forward_rollout(model, 1000, noise=noise)
    explored = forward_rollout(model, 1000, noise=noise, exploration_std=1.0)
    assert explored.states[:, -1].std() > 1.3 * plain.states[:, -1].std()
    # log-probs are the policy's own kernels evaluated on the explored states
    torch.testing.assert_close(explored.log_pf, model.log_pf(explored.states))
    torch.testing.assert_close(explored.log_pb, model.log_pb(explored.states))
    mean, log_var = model.pf_params(explored.states)
    torch.testing.assert_close(explored.fwd_log_var, log_var)
    torch.testing.assert_close(explored.fwd_mean, mean)


def test_reparam_controls_state_gradients(gen):
    model = Sampler(2, 3, learn_var=True, destruction="adaptive", **SMALL)
    traj = forward_rollout(model, 4, generator=gen)
    assert traj.states.grad_fn is None and not traj.states.requires_grad
    assert traj.log_pf.requires_grad  # still differentiable in the parameters

    traj = forward_rollout(model, 4, generator=gen, reparam=True)
    grads = torch.autograd.grad(
        traj.states[:, -1].square().sum(), model.parameter_groups()["generation"], allow_unused=True
    )
    assert sum(g.abs().sum() for g in grads if g is not None) > 0
    torch.testing.assert_close(traj.log_pf, model.log_pf(traj.states))


@pytest.mark.parametrize("prior", ["pinned", "gaussian"])
def test_fused_and_reference_log_weights_agree(gen, prior):
    model = Sampler(2, 5, prior=prior, destruction="adaptive", learn_var=True, **SMALL)
    _perturb(model, gen)
    target = get_target("gmm9")
    noise = model.draw_noise(16, gen)
    x_T = target.sample(16, gen)
    for rollout in (
        lambda impl: forward_rollout(model, 16, noise=noise, impl=impl),
        lambda impl: backward_rollout(model, x_T, noise=noise, impl=impl),
    ):
        ref, fused = rollout("reference"), rollout("auto")
        lw_ref = log_weights(ref, target.log_prob(ref.states[:, -1]))
        lw_fused = log_weights(fused, target.log_prob(fused.states[:, -1]))
        torch.testing.assert_close(lw_fused, lw_ref, rtol=1e-5, atol=1e-4)


def test_compile_fullgraph(gen):
    """forward + backward rollouts and TB compile with fullgraph (aot_eager) and match eager.

    A ``torch.Generator`` argument is not traceable by dynamo, so the compiled function takes
    pre-drawn ``noise`` (the global RNG, ``generator=None``, also traces)."""
    torch._dynamo.reset()
    model = Sampler(2, 3, prior="gaussian", learn_var=True, destruction="adaptive", **SMALL)
    _perturb(model, gen)

    def step(noise, x_T):
        fwd = forward_rollout(model, noise.shape[0], noise=noise, exploration_std=0.5)
        bwd = backward_rollout(model, x_T, noise=noise)
        loss_f, _ = tb_loss(fwd, -0.5 * fwd.states[:, -1].square().sum(-1), model.log_z)
        loss_b, _ = tb_loss(bwd, -0.5 * bwd.states[:, -1].square().sum(-1), model.log_z)
        return loss_f + loss_b

    noise, x_T = model.draw_noise(8, gen), torch.randn(8, 2, generator=gen)
    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    loss_c = compiled(noise, x_T)
    grad_c = torch.autograd.grad(loss_c, model.log_z)[0]
    loss_e = step(noise, x_T)
    grad_e = torch.autograd.grad(loss_e, model.log_z)[0]
    torch.testing.assert_close(loss_c, loss_e)
    torch.testing.assert_close(grad_c, grad_e)

    def global_rng():
        traj = forward_rollout(model, 4)
        return tb_loss(traj, traj.states[:, -1].sum(-1), model.log_z)[0]

    assert torch.isfinite(torch.compile(global_rng, fullgraph=True, backend="aot_eager")())
