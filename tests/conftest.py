"""Shared fixtures: the devices a test runs on (CUDA only where a GPU exists) and seeded generators."""

from __future__ import annotations

import pytest
import torch

from ads_bench.ops import build_info


def _devices():
    devices = [pytest.param("cpu", id="cpu")]
    reason = None
    if not build_info()["cuda"]:
        reason = "ads_bench._C was built without CUDA kernels"
    elif not torch.cuda.is_available():
        reason = "no CUDA device on this machine"
    devices.append(
        pytest.param(
            "cuda", id="cuda", marks=pytest.mark.skipif(reason is not None, reason=str(reason))
        )
    )
    return devices


@pytest.fixture(params=_devices())
def device(request) -> torch.device:
    """Each device the fused kernels can run on here; a CUDA case is skipped with its reason."""
    return torch.device(request.param)


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


@pytest.fixture
def one_thread():
    """One torch thread for the test (restored after). The machine has 2 cores shared with other
    jobs: two torch threads on a busy machine can be ~100x slower than one (spin-waiting), and a
    sweep's workers use one thread, so in-process runs compared with them do too."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
