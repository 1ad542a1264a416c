"""ads_bench.objectives: values on hand-computed trajectories, and which parameters each loss trains."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from ads_bench.objectives import log_weights, reverse_kl_loss, tb_loss, tlm_loss, vargrad_loss
from ads_bench.rollout import Trajectory, backward_rollout, forward_rollout
from ads_bench.sampler import Sampler

SMALL = {"hidden": 16, "layers": 2, "n_freq": 8}
LOG_2PI = math.log(2 * math.pi)


def _f64(x) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64)


def _log_var_of(log_prob: torch.Tensor) -> torch.Tensor:
    """``[B, T, 1]`` log-variances whose Gaussian density at its own mean is ``log_prob`` ``[B, T]``:
    ``log N(m; m, v) = -(log v + log 2 pi) / 2``."""
    return (-2.0 * log_prob - LOG_2PI)[..., None]


def _tiny_trajectory(**overrides) -> Trajectory:
    """B=2, T=2, D=1 with chosen log-probabilities, recorded (``log_pf``, ``log_pb``) and as kernel
    parameters (states at the kernels' means, log-variances from :func:`_log_var_of`); the masked
    entry of ``log_pb`` is garbage (99), of ``bwd_log_var`` NaN."""
    log_pf = torch.tensor([[-1.0, -2.0], [-0.5, -1.5]], dtype=torch.float64)
    log_pb = torch.tensor([[99.0, -0.7], [99.0, -1.2]], dtype=torch.float64)
    bwd_log_var = _log_var_of(log_pb)
    bwd_log_var[:, 0] = float("nan")
    z = torch.zeros(2, 2, 1, dtype=torch.float64)
    fields = {
        "states": torch.zeros(2, 3, 1, dtype=torch.float64),
        "log_pf": log_pf,
        "log_pb": log_pb,
        "log_p0": torch.tensor([0.0, 0.0], dtype=torch.float64),
        "step_mask": torch.tensor([False, True]),
        "fwd_mean": z,
        "fwd_log_var": _log_var_of(log_pf),
        "bwd_mean": z,
        "bwd_log_var": bwd_log_var,
    }
    fields.update(overrides)
    return Trajectory(**fields)


def test_losses_by_hand():
    traj = _tiny_trajectory()
    log_r = torch.tensor([1.0, 2.0], dtype=torch.float64)
    # log w = log R + sum log pb (masked step excluded) - sum log pf - log p0
    log_w = log_weights(traj, log_r)
    torch.testing.assert_close(
        log_w, torch.tensor([1 - 0.7 + 3.0, 2 - 1.2 + 2.0], dtype=torch.float64)
    )
    log_z = torch.tensor(3.0, dtype=torch.float64)
    for impl in ("fused", "reference"):
        tb, tb_w = tb_loss(traj, log_r, log_z, impl=impl)
        vargrad, vargrad_w = vargrad_loss(traj, log_r, log_z, impl=impl)
        kl, kl_w = reverse_kl_loss(traj, log_r, log_z, impl=impl)
        for w in (tb_w, vargrad_w, kl_w):  # from the kernel parameters, as from the log-probs
            torch.testing.assert_close(w, log_w, rtol=1e-14, atol=1e-14)
        assert tb.item() == pytest.approx((0.3**2 + 0.2**2) / 2, rel=1e-12)
        assert vargrad.item() == pytest.approx(0.25**2, rel=1e-12)
        assert vargrad.item() == pytest.approx(log_w.var(unbiased=False).item(), rel=1e-12)
        assert kl.item() == pytest.approx(-3.05, rel=1e-12)
        assert tlm_loss(traj, impl=impl).item() == pytest.approx(0.95, rel=1e-12)

    # with a Gaussian prior term and a replacement log_pb (e.g. the target network's)
    traj = _tiny_trajectory(
        log_p0=torch.tensor([-0.25, 0.5], dtype=torch.float64),
        step_mask=torch.tensor([True, True]),
    )
    other_pb = torch.tensor([[-0.1, -0.2], [-0.3, -0.4]], dtype=torch.float64)
    got = log_weights(traj, log_r, log_pb=other_pb)
    torch.testing.assert_close(
        got, torch.tensor([1 - 0.3 + 3.0 + 0.25, 2 - 0.7 + 2.0 - 0.5], dtype=torch.float64)
    )


def test_tiny_brownian_trajectory_by_hand():
    """A real sampler (T=2, D=1, sigma^2=1, zero drift, bridge destruction) on fixed states."""
    model = Sampler(1, 2, t_scale=1.0, destruction="fixed", **SMALL).double()
    states = torch.tensor([[[0.0], [0.5], [1.0]], [[0.0], [-0.3], [0.2]]], dtype=torch.float64)

    def normal(x, m, v):
        return -0.5 * ((x - m) ** 2 / v + math.log(v) + LOG_2PI)

    rows = []
    for x1, x2 in ((0.5, 1.0), (-0.3, 0.2)):
        pf = normal(x1, 0.0, 0.5) + normal(x2, x1, 0.5)  # Brownian increments, variance dt
        pb = normal(x1, 0.5 * x2, 0.25)  # bridge from t=1 to t=1/2: mean x2/2, var 1/2 * 1/2
        log_r = normal(x2, 0.0, 1.0) + 0.3  # N(0, 1) with log Z = 0.3
        rows.append((pf, pb, log_r))
    log_pf, log_pb = model.log_pf(states), model.log_pb(states)
    torch.testing.assert_close(log_pf.sum(-1), _f64([r[0] for r in rows]))
    torch.testing.assert_close(log_pb.sum(-1), _f64([r[1] for r in rows]))
    assert log_pb[:, 0].tolist() == [0.0, 0.0]
    fwd, bwd = model.pf_params(states), model.pb_params(states)
    traj = _tiny_trajectory(states=states, log_pf=log_pf, log_pb=log_pb, fwd_mean=fwd[0],
                            fwd_log_var=fwd[1], bwd_mean=bwd[0], bwd_log_var=bwd[1])  # fmt: skip
    torch.testing.assert_close(log_pb[:, 1], _f64([r[1] for r in rows]), rtol=1e-14, atol=0)
    log_w = log_weights(traj, _f64([r[2] for r in rows]))
    torch.testing.assert_close(
        log_w, torch.full((2,), 0.3, dtype=torch.float64), rtol=0, atol=1e-14
    )
    loss, tb_w = tb_loss(traj, _f64([r[2] for r in rows]), _f64(0.3))
    torch.testing.assert_close(tb_w, log_w, rtol=0, atol=1e-14)
    assert loss.item() == pytest.approx(0.0, abs=1e-26)  # perfect pair


# ---------------------------------------------------------------------------- gradient routing
def _model(gen, shared=False):
    model = Sampler(2, 3, learn_var=True, destruction="adaptive", backbone="shared" if shared else "separate",
                    target_network=True, **SMALL)  # fmt: skip
    with torch.no_grad():  # non-zero heads so gradients reach every layer
        for p in model.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=gen))
        model.update_target(1.0)
    return model


def _reward(x):
    return -0.5 * x.square().sum(-1)


def _grads(model, loss):
    model.zero_grad(set_to_none=True)
    loss.backward()
    groups = model.parameter_groups()
    got = {
        k: any(p.grad is not None and p.grad.abs().sum() > 0 for p in ps)
        for k, ps in groups.items()
    }
    got["none_in"] = {k: [p.grad is None for p in ps] for k, ps in groups.items()}
    assert all(p.grad is None for p in model.target_destruction.parameters())
    assert all(not p.requires_grad for p in model.target_destruction.parameters())
    return got


def test_tb_trains_generation_destruction_and_log_z(gen):
    model = _model(gen)
    traj = forward_rollout(model, 8, generator=gen)
    g = _grads(model, tb_loss(traj, _reward(traj.states[:, -1]), model.log_z)[0])
    assert g["generation"] and g["destruction"] and g["log_z"]


def test_vargrad_and_reverse_kl_do_not_touch_log_z(gen):
    model = _model(gen)
    traj = forward_rollout(model, 8, generator=gen)
    g = _grads(model, vargrad_loss(traj, _reward(traj.states[:, -1]), model.log_z)[0])
    assert g["generation"] and g["destruction"] and not g["log_z"]
    traj = forward_rollout(model, 8, generator=gen, reparam=True)
    g = _grads(model, reverse_kl_loss(traj, _reward(traj.states[:, -1]), model.log_z)[0])
    assert g["generation"] and not g["log_z"]


@pytest.mark.parametrize("rollout", ["forward", "backward"])
def test_tlm_trains_only_destruction(gen, rollout):
    model = _model(gen)
    if rollout == "forward":
        traj = forward_rollout(model, 8, generator=gen)
    else:
        traj = backward_rollout(model, torch.randn(8, 2, generator=gen), generator=gen)
    g = _grads(model, tlm_loss(traj))
    assert g["destruction"]
    assert all(g["none_in"]["generation"]) and all(g["none_in"]["log_z"])


def test_tlm_generation_step_uses_the_target_copy(gen):
    model = _model(gen)
    traj = forward_rollout(model, 8, generator=gen, use_target=True)
    torch.testing.assert_close(traj.log_pb, model.log_pb(traj.states, use_target=True))
    g = _grads(model, tb_loss(traj, _reward(traj.states[:, -1]), model.log_z)[0])
    assert g["generation"] and g["log_z"] and all(g["none_in"]["destruction"])

    # equivalently: recompute the destruction kernel with the target on an ordinary trajectory
    traj = forward_rollout(model, 8, generator=gen)
    mean, log_var = model.pb_params(traj.states, use_target=True)
    traj = dataclasses.replace(traj, bwd_mean=mean, bwd_log_var=log_var)
    g = _grads(model, tb_loss(traj, _reward(traj.states[:, -1]), model.log_z)[0])
    assert all(g["none_in"]["destruction"])
    # or the log-weights of its recorded log-probabilities with the target's log_pb
    traj = forward_rollout(model, 8, generator=gen)
    log_pb = model.log_pb(traj.states, use_target=True)
    log_w = log_weights(traj, _reward(traj.states[:, -1]), log_pb=log_pb)
    g = _grads(model, (model.log_z - log_w).square().mean())
    assert all(g["none_in"]["destruction"])


def test_tlm_with_shared_backbone_touches_only_the_trunk(gen):
    """With a shared trunk the TLM gradient reaches the trunk (its own group, ``trunk``) and the
    destruction head; the generation head gets nothing."""
    model = _model(gen, shared=True)
    traj = forward_rollout(model, 8, generator=gen)
    model.zero_grad(set_to_none=True)
    tlm_loss(traj).backward()
    assert all(p.grad is None for p in model.generation.net.head.parameters())
    assert all(p.grad is not None for p in model.parameter_groups()["destruction"])
    assert all(p.grad is not None for p in model.parameter_groups()["trunk"])
    assert all(p.grad is None for p in model.parameter_groups()["generation"])
