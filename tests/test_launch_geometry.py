"""The CUDA launch geometry, simulated on the CPU: every item is visited exactly once.

The kernels' (block, thread) -> item mapping lives in csrc/include/ads_bench/launch.h as host/device
functions, and so do the launches the host code makes (the *_plan functions); the kernels loop through
its for_each_* functions. ads_bench::_simulate_launch runs, for one op call's (B, T, D), every
(block, thread) of a kernel's launch through those same functions on the CPU, with item e worth e + 1,
and returns each item's visit count, each block's partial sum and what the kernel would write; the
first tests below compare them with torch reductions of the same values, for every kernel of both ops
over shapes that include an empty batch, D = 1, T = 1 and a batch beyond a grid dimension's limit
(65535 trajectories, one block each; also beyond what the capped 1-D grids cover in one pass).
``python tests/test_launch_geometry.py`` prints the simulated counts of every case.

ads_bench::_launch_visits runs the bare grid-stride mapping for every simulated thread of the launch
the host code makes. Item counts cover an empty launch, one item, block boundaries, the backward kernels' rows * D
with D = 1, and a count beyond what the capped grid covers in one pass (so the stride loop must wrap).
ads_bench::_segment_launch_visits does the same for the segmented (block per trajectory) mapping of the
trajectory_balance kernels.
"""

from __future__ import annotations

import pytest
import torch

import ads_bench.ops  # noqa: F401  (loads the extension)

THREADS = 256  # kThreadsPerBlock
MAX_BLOCKS = 65535  # kMaxBlocks

# ------------------------------------------------------------------ every kernel of both ops, simulated

# The kernels of each op, by the names of _simulate_launch (tb_batch: the single-block batch reduction
# of the loss kernel and of the coefficient kernel, which share one launch and loop).
OP_KERNELS = {
    "gaussian_logprob": ("gaussian_logprob_fwd", "gaussian_logprob_bwd"),
    "trajectory_balance": ("tb_log_w", "tb_batch", "tb_state_grad"),
}
# (B, T, D). The last is beyond every grid limit at once: 65537 trajectories (> 65535 blocks of the
# per-trajectory launch), 65537 * 257 rows and 65537 * 258 states (> 65535 * 256 threads of the 1-D
# grid-stride launches), so every capped loop wraps.
BIG = (MAX_BLOCKS + 2, 257, 1)
OP_SHAPES = [(0, 10, 2), (300, 10, 1), (300, 1, 2), (300, 10, 2), (7, 100, 32), (2, 0, 3), BIG]


def _simulate(kernel: str, batch: int, steps: int, dim: int):
    if not hasattr(torch.ops.ads_bench, "_simulate_launch"):
        pytest.fail("ads_bench._C predates _simulate_launch: rebuild it (bash .ci/install)")
    return torch.ops.ads_bench._simulate_launch(kernel, batch, steps, dim)


def _reference(kernel: str, batch: int, steps: int, dim: int):
    """(number of items, what the kernel writes) from torch reductions of values 1, 2, ... n."""
    params = batch * steps * dim
    states = batch * (steps + 1) * dim
    n = {"tb_batch": batch, "tb_state_grad": states + 2 * params}.get(kernel, params)
    values = torch.arange(1, n + 1, dtype=torch.float64)
    if kernel == "gaussian_logprob_fwd":
        out = values.view(batch * steps, dim).sum(-1)
    elif kernel in ("gaussian_logprob_bwd", "tb_batch"):
        out = values
    elif kernel == "tb_log_w":
        out = values.view(batch, steps * dim).sum(-1)
    else:  # tb_state_grad: a state's own value, plus its generation (s >= 1) and destruction (s < T)
        s, f, b = values.split([states, params, params])
        out = s.view(batch, steps + 1, dim).clone()
        out[:, 1:] += f.view(batch, steps, dim)
        out[:, :-1] += b.view(batch, steps, dim)
        out = out.flatten()
    return n, out


def simulated_counts(kernel: str, batch: int, steps: int, dim: int) -> dict:
    """Run one simulation and check it; returns its counts (blocks, threads, items)."""
    visits, block_sums, out, blocks, threads = _simulate(kernel, batch, steps, dim)
    n, expected_out = _reference(kernel, batch, steps, dim)
    where = f"{kernel} at (B, T, D) = {(batch, steps, dim)}"
    assert visits.shape == (n,), where
    if n:
        assert int(visits.min()) == 1 and int(visits.max()) == 1, (
            f"{where}: an item not visited once"
        )
    # Integer values below 2**53: every partial sum is exact, so equality is exact too. Each item is
    # in exactly one block's partial sum and (once) in exactly one output.
    total = n * (n + 1) // 2
    assert float(block_sums.sum()) == total == float(expected_out.sum()), where
    assert block_sums.shape == (blocks,), where
    assert torch.equal(out, expected_out), f"{where}: outputs differ from the reference"
    assert 0 <= blocks <= MAX_BLOCKS and 1 <= threads <= THREADS, where
    return {"blocks": blocks, "threads": threads, "simulated threads": blocks * threads, "items": n}


@pytest.mark.parametrize("shape", OP_SHAPES, ids=lambda s: "B{}-T{}-D{}".format(*s))
@pytest.mark.parametrize("op", list(OP_KERNELS))
def test_every_kernel_visits_each_item_once_and_block_sums_add_up(op, shape):
    batch, steps, dim = shape
    for kernel in OP_KERNELS[op]:
        counts = simulated_counts(kernel, batch, steps, dim)
        if kernel == "tb_batch":  # one block, always launched (it writes the loss / grad_log_z)
            assert counts["blocks"] == 1
        elif kernel == "tb_log_w":  # a block per trajectory, also when T * D = 0 (log_w = log R)
            assert counts["blocks"] == min(batch, MAX_BLOCKS)
        elif counts["items"] == 0:
            assert counts["blocks"] == 0, f"{kernel}: a launch over nothing"
        if shape == BIG and kernel != "tb_batch":
            assert counts["blocks"] == MAX_BLOCKS, f"{kernel}: the grid is not capped"


def test_simulate_launch_rejects_bad_arguments():
    with pytest.raises(RuntimeError, match="unknown kernel"):
        _simulate("nope", 1, 1, 1)
    with pytest.raises(RuntimeError, match="must be >= 0"):
        _simulate("tb_log_w", -1, 1, 1)


# ---------------------------------------------------------------- the bare mappings, over item counts
ITEMS = [0, 1, 255, 256, 257, 300 * 10, 300 * 10 * 1, 4096 * 100, MAX_BLOCKS * THREADS + 1]


@pytest.mark.parametrize("items", ITEMS)
def test_each_item_visited_exactly_once(items):
    counts, blocks = torch.ops.ads_bench._launch_visits(items, THREADS)
    assert counts.shape == (items,)
    if items:
        assert int(counts.min()) == 1 and int(counts.max()) == 1
    assert (blocks > 0) == (items > 0)
    assert blocks <= MAX_BLOCKS


def test_grid_is_capped_and_wraps():
    counts, blocks = torch.ops.ads_bench._launch_visits(MAX_BLOCKS * THREADS * 2 + 7, THREADS)
    assert blocks == MAX_BLOCKS
    assert bool((counts == 1).all())


def test_odd_block_sizes():
    for threads in (1, 32, 1000):
        counts, _ = torch.ops.ads_bench._launch_visits(12345, threads)
        assert bool((counts == 1).all())


def test_bad_arguments_are_rejected():
    with pytest.raises(RuntimeError, match="items must be >= 0"):
        torch.ops.ads_bench._launch_visits(-1, THREADS)
    with pytest.raises(RuntimeError, match="threads must be in"):
        torch.ops.ads_bench._launch_visits(10, 0)


# The segmented mapping of the trajectory_balance kernels: one block per segment (trajectory), threads
# striding over the segment's T * D items. (segments, items): an empty batch, empty segments, a single
# warp-sized block, block-size boundaries, the benchmark shapes' T * D, and more segments than the
# capped grid (the block loop must wrap).
SEGMENTS = [(0, 5), (3, 0), (1, 1), (7, 20), (5, 31), (5, 32), (5, 33), (4, 255), (3, 257),
            (2, 3200), (300, 20), (MAX_BLOCKS + 1, 2), (2 * MAX_BLOCKS + 3, 1)]  # fmt: skip


@pytest.mark.parametrize("segments,items", SEGMENTS)
def test_each_segment_item_visited_exactly_once(segments, items):
    counts, blocks, threads = torch.ops.ads_bench._segment_launch_visits(segments, items)
    assert counts.shape == (segments, items)
    if segments * items:
        assert int(counts.min()) == 1 and int(counts.max()) == 1
    assert blocks == min(segments, MAX_BLOCKS)
    # The block size: a power of two in [32, 256], the smallest that covers the segment when one does.
    assert threads in (32, 64, 128, 256)
    assert threads >= min(items, THREADS) and (threads == 32 or threads // 2 < items)


def test_single_block_batch_reduction():
    # The loss and coefficient kernels: one segment (the batch) reduced by one block of 256 threads.
    for batch in (0, 1, 255, 256, 257, 65536, 100_003):
        counts, blocks, threads = torch.ops.ads_bench._segment_launch_visits(1, batch, THREADS)
        assert blocks == 1 and threads == THREADS
        assert batch == 0 or bool((counts == 1).all())


def test_bad_segment_arguments_are_rejected():
    with pytest.raises(RuntimeError, match="segments and items must be >= 0"):
        torch.ops.ads_bench._segment_launch_visits(-1, 3)
    with pytest.raises(RuntimeError, match="threads must be in"):
        torch.ops.ads_bench._segment_launch_visits(3, 3, 2000)


if __name__ == "__main__":  # the simulated counts of every case (the README's launch-geometry note)
    print("| op | kernel | B×T×D | blocks | threads/block | simulated threads | items |")
    print("|---|---|---|---|---|---|---|")
    for op, kernels in OP_KERNELS.items():
        for shape in OP_SHAPES:
            for kernel in kernels:
                c = simulated_counts(kernel, *shape)
                print(f"| {op} | {kernel} | {'×'.join(map(str, shape))} | {c['blocks']} | "
                      f"{c['threads']} | {c['simulated threads']} | {c['items']} |")  # fmt: skip
