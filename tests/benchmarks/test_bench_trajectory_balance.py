"""pytest-benchmark: trajectory_balance forward + backward, fused vs reference (vs compiled reference).

Run ``python -m pytest tests/benchmarks --benchmark-enable --benchmark-json=results/bench.json`` and
turn the JSON into a table of speed-ups with ``python reproduce/kernel_speedups.py results/bench.json``.
In the ordinary test run benchmarks are disabled: each case runs once, as a smoke test.
Groups are (op, B, T, D); within a group compare impls as ratios, never lone absolute times.
Each call is one TB training step's loss evaluation from the kernels' parameters: the loss, with
gradients for states, all four parameter tensors, log_reward and log_z (step 0 masked, as for a
pinned destruction step).
"""

from __future__ import annotations

import pytest
import torch

from ads_bench.ops import reference, trajectory_balance

SHAPES = [(300, 10, 2), (300, 100, 32), (4096, 100, 32), (65536, 20, 2)]
IMPLS = ["fused", "reference", "compiled-reference"]


def _forward_backward(impl):
    if impl == "compiled-reference":
        fn = torch.compile(reference.trajectory_balance, dynamic=False)
    else:

        def fn(*args):
            *tensors, log_z, step_mask = args
            return trajectory_balance(*tensors, log_z, step_mask=step_mask, impl=impl)

    def step(*args):
        loss, log_w = fn(*args)
        loss.backward()
        return loss, log_w

    return step


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "B{}-T{}-D{}".format(*s))
def test_trajectory_balance_fwd_bwd(run_timed, benchmark, device, shape, impl):
    if impl == "compiled-reference" and benchmark.disabled:
        pytest.skip("torch.compile warm-up is only worth paying when benchmarks are enabled")
    benchmark.group = "trajectory_balance B={} T={} D={} {}".format(*shape, device.type)
    benchmark.extra_info.update(
        op="trajectory_balance", shape=list(shape), impl=impl, device=device.type
    )
    b, t, d = shape
    gen = torch.Generator().manual_seed(0)
    leaves = [
        torch.randn(b, t + 1, d, generator=gen),  # states
        torch.randn(b, t, d, generator=gen),  # fwd_mean
        0.5 * torch.randn(b, t, d, generator=gen),  # fwd_log_var
        torch.randn(b, t, d, generator=gen),  # bwd_mean
        0.5 * torch.randn(b, t, d, generator=gen),  # bwd_log_var
        torch.randn(b, generator=gen),  # log_reward
        torch.zeros(()),  # log_z
    ]
    leaves = [x.to(device).requires_grad_(True) for x in leaves]
    step_mask = (torch.arange(t) > 0).to(device)
    step = _forward_backward(impl)
    step(*leaves, step_mask)  # warm-up (and compilation)

    def call():
        for x in leaves:
            x.grad = None
        return step(*leaves, step_mask)

    loss, log_w = run_timed(call, device)
    assert log_w.shape == (b,) and torch.isfinite(loss) and torch.isfinite(log_w).all()
