"""ads_bench.ops.trajectory_balance: fused kernel against its reference, a hand-computed case, masks,
autograd (both outputs), torch.compile, determinism and errors."""

from __future__ import annotations

import math

import pytest
import torch

from ads_bench.objectives import log_weights
from ads_bench.ops import build_info, gaussian_logprob, trajectory_balance
from ads_bench.rollout import Trajectory

TOL = {torch.float32: {"rtol": 1e-4, "atol": 1e-4}, torch.float64: {"rtol": 1e-11, "atol": 1e-10}}
# (B, T, D): an empty batch, T = 1, D = 1, a trajectory longer than the CPU chunk (T*D > 512), T = 0.
SHAPES = [(5, 4, 3), (0, 3, 2), (6, 1, 3), (7, 5, 1), (33, 10, 2), (3, 40, 20), (4, 0, 2)]
OPCHECK_UTILS = (
    "test_schema",
    "test_autograd_registration",
    "test_faketensor",
    "test_aot_dispatch_dynamic",
)
NAMES = ("states", "fwd_mean", "fwd_log_var", "bwd_mean", "bwd_log_var", "log_reward", "log_z")


def _inputs(shape, dtype, device, gen, *, tb=True):
    """Random inputs as a dict; log-variances kept moderate so float32 sums stay well conditioned."""
    b, t, d = shape
    ins = {
        "states": torch.randn(b, t + 1, d, generator=gen, dtype=dtype),
        "fwd_mean": torch.randn(b, t, d, generator=gen, dtype=dtype),
        "fwd_log_var": 0.5 * torch.randn(b, t, d, generator=gen, dtype=dtype),
        "bwd_mean": torch.randn(b, t, d, generator=gen, dtype=dtype),
        "bwd_log_var": 0.5 * torch.randn(b, t, d, generator=gen, dtype=dtype),
        "log_reward": torch.randn(b, generator=gen, dtype=dtype),
    }
    if tb:
        ins["log_z"] = torch.randn((), generator=gen, dtype=dtype)
    return {k: v.to(device) for k, v in ins.items()}


def _mask(steps, device, kind):
    if kind == "none":
        return None
    return (torch.arange(steps) % 3 != 0).to(device)  # step 0 (the pinned step) masked, and more


def _leaves(ins):
    return {k: v.detach().clone().requires_grad_(True) for k, v in ins.items()}


def _call(ins, impl, step_mask):
    args = [ins[k] for k in NAMES[:6]]
    return trajectory_balance(*args, ins.get("log_z"), step_mask=step_mask, impl=impl)


def _run(ins, impl, step_mask, upstream):
    """Outputs and the gradients of every input, for upstream gradients (grad_loss, grad_log_w)."""
    leaves = _leaves(ins)
    loss, log_w = _call(leaves, impl, step_mask)
    outs, grads_out = [], []
    if upstream[0] is not None:
        outs.append(loss)
        grads_out.append(upstream[0])
    if upstream[1] is not None:
        outs.append(log_w)
        grads_out.append(upstream[1])
    grads = torch.autograd.grad(
        outs, list(leaves.values()), grads_out, allow_unused=True, materialize_grads=True
    )
    return loss.detach(), log_w.detach(), dict(zip(leaves, grads, strict=True))


def _assert_same(fused, ref, dtype):
    loss, log_w, grads = fused
    rloss, rlog_w, rgrads = ref
    torch.testing.assert_close(loss, rloss, equal_nan=True, **TOL[dtype])
    torch.testing.assert_close(log_w, rlog_w, **TOL[dtype])
    assert grads.keys() == rgrads.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], rgrads[name], msg=name, **TOL[dtype])


def test_extension_has_the_ops():
    assert build_info()["extension"], build_info()["error"]
    assert hasattr(torch.ops.ads_bench, "trajectory_balance")
    assert hasattr(torch.ops.ads_bench, "trajectory_balance_backward")


@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_hand_computed_tiny_case(impl):
    # B = 2, T = 2, D = 1; step 0 has no destruction density (masked, its parameters NaN).
    # L = log(2 pi) / 2. Trajectory 0, states (0, 1, 3):
    #   fwd step 0: N(1; 0.5, var 1)        = -0.125 - L
    #   fwd step 1: N(3; 1, var 4)          = -0.5 - log 2 - L
    #   bwd step 1: N(1; 2, var 1)          = -0.5 - L
    #   log w_0 = 1 + (-0.5 - L) - (-0.125 - L) - (-0.5 - log 2 - L) = 1.125 + log 2 + L
    # Trajectory 1, states (0, 0, 0), all means 0 and log-variances 0:
    #   log w_1 = -1 + (-L) - 2 (-L) = L - 1
    nan = float("nan")
    f64 = torch.float64
    states = torch.tensor([[[0.0], [1.0], [3.0]], [[0.0], [0.0], [0.0]]], dtype=f64)
    fwd_mean = torch.tensor([[[0.5], [1.0]], [[0.0], [0.0]]], dtype=f64)
    fwd_log_var = torch.tensor([[[0.0], [math.log(4.0)]], [[0.0], [0.0]]], dtype=f64)
    bwd_mean = torch.tensor([[[nan], [2.0]], [[nan], [0.0]]], dtype=f64)
    bwd_log_var = torch.tensor([[[nan], [0.0]], [[float("inf")], [0.0]]], dtype=f64)
    log_reward = torch.tensor([1.0, -1.0], dtype=f64)
    mask = torch.tensor([False, True])
    big_l = 0.5 * math.log(2 * math.pi)
    lw0, lw1 = 1.125 + math.log(2.0) + big_l, big_l - 1.0
    args = (states, fwd_mean, fwd_log_var, bwd_mean, bwd_log_var, log_reward)

    log_z = torch.tensor(0.5, dtype=f64, requires_grad=True)
    leaves = [t.clone().requires_grad_(True) for t in args]
    loss, log_w = trajectory_balance(*leaves, log_z, step_mask=mask, impl=impl)
    torch.testing.assert_close(log_w, torch.tensor([lw0, lw1], dtype=f64), rtol=1e-15, atol=1e-14)
    expected = ((0.5 - lw0) ** 2 + (0.5 - lw1) ** 2) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-14)
    loss.backward()
    g0, g1 = lw0 - 0.5, lw1 - 0.5  # d loss / d log w_b = 2 (log w_b - log Z) / B
    torch.testing.assert_close(leaves[5].grad, torch.tensor([g0, g1], dtype=f64))
    assert log_z.grad.item() == pytest.approx(-(g0 + g1), rel=1e-14)
    # d log w_0 / d fwd_mean[0, 0] = -(x - m) exp(-v) = -0.5; masked step: exactly zero gradient.
    assert leaves[1].grad[0, 0, 0].item() == pytest.approx(-0.5 * g0, rel=1e-14)
    assert (leaves[3].grad[:, 0] == 0).all() and (leaves[4].grad[:, 0] == 0).all()
    # State x_1 of trajectory 0 ends fwd step 0 and starts bwd step 1:
    #   d/dx [-(-(x - 0.5)^2 / 2)] + d/dx [-(x - 2)^2 / 2] at x = 1: 0.5 + 1.
    assert leaves[0].grad[0, 1, 0].item() == pytest.approx(1.5 * g0, rel=1e-14)

    loss_vg, log_w_vg = trajectory_balance(*args, step_mask=mask, impl=impl)
    torch.testing.assert_close(log_w_vg, log_w.detach())
    assert loss_vg.item() == pytest.approx(((lw0 - lw1) / 2) ** 2, rel=1e-14)


@pytest.mark.parametrize("upstream", ["loss", "log_w", "both"])
@pytest.mark.parametrize("mask", ["none", "partial"])
@pytest.mark.parametrize("mode", ["tb", "vargrad"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "B{}-T{}-D{}".format(*s))
def test_fused_matches_reference(shape, dtype, mode, mask, upstream, device, gen):
    ins = _inputs(shape, dtype, device, gen, tb=mode == "tb")
    step_mask = _mask(shape[1], device, mask)
    grad_loss = torch.randn((), generator=gen, dtype=dtype).to(device)
    grad_log_w = torch.randn(shape[0], generator=gen, dtype=dtype).to(device)
    up = (
        grad_loss if upstream != "log_w" else None,
        grad_log_w if upstream != "loss" else None,
    )
    fused = _run(ins, "fused", step_mask, up)
    ref = _run(ins, "reference", step_mask, up)
    loss, log_w, grads = fused
    assert loss.shape == () and log_w.shape == (shape[0],)
    assert loss.dtype == dtype and loss.device == ins["states"].device
    assert loss.isnan().item() == (shape[0] == 0)  # an empty batch: NaN, like torch.mean
    _assert_same(fused, ref, dtype)
    if "log_z" in grads and shape[0] == 0:
        assert grads["log_z"].item() == 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_log_weights_of_recorded_log_probs(dtype, gen):
    # The same quantities composed from gaussian_logprob and objectives.log_weights, as
    # evaluation does from a rollout's recorded log-probabilities.
    ins = _inputs((16, 6, 3), dtype, "cpu", gen)
    mask = _mask(6, "cpu", "partial")
    s = ins["states"]
    log_pf = gaussian_logprob(s[:, 1:], ins["fwd_mean"], ins["fwd_log_var"])
    log_pb = torch.where(mask, gaussian_logprob(s[:, :-1], ins["bwd_mean"], ins["bwd_log_var"]), 0)
    kernels = {k: ins[k] for k in ("fwd_mean", "fwd_log_var", "bwd_mean", "bwd_log_var")}
    traj = Trajectory(s, log_pf, log_pb, s.new_zeros(16), mask, **kernels)
    log_w = log_weights(traj, ins["log_reward"])
    torch.testing.assert_close(log_w, ins["log_reward"] + log_pb.sum(-1) - log_pf.sum(-1))
    loss, fused_log_w = _call(ins, "fused", mask)
    torch.testing.assert_close(fused_log_w, log_w, **TOL[dtype])
    torch.testing.assert_close(loss, (ins["log_z"] - log_w).square().mean(), **TOL[dtype])
    del ins["log_z"]
    loss_vg, _ = _call(ins, "fused", mask)
    torch.testing.assert_close(loss_vg, (log_w - log_w.mean()).square().mean(), **TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_non_contiguous_inputs(dtype, device, gen):
    b, t, d = 6, 5, 3
    base = _inputs((b, t, d), dtype, device, gen)
    # A transposed states buffer, strided slices of wider buffers, an expanded (stride-0) log-variance
    # and a strided log_reward; each a differentiable view of a leaf.

    def leaf(*shape):
        return torch.randn(*shape, generator=gen, dtype=dtype).to(device).requires_grad_(True)

    leaves = {
        "states": base["states"].transpose(0, 1).contiguous().requires_grad_(True),
        "fwd_mean": leaf(b, t, 2 * d),
        "fwd_log_var": base["fwd_log_var"][:1].clone().requires_grad_(True),
        "bwd_mean": leaf(t, b, d),
        "bwd_log_var": base["bwd_log_var"].clone().requires_grad_(True),
        "log_reward": leaf(2 * b),
        "log_z": base["log_z"].clone().requires_grad_(True),
    }
    views = {
        "states": leaves["states"].transpose(0, 1),
        "fwd_mean": leaves["fwd_mean"][..., ::2],
        "fwd_log_var": leaves["fwd_log_var"].expand(b, t, d),
        "bwd_mean": leaves["bwd_mean"].transpose(0, 1),
        "bwd_log_var": leaves["bwd_log_var"],
        "log_reward": leaves["log_reward"][::2],
        "log_z": leaves["log_z"],
    }
    assert not any(views[k].is_contiguous() for k in NAMES[:4])
    mask = _mask(t, device, "partial")
    out = _call(views, "fused", mask)
    ref = _call(views, "reference", mask)
    for a, r in zip(out, ref, strict=True):
        torch.testing.assert_close(a, r, **TOL[dtype])
    grads = torch.autograd.grad(out[0] - out[1].sum(), list(leaves.values()))
    rgrads = torch.autograd.grad(ref[0] - ref[1].sum(), list(leaves.values()))
    for name, g, r in zip(leaves, grads, rgrads, strict=True):
        torch.testing.assert_close(g, r, msg=name, **TOL[dtype])


@pytest.mark.parametrize("mode", ["tb", "vargrad"])
def test_gradcheck_float64(mode, gen):
    ins = _leaves(_inputs((3, 3, 2), torch.float64, "cpu", gen, tb=mode == "tb"))
    mask = torch.tensor([False, True, True])
    names = list(ins)

    def fn(*args):
        kw = dict(zip(names, args, strict=True))
        return _call(kw, "fused", mask)  # both outputs: (loss, log_w)

    assert torch.autograd.gradcheck(fn, tuple(ins.values()))


def _permuted(t):
    """The same values in a dense but permuted (batch-minor) layout."""
    return t.transpose(0, 1).contiguous().transpose(0, 1)


def test_opcheck(gen):
    cases = [
        ((5, 3, 2), True, "partial", False),
        ((4, 2, 1), False, "none", False),
        ((0, 2, 3), True, "none", False),
        ((6, 4, 3), True, "partial", True),  # permuted layouts: fakes must match the real strides
    ]
    for shape, tb, mask, permute in cases:
        ins = _inputs(shape, torch.float32, "cpu", gen, tb=tb)
        if permute:
            ins.update({k: _permuted(ins[k]) for k in NAMES[:5]})
        ins = {k: v.detach().requires_grad_(True) for k, v in ins.items()}
        step_mask = _mask(shape[1], "cpu", mask)
        if step_mask is None:
            step_mask = torch.ones(shape[1], dtype=torch.bool)
        args = (*[ins[k] for k in NAMES[:6]], ins.get("log_z"), step_mask)
        # The empty batch's loss is NaN, which the AOT check compares without equal_nan: skip that one.
        utils = [u for u in OPCHECK_UTILS if shape[0] or u != "test_aot_dispatch_dynamic"]
        torch.library.opcheck(
            torch.ops.ads_bench.trajectory_balance.default, args, test_utils=utils
        )
        detached = [a.detach() if isinstance(a, torch.Tensor) else a for a in args]
        _, log_w = torch.ops.ads_bench.trajectory_balance(*detached)
        bwd_args = (
            torch.randn((), generator=gen),
            torch.randn(shape[0], generator=gen),
            *detached[:5],
            log_w,
            *detached[6:],
        )
        torch.library.opcheck(torch.ops.ads_bench.trajectory_balance_backward.default, bwd_args)


@pytest.mark.parametrize("mode,mask_kind", [("tb", "partial"), ("vargrad", "none")])
def test_torch_compile_fullgraph(mode, mask_kind, gen):
    ins = _leaves(_inputs((8, 5, 3), torch.float32, "cpu", gen, tb=mode == "tb"))
    mask = _mask(5, "cpu", mask_kind)
    names = list(ins)

    def objective(*args):
        kw = dict(zip(names, args, strict=True))
        loss, log_w = _call(kw, "fused", mask)
        return loss - 0.1 * log_w.mean()  # TB plus a reverse-KL term through log_w

    compiled = torch.compile(objective, fullgraph=True, backend="aot_eager")
    args = tuple(ins.values())
    out_eager, out_comp = objective(*args), compiled(*args)
    torch.testing.assert_close(out_comp, out_eager)
    for a, b in zip(torch.autograd.grad(out_eager, args), torch.autograd.grad(out_comp, args), strict=True):  # fmt: skip
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_masked_steps_ignore_non_finite_parameters(impl, device, gen):
    ins = _inputs((5, 6, 2), torch.float64, device, gen)
    mask = _mask(6, device, "partial")
    clean = _run(ins, impl, mask, (torch.tensor(1.0, dtype=torch.float64, device=device), None))
    dirty = dict(ins)
    for name, bad in (("bwd_mean", float("nan")), ("bwd_log_var", float("inf"))):
        t = ins[name].clone()
        t[:, ~mask] = bad
        dirty[name] = t
    got = _run(dirty, impl, mask, (torch.tensor(1.0, dtype=torch.float64, device=device), None))
    _assert_same(got, clean, torch.float64)
    for name in ("bwd_mean", "bwd_log_var"):
        assert (got[2][name][:, ~mask] == 0).all()
    assert all(g.isfinite().all() for g in got[2].values())


@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_nan_in_log_reward_propagates(impl, gen):
    # Documented contract: values are not checked; a NaN reward poisons its log_w and the loss.
    ins = _inputs((4, 3, 2), torch.float32, "cpu", gen)
    ins["log_reward"][2] = float("nan")
    loss, log_w = _call(ins, impl, None)
    assert loss.isnan() and log_w.isnan().tolist() == [False, False, True, False]


def test_deterministic_across_thread_counts(gen):
    # Several parallel tasks (B * T * D well above the grain); results must be bit-identical.
    ins = _inputs((4096, 5, 2), torch.float32, "cpu", gen)
    up = (torch.tensor(0.7), torch.randn(4096, generator=gen))
    threads = torch.get_num_threads()
    try:
        runs = []
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            runs.append(_run(ins, "fused", None, up))
    finally:
        torch.set_num_threads(threads)
    for loss, log_w, grads in runs[1:]:
        assert torch.equal(loss, runs[0][0]) and torch.equal(log_w, runs[0][1])
        assert all(torch.equal(grads[k], runs[0][2][k]) for k in grads)


def test_float32_long_trajectories_against_float64(gen):
    # (B, T, D) of the field's largest setting, scaled down in B: float32 sums over T*D = 3200 terms.
    ins = _inputs((16, 100, 32), torch.float64, "cpu", gen)
    loss64, log_w64 = _call(ins, "reference", None)
    loss32, log_w32 = _call({k: v.float() for k, v in ins.items()}, "fused", None)
    torch.testing.assert_close(log_w32.double(), log_w64, rtol=1e-5, atol=1e-2)
    torch.testing.assert_close(loss32.double(), loss64, rtol=1e-4, atol=1e-2)


def test_auto_uses_fused_and_falls_back_for_other_dtypes(gen, monkeypatch):
    calls = []
    real = torch.ops.ads_bench.trajectory_balance

    class Spy:
        def __call__(self, *a):
            calls.append(a[0].dtype)
            return real(*a)

    # (ads_bench.ops.balance reads torch.ops at call time, so the spy sees the call.)
    monkeypatch.setattr(torch.ops.ads_bench, "trajectory_balance", Spy(), raising=False)
    ins = _inputs((4, 3, 2), torch.float32, "cpu", gen)
    _call(ins, "auto", None)
    assert calls == [torch.float32]
    half = {k: v.to(torch.bfloat16) for k, v in ins.items()}
    loss, _ = _call(half, "auto", None)  # no fused bf16 kernel: the reference runs
    assert calls == [torch.float32] and loss.dtype == torch.bfloat16
    with pytest.raises(RuntimeError, match="float32 and float64"):
        _call(half, "fused", None)


@pytest.mark.parametrize("impl", ["auto", "fused", "reference"])
def test_clear_errors(impl, gen):
    ins = _inputs((4, 3, 2), torch.float32, "cpu", gen)

    def call(**changes):
        kw = {**ins, **changes}
        mask = kw.pop("step_mask", None)
        return _call(kw, impl, mask)

    with pytest.raises(
        ValueError,
        match=r"fwd_log_var has shape \(4, 3, 3\) but expected \(4, 3, 2\) from states of shape "
        r"\(4, 4, 2\)",
    ):
        call(fwd_log_var=torch.zeros(4, 3, 3))
    with pytest.raises(
        ValueError, match=r"bwd_mean has shape \(4, 4, 2\) but expected \(4, 3, 2\)"
    ):
        call(bwd_mean=torch.zeros(4, 4, 2))
    with pytest.raises(ValueError, match=r"log_reward has shape \(4, 1\) but expected \(4,\)"):
        call(log_reward=torch.zeros(4, 1))
    with pytest.raises(ValueError, match=r"log_z has shape \(1,\) but expected 0-dim"):
        call(log_z=torch.zeros(1))
    with pytest.raises(ValueError, match=r"states must have shape \[B, T\+1, D\]"):
        call(states=torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"states must have shape \[B, T\+1, D\]"):
        call(states=torch.zeros(4, 0, 2))
    with pytest.raises(
        TypeError, match=r"bwd_log_var has dtype torch\.float64 but states has dtype torch\.float32"
    ):
        call(bwd_log_var=ins["bwd_log_var"].double())
    with pytest.raises(TypeError, match="log_reward must be a floating-point tensor"):
        call(log_reward=torch.zeros(4, dtype=torch.long))
    with pytest.raises(TypeError, match=r"fwd_mean must be a torch\.Tensor, got list"):
        call(fwd_mean=[0.0])
    with pytest.raises(ValueError, match=r"step_mask has shape \(4,\) but expected \(3,\)"):
        call(step_mask=torch.ones(4, dtype=torch.bool))
    with pytest.raises(
        TypeError, match=r"step_mask must be a bool tensor, got dtype torch\.float32"
    ):
        call(step_mask=torch.ones(3))
    with pytest.raises(ValueError, match="fwd_mean is on meta but states is on cpu"):
        call(fwd_mean=ins["fwd_mean"].to("meta"))
    with pytest.raises(ValueError, match="step_mask is on meta but states is on cpu"):
        call(step_mask=torch.ones(3, dtype=torch.bool, device="meta"))


def test_unknown_impl_is_rejected(gen):
    with pytest.raises(ValueError, match="impl must be one of"):
        _call(_inputs((2, 1, 1), torch.float32, "cpu", gen), "fast", None)


def test_cpp_checks_reject_bad_calls_directly(gen):
    # The C++ kernels check too, for callers that use torch.ops directly.
    ins = _inputs((4, 3, 2), torch.float32, "cpu", gen)
    args = [ins[k] for k in NAMES[:6]]
    mask = torch.ones(3, dtype=torch.bool)
    op = torch.ops.ads_bench.trajectory_balance
    with pytest.raises(
        RuntimeError, match=r"bwd_mean has shape \[4, 2, 2\] but expected \[B, T, D\]"
    ):
        op(*args[:3], torch.zeros(4, 2, 2), *args[4:], None, mask)
    with pytest.raises(RuntimeError, match="log_z must be a 0-dim tensor"):
        op(*args, torch.zeros(1), mask)
    with pytest.raises(RuntimeError, match="step_mask has shape"):
        op(*args, None, torch.ones(2, dtype=torch.bool))
    with pytest.raises(RuntimeError, match="step_mask must be a bool tensor"):
        op(*args, None, torch.ones(3))
    with pytest.raises(RuntimeError, match="float32 and float64"):
        op(*[a.half() for a in args], None, mask)
    with pytest.raises(
        RuntimeError, match=r"log_reward has shape \[5\] but expected \[B\] = \[4\]"
    ):
        op(*args[:5], torch.zeros(5), None, mask)
    bwd = torch.ops.ads_bench.trajectory_balance_backward
    log_w = torch.zeros(4)
    with pytest.raises(RuntimeError, match="grad_loss must be a 0-dim tensor"):
        bwd(torch.zeros(1), log_w, *args[:5], log_w, None, mask)
    with pytest.raises(RuntimeError, match="grad_log_w has shape"):
        bwd(torch.zeros(()), torch.zeros(3), *args[:5], log_w, None, mask)


# --- The reference's contract in the corners: double backward, long trajectories, exp's overflow -------


def _objective_grads(ins, impl, step_mask, seed, create_graph):
    """Gradients of a random projection of both outputs, and of a random projection of those
    gradients (double backward) when create_graph."""
    gen = torch.Generator().manual_seed(seed)
    leaves = list(ins.values())
    loss, log_w = _call(ins, impl, step_mask)
    w = torch.randn(log_w.shape, generator=gen, dtype=log_w.dtype)
    first = torch.autograd.grad(0.7 * loss + (w * log_w).sum(), leaves, create_graph=create_graph)
    if not create_graph:
        return first, None
    v = [torch.randn(g.shape, generator=gen, dtype=g.dtype) for g in first]
    second = torch.autograd.grad(sum((g * u).sum() for g, u in zip(first, v, strict=True)), leaves)
    return [g.detach() for g in first], second


@pytest.mark.parametrize("mask", ["none", "partial"])
@pytest.mark.parametrize("mode", ["tb", "vargrad"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_double_backward_matches_reference(dtype, mode, mask, gen):
    ins = _leaves(_inputs((6, 5, 3), dtype, "cpu", gen, tb=mode == "tb"))
    step_mask = _mask(5, "cpu", mask)
    first, second = _objective_grads(ins, "fused", step_mask, 7, True)
    rfirst, rsecond = _objective_grads(ins, "reference", step_mask, 7, True)
    tol = {"rtol": 1e-4, "atol": 1e-3} if dtype == torch.float32 else TOL[dtype]
    for name, a, b in zip(ins, first, rfirst, strict=True):
        torch.testing.assert_close(a, b, msg=name, **tol)
    for name, a, b in zip(ins, second, rsecond, strict=True):
        torch.testing.assert_close(a, b, msg=name, **tol)
    assert all(s.abs().sum() > 0 for s in second)  # it used to be all zeros


@pytest.mark.parametrize("mode", ["tb", "vargrad"])
def test_gradgradcheck_float64(mode, gen):
    ins = _leaves(_inputs((3, 3, 2), torch.float64, "cpu", gen, tb=mode == "tb"))
    mask = torch.tensor([False, True, True])
    names = list(ins)

    def fn(*args):
        return _call(dict(zip(names, args, strict=True)), "fused", mask)

    assert torch.autograd.gradgradcheck(fn, tuple(ins.values()))


@pytest.mark.parametrize("mask", ["none", "partial"])
@pytest.mark.parametrize("mode", ["tb", "vargrad"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_backward_op_matches_its_reference(dtype, mode, mask, gen):
    from ads_bench.ops import reference

    ins = _inputs((7, 4, 3), dtype, "cpu", gen, tb=mode == "tb")
    step_mask = _mask(4, "cpu", mask)
    full_mask = torch.ones(4, dtype=torch.bool) if step_mask is None else step_mask
    args = [ins[k] for k in NAMES[:6]]
    _, log_w = torch.ops.ads_bench.trajectory_balance(*args, ins.get("log_z"), full_mask)
    up = (torch.randn((), generator=gen, dtype=dtype), torch.randn(7, generator=gen, dtype=dtype))
    bwd_args = (*up, *args[:5], log_w, ins.get("log_z"))
    fused = torch.ops.ads_bench.trajectory_balance_backward(*bwd_args, full_mask)
    ref = reference.trajectory_balance_backward(*bwd_args, step_mask)
    for name, a, b in zip(NAMES, fused, ref, strict=True):
        torch.testing.assert_close(a, b, msg=name, **TOL[dtype])


def test_compiled_backward_runs_the_fused_op(gen):
    # The graph-recording fallback to the reference formulas must not leak into compiled backwards.
    from functorch.compile import make_boxed_func
    from torch._dynamo.backends.common import aot_autograd

    graphs = []

    def keep(gm, _example_inputs):
        graphs.append(str(gm.graph))
        return make_boxed_func(gm.forward)

    ins = _leaves(_inputs((4, 3, 2), torch.float32, "cpu", gen))
    backend = aot_autograd(fw_compiler=lambda gm, _: make_boxed_func(gm.forward), bw_compiler=keep)
    names = list(ins)

    def objective(*args):
        loss, log_w = _call(dict(zip(names, args, strict=True)), "fused", None)
        return loss - log_w.mean()

    compiled = torch.compile(objective, fullgraph=True, backend=backend)
    torch.autograd.grad(compiled(*ins.values()), list(ins.values()))
    assert len(graphs) == 1 and "ads_bench.trajectory_balance_backward" in graphs[0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_long_trajectory_accuracy_against_float64(dtype, gen):
    # One trajectory of T * D = 8e6 terms. A narrow generation kernel (log-variance -1) makes every
    # -log p_fwd term positive on average, so log w grows to ~1.2e7 and a running float sum drifts by
    # hundreds of nats; the fused value must be at least as accurate as the reference's (whose float32
    # error here is 3e-7 relative): the float64 truth on the same inputs, to 1e-7 relative (0.5 ulp of
    # the result is 3e-8 relative in float32).
    b, t, d = 1, 1000, 8000
    ins = _inputs((b, t, d), torch.float32, "cpu", gen)
    ins["fwd_log_var"] = ins["fwd_log_var"] - 1.0
    ins = {k: v.to(dtype) for k, v in ins.items()}
    exact_loss, exact = _call({k: v.double() for k, v in ins.items()}, "reference", None)
    _, ref = _call(ins, "reference", None)
    loss, got = _call(ins, "fused", None)
    rel = ((got.double() - exact).abs() / exact.abs()).max().item()
    ref_rel = ((ref.double() - exact).abs() / exact.abs()).max().item()
    assert exact.abs().min() > 1e7
    assert rel < (1e-7 if dtype == torch.float32 else 1e-13), (rel, ref_rel)
    loss_rel = ((loss.double() - exact_loss).abs() / exact_loss).item()
    assert loss_rel < (3e-7 if dtype == torch.float32 else 1e-12), loss_rel


def _extreme_inputs(dtype):
    """(B, T, D) = (7, 3, 2) inputs, step 0 masked, whose trajectories hit exp(-log_var) overflow and
    underflow. log w is: +inf (float32; a finite 5.9e39 in float64), -inf, NaN (inf - inf), finite
    (a -1295 on the masked step is ignored), NaN from inf * 0 (float32; finite in float64), +inf
    from the issue's x - mean = 1e-20 at log_var = -100 (float32; finite in float64), ordinary."""
    gen = torch.Generator().manual_seed(3)
    ins = _inputs((7, 3, 2), torch.float64, "cpu", gen)
    ins["fwd_log_var"][0, 1, 0] = -100.0  # generation density inf: log w = +inf
    ins["bwd_log_var"][1, 2, 1] = -1295.0  # destruction density inf (in float64 too): -inf
    ins["fwd_log_var"][2, 1, 1] = -746.0  # both (exp(746) overflows float64 too): NaN
    ins["bwd_log_var"][2, 1, 0] = -1295.0
    ins["bwd_log_var"][3, 0, :] = -1295.0  # on the masked step 0: ignored
    ins["states"][4, 2, 0] = ins["fwd_mean"][4, 1, 0] + 1e20  # (1e20)^2 overflows float32 ...
    ins["fwd_log_var"][4, 1, 0] = 110.0  # ... and exp(-110) underflows to 0: inf * 0
    ins["states"][5, 3, 1] = 1e-20
    ins["fwd_mean"][5, 2, 1] = 0.0
    ins["fwd_log_var"][5, 2, 1] = -100.0
    return {k: v.to(dtype) for k, v in ins.items()}


@pytest.mark.parametrize("mode", ["tb", "vargrad"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_extreme_log_var_matches_reference_exactly(dtype, mode):
    ins = _extreme_inputs(dtype)
    if mode == "vargrad":
        del ins["log_z"]
    mask = torch.tensor([False, True, True])
    up = (torch.tensor(0.5, dtype=dtype), torch.linspace(-1.0, 1.0, 7, dtype=dtype))
    fused = _run(ins, "fused", mask, up)
    ref = _run(ins, "reference", mask, up)
    expected = {torch.float32: ["+inf", "-inf", "nan", "fin", "nan", "+inf", "fin"],
                torch.float64: ["fin", "-inf", "nan", "fin", "fin", "fin", "fin"]}  # fmt: skip

    def kind(v):
        return "nan" if v != v else "+inf" if v == math.inf else "-inf" if v == -math.inf else "fin"

    assert [kind(v) for v in ref[1].tolist()] == expected[dtype]
    torch.testing.assert_close(fused[0], ref[0], equal_nan=True, **TOL[dtype])
    torch.testing.assert_close(fused[1], ref[1], equal_nan=True, **TOL[dtype])
    for name in fused[2]:
        torch.testing.assert_close(fused[2][name], ref[2][name], equal_nan=True, msg=name,
                                   **TOL[dtype])  # fmt: skip
    if mode == "vargrad":  # a non-finite log w makes the baseline NaN, and every coefficient
        assert fused[2]["log_reward"].isnan().all()
