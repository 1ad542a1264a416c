"""pytest-benchmark: gaussian_logprob forward + backward, fused vs reference (vs compiled reference).

Run ``python -m pytest tests/benchmarks --benchmark-enable --benchmark-json=results/bench.json`` and
turn the JSON into a table of speed-ups with ``python reproduce/kernel_speedups.py results/bench.json``.
In the ordinary test run benchmarks are disabled: each case runs once, as a smoke test.
Groups are (op, B, T, D); within a group compare impls as ratios, never lone absolute times.
"""

from __future__ import annotations

import pytest
import torch

from ads_bench.ops import gaussian_logprob, reference

SHAPES = [(300, 10, 2), (300, 100, 32), (4096, 100, 32), (65536, 20, 2)]
IMPLS = ["fused", "reference", "compiled-reference"]


def _forward_backward(impl):
    if impl == "compiled-reference":
        fn = torch.compile(reference.gaussian_logprob, dynamic=False)
    else:

        def fn(x, mean, log_var):
            return gaussian_logprob(x, mean, log_var, impl=impl)

    def step(x, mean, log_var):
        out = fn(x, mean, log_var)
        out.sum().backward()
        return out

    return step


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "B{}-T{}-D{}".format(*s))
def test_gaussian_logprob_fwd_bwd(run_timed, benchmark, device, shape, impl):
    if impl == "compiled-reference" and benchmark.disabled:
        pytest.skip("torch.compile warm-up is only worth paying when benchmarks are enabled")
    benchmark.group = "gaussian_logprob B={} T={} D={} {}".format(*shape, device.type)
    benchmark.extra_info.update(
        op="gaussian_logprob", shape=list(shape), impl=impl, device=device.type
    )
    gen = torch.Generator().manual_seed(0)
    ins = [torch.randn(shape, generator=gen).to(device).requires_grad_(True) for _ in range(3)]
    step = _forward_backward(impl)
    step(*ins)  # warm-up (and compilation)

    def call():
        for t in ins:
            t.grad = None
        return step(*ins)

    out = run_timed(call, device)
    assert out.shape == shape[:2] and torch.isfinite(out).all()
