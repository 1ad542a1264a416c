"""pytest-benchmark: gaussian_logprob forward + backward, fused vs reference (vs compiled reference).

Run ``python -m pytest tests/benchmarks --benchmark-enable --benchmark-json=results/bench.json`` and
turn the JSON into a table of speed-ups with ``python reproduce/kernel_speedups.py results/bench.json``.
In the ordinary test run benchmarks are disabled: each case runs once, as a smoke test.
Groups are (op, B, T, D); within a group compare impls as ratios, never lone absolute times.
The cases (shapes, inputs, the timed call) are those of :mod:`ads_bench.ops.benchmark_cases`, which
``python -m ads_bench.gpu_check`` times too.
"""

from __future__ import annotations

import pytest
import torch

from ads_bench.ops.benchmark_cases import IMPLS, SHAPES, fwd_bwd_call

OP = "gaussian_logprob"


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "B{}-T{}-D{}".format(*s))
def test_gaussian_logprob_fwd_bwd(run_timed, benchmark, device, shape, impl):
    if impl == "compiled-reference" and benchmark.disabled:
        pytest.skip("torch.compile warm-up is only worth paying when benchmarks are enabled")
    benchmark.group = "gaussian_logprob B={} T={} D={} {}".format(*shape, device.type)
    benchmark.extra_info.update(op=OP, shape=list(shape), impl=impl, device=device.type)
    call = fwd_bwd_call(OP, impl, shape, device)
    call()  # warm-up (and compilation)
    out = run_timed(call, device)
    assert out.shape == shape[:2] and torch.isfinite(out).all()
