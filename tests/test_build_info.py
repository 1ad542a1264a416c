"""build_info() reports what was built, consistently with the registered kernels."""

from __future__ import annotations

import torch

from ads_bench.ops import build_info, fused_available


def test_build_info_fields():
    info = build_info()
    assert set(info) == {"extension", "cpu", "cuda", "cuda_version", "torch", "error"}
    assert info["torch"] == torch.__version__
    assert info["extension"] and info["error"] is None
    assert (info["cuda_version"] is None) == (not info["cuda"])


def test_registered_kernels_match_build_info():
    info = build_info()
    has = torch._C._dispatch_has_kernel_for_dispatch_key
    for op in ("ads_bench::gaussian_logprob", "ads_bench::gaussian_logprob_backward"):
        assert has(op, "CPU")
        assert has(op, "CUDA") == info["cuda"]
    assert fused_available(torch.device("cpu"))
    assert fused_available(torch.device("cuda")) == info["cuda"]
    assert not fused_available(torch.device("meta"))


def test_cuda_build_matches_torch():
    info = build_info()
    if info["cuda"]:
        assert torch.version.cuda is not None
        assert torch.version.cuda.startswith(info["cuda_version"].split(".")[0])
