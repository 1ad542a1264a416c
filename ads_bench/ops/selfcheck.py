"""The fused ops checked against the library's own pure-PyTorch reference on one device.

What a GPU user runs through ``python -m ads_bench.gpu_check`` (README "Kernels"), with library code
only (no test suite needed): on ``device``, for float32 and float64,

- ``gaussian_logprob`` (formulas G1/G2 of ``csrc/include/ads_bench/gaussian.h``) and
  ``trajectory_balance`` (TB1-TB4 of ``trajectory_balance.h``; TB and VarGrad, with and without
  masked steps, upstream gradients through the loss, log_w or both), fused vs
  :mod:`ads_bench.ops.reference`: values and the gradients of every input, on shapes with an empty
  batch, ``T = 0`` or ``D = 1``, rows longer than the CPU kernel's chunk, and on non-contiguous
  inputs;
- masked steps ignore non-finite destruction parameters, as the reference does;
- ``torch.library.opcheck`` of the four ``torch.ops.ads_bench`` ops (schema, autograd registration,
  fake tensors, AOT dispatch) on the device.

Tolerances are those of the test suite (``tests/test_ops_*.py``), which checks much more on the CPU.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable

import torch

from ads_bench.ops import reference
from ads_bench.ops.balance import trajectory_balance
from ads_bench.ops.gaussian import gaussian_logprob

__all__ = ["cases", "check_ops"]

DTYPES = (torch.float32, torch.float64)
GAUSSIAN_TOL = {
    torch.float32: {"rtol": 1e-5, "atol": 1e-4},
    torch.float64: {"rtol": 1e-12, "atol": 1e-10},
}
TB_TOL = {
    torch.float32: {"rtol": 1e-4, "atol": 1e-4},
    torch.float64: {"rtol": 1e-11, "atol": 1e-10},
}
GAUSSIAN_SHAPES = (
    (300, 10, 2),
    (7, 3, 1),
    (0, 5, 3),
    (13, 33),
    (5,),
    (4, 0),
    (2, 3, 4, 5),
    (2, 1500),
)
TB_SHAPES = ((5, 4, 3), (0, 3, 2), (6, 1, 3), (7, 5, 1), (33, 10, 2), (3, 40, 20), (4, 0, 2))
TB_NAMES = ("states", "fwd_mean", "fwd_log_var", "bwd_mean", "bwd_log_var", "log_reward", "log_z")


def _close(got, want, tol, what: str, equal_nan: bool = False) -> None:
    torch.testing.assert_close(got, want, equal_nan=equal_nan, msg=lambda m: f"{what}: {m}", **tol)


def _randn(gen, dtype, device, *shape):
    return torch.randn(shape, generator=gen, dtype=dtype).to(device)


# ------------------------------------------------------------------------------- gaussian_logprob


def _gaussian_case(shape, dtype, device, gen, views: bool = False) -> None:
    """Fused vs reference values and gradients; ``views``: strided, transposed, expanded inputs."""
    if views:  # [8, 6, 5] buffers read as [6, 8, 3] views (a stride-0 log_var among them)
        leaves = [_randn(gen, dtype, device, *s).requires_grad_(True) for s in ((8, 6, 5),) * 2]
        leaves.append(_randn(gen, dtype, device, 1, 6, 5).requires_grad_(True))
        x = leaves[0].transpose(0, 1)[..., ::2]
        mean = leaves[1][:, :, ::2].transpose(0, 1)
        log_var = leaves[2].expand(8, 6, 5)[:, :, ::2].transpose(0, 1)
        fused_args = ref_args = (x, mean, log_var)
        fused_leaves = ref_leaves = leaves
    else:
        fused_leaves = [_randn(gen, dtype, device, *shape).requires_grad_(True) for _ in range(3)]
        ref_leaves = [t.detach().clone().requires_grad_(True) for t in fused_leaves]
        fused_args, ref_args = fused_leaves, ref_leaves
    out = gaussian_logprob(*fused_args, impl="fused")
    ref = reference.gaussian_logprob(*ref_args)
    tol = GAUSSIAN_TOL[dtype]
    _close(out, ref, tol, "value")
    upstream = _randn(gen, dtype, device, *out.shape)
    grads = torch.autograd.grad(out, fused_leaves, upstream)
    ref_grads = torch.autograd.grad(ref, ref_leaves, upstream)
    for name, g, r in zip(("x", "mean", "log_var"), grads, ref_grads, strict=True):
        _close(g, r, tol, f"gradient of {name}")


# ----------------------------------------------------------------------------- trajectory_balance


def _tb_inputs(shape, dtype, device, gen, tb: bool) -> dict:
    b, t, d = shape
    ins = {
        "states": _randn(gen, dtype, device, b, t + 1, d),
        "fwd_mean": _randn(gen, dtype, device, b, t, d),
        "fwd_log_var": 0.5 * _randn(gen, dtype, device, b, t, d),
        "bwd_mean": _randn(gen, dtype, device, b, t, d),
        "bwd_log_var": 0.5 * _randn(gen, dtype, device, b, t, d),
        "log_reward": _randn(gen, dtype, device, b),
    }
    if tb:
        ins["log_z"] = _randn(gen, dtype, device)
    return ins


def _tb_run(ins: dict, impl: str, step_mask, grad_loss, grad_log_w):
    """(loss, log_w, {name: gradient}) for upstream gradients through the loss and log_w (None: not
    through that output)."""
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in ins.items()}
    args = [leaves[k] for k in TB_NAMES[:6]]
    loss, log_w = trajectory_balance(*args, leaves.get("log_z"), step_mask=step_mask, impl=impl)
    upstream = [(o, g) for o, g in ((loss, grad_loss), (log_w, grad_log_w)) if g is not None]
    grads = torch.autograd.grad(
        [o for o, _ in upstream],
        list(leaves.values()),
        [g for _, g in upstream],
        allow_unused=True,
        materialize_grads=True,
    )
    return loss.detach(), log_w.detach(), dict(zip(leaves, grads, strict=True))


def _tb_same(got, want, dtype) -> None:
    tol = TB_TOL[dtype]
    _close(got[0], want[0], tol, "loss", equal_nan=True)
    _close(got[1], want[1], tol, "log_w")
    for name in want[2]:
        _close(got[2][name], want[2][name], tol, f"gradient of {name}")


def _tb_case(shape, dtype, device, gen, tb: bool, masked: bool, through: str) -> None:
    """Fused vs reference; ``through``: the upstream gradient flows through "loss", "log_w" or
    "both" outputs."""
    ins = _tb_inputs(shape, dtype, device, gen, tb)
    mask = (torch.arange(shape[1]) % 3 != 0).to(device) if masked else None
    grad_loss, grad_log_w = _randn(gen, dtype, device), _randn(gen, dtype, device, shape[0])
    upstream = (
        grad_loss if through != "log_w" else None,
        grad_log_w if through != "loss" else None,
    )
    fused = _tb_run(ins, "fused", mask, *upstream)
    if fused[0].isnan().item() != (shape[0] == 0):
        raise AssertionError(f"loss is {fused[0].item()}; NaN exactly for an empty batch")
    _tb_same(fused, _tb_run(ins, "reference", mask, *upstream), dtype)


def _tb_masked_non_finite(device, gen) -> None:
    """NaN / inf destruction parameters of masked steps change nothing, for fused and reference."""
    dtype = torch.float64
    ins = _tb_inputs((5, 6, 2), dtype, device, gen, tb=True)
    mask = (torch.arange(6) % 3 != 0).to(device)
    upstream = (
        torch.ones((), dtype=dtype, device=device),
        torch.zeros(5, dtype=dtype, device=device),
    )
    dirty = dict(ins)
    for name, bad in (("bwd_mean", float("nan")), ("bwd_log_var", float("inf"))):
        dirty[name] = ins[name].clone()
        dirty[name][:, ~mask] = bad
    for impl in ("fused", "reference"):
        got = _tb_run(dirty, impl, mask, *upstream)
        _tb_same(got, _tb_run(ins, impl, mask, *upstream), dtype)
        if not all(g.isfinite().all() for g in got[2].values()):
            raise AssertionError(f"{impl}: a non-finite gradient from a masked step")


def _tb_views(dtype, device, gen) -> None:
    """Transposed, strided and expanded inputs: fused vs reference values and gradients."""
    b, t, d = 6, 5, 3
    leaves = {
        "states": _randn(gen, dtype, device, t + 1, b, d),
        "fwd_mean": _randn(gen, dtype, device, b, t, 2 * d),
        "fwd_log_var": _randn(gen, dtype, device, 1, t, d),
        "bwd_mean": _randn(gen, dtype, device, t, b, d),
        "bwd_log_var": _randn(gen, dtype, device, b, t, d),
        "log_reward": _randn(gen, dtype, device, 2 * b),
        "log_z": _randn(gen, dtype, device),
    }
    leaves = {k: v.requires_grad_(True) for k, v in leaves.items()}
    views = [
        leaves["states"].transpose(0, 1),
        leaves["fwd_mean"][..., ::2],
        leaves["fwd_log_var"].expand(b, t, d),
        leaves["bwd_mean"].transpose(0, 1),
        leaves["bwd_log_var"],
        leaves["log_reward"][::2],
    ]
    mask = (torch.arange(t) % 3 != 0).to(device)
    results = []
    for impl in ("fused", "reference"):
        loss, log_w = trajectory_balance(*views, leaves["log_z"], step_mask=mask, impl=impl)
        grads = torch.autograd.grad(loss - log_w.sum(), list(leaves.values()))
        results.append((loss.detach(), log_w.detach(), dict(zip(leaves, grads, strict=True))))
    _tb_same(*results, dtype)


# ---------------------------------------------------------------------------------------- opcheck


def _opcheck(device, gen) -> None:
    ops = torch.ops.ads_bench
    x, mean, log_var = (_randn(gen, torch.float32, device, 5, 3, 2) for _ in range(3))
    torch.library.opcheck(ops.gaussian_logprob.default, (x, mean, log_var))
    grad = _randn(gen, torch.float32, device, 5, 3)
    torch.library.opcheck(ops.gaussian_logprob_backward.default, (grad, x, mean, log_var))
    ins = _tb_inputs((5, 3, 2), torch.float32, device, gen, tb=True)
    mask = (torch.arange(3) > 0).to(device)
    args = (*[ins[k] for k in TB_NAMES], mask)
    torch.library.opcheck(ops.trajectory_balance.default, args)
    _, log_w = ops.trajectory_balance(*args)
    upstream = (_randn(gen, torch.float32, device), _randn(gen, torch.float32, device, 5))
    bwd_args = (*upstream, *args[:5], log_w, ins["log_z"], mask)
    torch.library.opcheck(ops.trajectory_balance_backward.default, bwd_args)


# ------------------------------------------------------------------------------------------ all


def cases(device: torch.device, quick: bool = False) -> dict[str, Callable[[], None]]:
    """Every check on ``device`` by name; each raises AssertionError (or an op's error) on failure.
    ``quick`` keeps the first three gaussian_logprob and two trajectory_balance shapes."""
    gen = torch.Generator().manual_seed(1234)
    g_shapes = GAUSSIAN_SHAPES[:3] if quick else GAUSSIAN_SHAPES
    tb_shapes = TB_SHAPES[:2] if quick else TB_SHAPES
    out: dict[str, Callable[[], None]] = {}
    for dtype in DTYPES:
        dt = str(dtype).removeprefix("torch.")
        for shape in g_shapes:
            out[f"gaussian_logprob {shape} {dt}"] = functools.partial(
                _gaussian_case, shape, dtype, device, gen
            )
        out[f"gaussian_logprob non-contiguous {dt}"] = functools.partial(
            _gaussian_case, None, dtype, device, gen, views=True
        )
        for shape in tb_shapes:
            for mode, masked, through in itertools.product(
                ("tb", "vargrad"), (False, True), ("loss", "log_w", "both")
            ):
                name = f"trajectory_balance {shape} {mode} {'masked' if masked else 'unmasked'}"
                out[f"{name} through {through} {dt}"] = functools.partial(
                    _tb_case, shape, dtype, device, gen, mode == "tb", masked, through
                )
        out[f"trajectory_balance non-contiguous {dt}"] = functools.partial(
            _tb_views, dtype, device, gen
        )
    out["trajectory_balance masked steps ignore non-finite parameters"] = functools.partial(
        _tb_masked_non_finite, device, gen
    )
    out["opcheck"] = functools.partial(_opcheck, device, gen)
    return out


def check_ops(device: torch.device, quick: bool = False) -> dict:
    """Run every check of :func:`cases` on ``device``; a record of what ran, passed and failed."""
    failures: dict[str, str] = {}
    checks = cases(torch.device(device), quick)
    for name, check in checks.items():
        try:
            check()
        except Exception as e:  # recorded; the other checks still run
            failures[name] = f"{type(e).__name__}: {e}"[:2000]
    return {
        "ran": True,
        "device": str(device),
        "checks": len(checks),
        "passed": not failures,
        "failures": failures,
    }
