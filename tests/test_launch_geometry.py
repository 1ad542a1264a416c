"""The CUDA launch geometry, simulated on the CPU: every item is visited exactly once.

The kernels' (block, thread) -> item mapping lives in csrc/include/ads_bench/launch.h as host/device
functions; ads_bench::_launch_visits runs it for every simulated thread of the launch the host code
makes. Item counts cover an empty launch, one item, block boundaries, the backward kernels' rows * D
with D = 1, and a count beyond what the capped grid covers in one pass (so the stride loop must wrap).
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
