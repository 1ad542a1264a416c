"""The CUDA launch geometry, simulated on the CPU: every item is visited exactly once.

The kernels' (block, thread) -> item mapping lives in csrc/include/ads_bench/launch.h as host/device
functions; ads_bench::_launch_visits runs it for every simulated thread of the launch the host code
makes. Item counts cover an empty launch, one item, block boundaries, the backward kernels' rows * D
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
