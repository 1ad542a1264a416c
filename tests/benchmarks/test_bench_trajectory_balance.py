"""pytest-benchmark: trajectory_balance forward + backward, fused vs reference (vs compiled reference).

Run ``python -m pytest tests/benchmarks --benchmark-enable --benchmark-json=results/bench.json`` and
turn the JSON into a table of speed-ups with ``python reproduce/kernel_speedups.py results/bench.json``.
In the ordinary test run benchmarks are disabled: each case runs once, as a smoke test.
Groups are (op, B, T, D); within a group compare impls as ratios, never lone absolute times.
Each call is one TB training step's loss evaluation from the kernels' parameters: the loss, with
gradients for states, all four parameter tensors, log_reward and log_z (step 0 masked, as for a
pinned destruction step). The cases (shapes, inputs, the timed call) are those of
:mod:`ads_bench.ops.benchmark_cases`, which ``python -m ads_bench.gpu_check`` times too.
"""

from __future__ import annotations

import pytest
import torch

from ads_bench.ops.benchmark_cases import IMPLS, SHAPES, fwd_bwd_call

OP = "trajectory_balance"


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "B{}-T{}-D{}".format(*s))
def test_trajectory_balance_fwd_bwd(run_timed, benchmark, device, shape, impl):
    if impl == "compiled-reference" and benchmark.disabled:
        pytest.skip("torch.compile warm-up is only worth paying when benchmarks are enabled")
    benchmark.group = "trajectory_balance B={} T={} D={} {}".format(*shape, device.type)
    benchmark.extra_info.update(op=OP, shape=list(shape), impl=impl, device=device.type)
    b = shape[0]
    call = fwd_bwd_call(OP, impl, shape, device)
    call()  # warm-up (and compilation)
    loss, log_w = run_timed(call, device)
    assert log_w.shape == (b,) and torch.isfinite(loss) and torch.isfinite(log_w).all()
