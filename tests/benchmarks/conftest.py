"""Benchmark helpers: timed calls that synchronise CUDA inside the timed region."""

from __future__ import annotations

import pytest
import torch


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@pytest.fixture
def run_timed(benchmark):
    """``run_timed(fn, device)``: benchmark ``fn`` with a device synchronisation inside each call."""

    def _run(fn, device):
        def timed():
            out = fn()
            synchronize(device)
            return out

        return benchmark(timed)

    return _run
