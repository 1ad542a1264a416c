"""ads_bench.ops.gaussian_logprob: fused kernel against its reference, closed forms and errors."""

from __future__ import annotations

import math

import pytest
import torch

from ads_bench.ops import build_info, gaussian_logprob, reference

SHAPES = [(300, 10, 2), (7, 3, 1), (0, 5, 3), (13, 33), (5,), (4, 0), (2, 3, 4, 5)]
TOL = {torch.float32: {"rtol": 1e-5, "atol": 1e-4}, torch.float64: {"rtol": 1e-12, "atol": 1e-10}}


def _inputs(shape, dtype, device, gen, requires_grad=False):
    x, mean, log_var = (torch.randn(shape, generator=gen, dtype=dtype) for _ in range(3))
    return [t.to(device).requires_grad_(requires_grad) for t in (x, mean, log_var)]


def test_extension_is_built():
    info = build_info()
    assert info["extension"], info["error"]
    assert info["cpu"]


def test_closed_form_values():
    # Standard normal at 0 in D dims: -D/2 log 2pi. Unit variance, distance 1: -1/2 - 1/2 log 2pi.
    for impl in ("fused", "reference"):
        zeros = torch.zeros(2, 3, dtype=torch.float64)
        out = gaussian_logprob(zeros, zeros, zeros, impl=impl)
        torch.testing.assert_close(
            out, torch.full((2,), -1.5 * math.log(2 * math.pi), dtype=torch.float64)
        )
        x = torch.tensor([[1.0]], dtype=torch.float64)
        lv = torch.tensor([[math.log(4.0)]], dtype=torch.float64)
        expected = -0.5 * (1.0 / 4.0 + math.log(4.0) + math.log(2 * math.pi))
        assert gaussian_logprob(x, torch.zeros_like(x), lv, impl=impl).item() == pytest.approx(
            expected, rel=1e-14
        )


def test_matches_torch_distributions(gen):
    x, mean, log_var = _inputs((50, 4), torch.float64, "cpu", gen)
    dist = torch.distributions.Normal(mean, torch.exp(0.5 * log_var))
    torch.testing.assert_close(
        gaussian_logprob(x, mean, log_var, impl="fused"), dist.log_prob(x).sum(-1)
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_fused_matches_reference_values_and_grads(shape, dtype, device, gen):
    fused_in = _inputs(shape, dtype, device, gen, requires_grad=True)
    ref_in = [t.detach().clone().requires_grad_(True) for t in fused_in]
    out = gaussian_logprob(*fused_in, impl="fused")
    ref = reference.gaussian_logprob(*ref_in)
    assert out.shape == shape[:-1] and out.dtype == dtype and out.device == fused_in[0].device
    torch.testing.assert_close(out, ref, **TOL[dtype])
    upstream = torch.randn(shape[:-1], generator=gen, dtype=dtype).to(device)
    grads = torch.autograd.grad(out, fused_in, upstream)
    ref_grads = torch.autograd.grad(ref, ref_in, upstream)
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, **TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_non_contiguous_inputs(dtype, device, gen):
    base = [t.detach() for t in _inputs((6, 8, 5), dtype, device, gen)]
    # A transpose, a strided slice and an expanded (stride-0) tensor, each a differentiable view.
    leaves = [
        base[0].requires_grad_(True),
        base[1].requires_grad_(True),
        base[2][:1].requires_grad_(True),
    ]
    x = leaves[0].transpose(0, 1)
    mean = leaves[1][:, :, ::2].transpose(0, 1)
    log_var = leaves[2].expand(6, 8, 5)[:, :, ::2].transpose(0, 1)
    assert not (x.is_contiguous() or mean.is_contiguous() or log_var.is_contiguous())
    x = x[..., ::2]
    out = gaussian_logprob(x, mean, log_var, impl="fused")
    ref = reference.gaussian_logprob(x, mean, log_var)
    torch.testing.assert_close(out, ref, **TOL[dtype])
    upstream = torch.randn(out.shape, generator=gen, dtype=dtype).to(device)
    grads = torch.autograd.grad(out, leaves, upstream)
    ref_grads = torch.autograd.grad(ref, leaves, upstream)
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, **TOL[dtype])


def test_gradcheck_float64(gen):
    ins = _inputs((3, 4, 2), torch.float64, "cpu", gen, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *a: gaussian_logprob(*a, impl="fused"), ins)


def test_opcheck(gen):
    for shape in [(5, 3, 2), (0, 2), (4, 1)]:
        ins = _inputs(shape, torch.float32, "cpu", gen, requires_grad=True)
        torch.library.opcheck(torch.ops.ads_bench.gaussian_logprob.default, ins)
        grad = torch.randn(shape[:-1], generator=gen)
        torch.library.opcheck(
            torch.ops.ads_bench.gaussian_logprob_backward.default,
            (grad, *[t.detach() for t in ins]),
        )


def test_torch_compile_fullgraph(gen):
    ins = _inputs((8, 5, 3), torch.float32, "cpu", gen, requires_grad=True)

    def loss(x, mean, log_var):
        return gaussian_logprob(x, mean, log_var, impl="fused").square().mean()

    compiled = torch.compile(loss, fullgraph=True, backend="aot_eager")
    g_eager = torch.autograd.grad(loss(*ins), ins)
    g_comp = torch.autograd.grad(compiled(*ins), ins)
    for a, b in zip(g_eager, g_comp, strict=True):
        torch.testing.assert_close(a, b)


def test_auto_uses_fused_and_falls_back_for_other_dtypes(gen, monkeypatch):
    calls = []
    real = torch.ops.ads_bench.gaussian_logprob

    class Spy:
        def __call__(self, *a):
            calls.append(a[0].dtype)
            return real(*a)

    import ads_bench.ops.gaussian as mod

    monkeypatch.setattr(mod.torch.ops.ads_bench, "gaussian_logprob", Spy(), raising=False)
    x = torch.randn(4, 2, generator=gen)
    gaussian_logprob(x, x, x)
    assert calls == [torch.float32]
    half = x.to(torch.bfloat16)
    out = gaussian_logprob(half, half, half)  # no fused bf16 kernel: the reference runs
    assert calls == [torch.float32] and out.dtype == torch.bfloat16
    with pytest.raises(RuntimeError, match="float32 and float64"):
        gaussian_logprob(half, half, half, impl="fused")


@pytest.mark.parametrize("impl", ["auto", "fused", "reference"])
def test_clear_errors(impl):
    x = torch.zeros(3, 2)
    with pytest.raises(ValueError, match=r"mean has shape \(3, 3\) but x has shape \(3, 2\)"):
        gaussian_logprob(x, torch.zeros(3, 3), x, impl=impl)
    with pytest.raises(
        TypeError, match=r"log_var has dtype torch\.float64 but x has dtype torch\.float32"
    ):
        gaussian_logprob(x, x, x.double(), impl=impl)
    with pytest.raises(TypeError, match="floating-point"):
        gaussian_logprob(x.long(), x.long(), x.long(), impl=impl)
    with pytest.raises(TypeError, match=r"must be a torch\.Tensor"):
        gaussian_logprob(x, [0.0, 0.0], x, impl=impl)
    with pytest.raises(ValueError, match="scalar"):
        gaussian_logprob(torch.tensor(0.0), torch.tensor(0.0), torch.tensor(0.0), impl=impl)
    with pytest.raises(ValueError, match="impl must be one of"):
        gaussian_logprob(x, x, x, impl="fast")
    if impl != "reference":
        with pytest.raises(ValueError, match="is on meta but x is on cpu"):
            gaussian_logprob(x, x.to("meta"), x, impl=impl)


def test_cpp_checks_reject_bad_calls_directly():
    # The C++ kernels check too, for callers that use torch.ops directly.
    x = torch.zeros(3, 2)
    with pytest.raises(RuntimeError, match="mean has shape"):
        torch.ops.ads_bench.gaussian_logprob(x, torch.zeros(2, 2), x)
    with pytest.raises(RuntimeError, match="float32 and float64"):
        torch.ops.ads_bench.gaussian_logprob(x.half(), x.half(), x.half())
    with pytest.raises(RuntimeError, match="grad has shape"):
        torch.ops.ads_bench.gaussian_logprob_backward(torch.zeros(2), x, x, x)


def test_float32_exp_accuracy_over_the_whole_range():
    # The fused float32 kernel uses an inlined polynomial exp (csrc/include/ads_bench/common.h);
    # compare with float64 over log-variances spanning exp's finite float32 range.
    log_var = torch.linspace(-87.0, 88.0, 100_003)[:, None]  # float32 inputs ...
    x = torch.full_like(log_var, 1.5)
    mean = torch.full_like(log_var, 0.25)
    # ... and exact math on them:
    exact = reference.gaussian_logprob(x.double(), mean.double(), log_var.double())
    got = gaussian_logprob(x, mean, log_var, impl="fused").double()
    rel = ((got - exact).abs() / exact.abs().clamp_min(1.0)).max().item()
    assert rel < 1e-6


def test_nan_and_inf_propagate_never_silently_vanish():
    x = torch.tensor([[float("nan"), 0.0], [0.0, 0.0], [float("inf"), 0.0]])
    zeros = torch.zeros_like(x)
    for impl in ("fused", "reference"):
        out = gaussian_logprob(x, zeros, zeros, impl=impl)
        assert out[0].isnan() and out[1].isfinite() and out[2] == float("-inf")
        nan_var = torch.tensor([[0.0, float("nan")]])
        assert gaussian_logprob(nan_var, nan_var * 0, nan_var, impl=impl).isnan().all()
