"""build_info() reports what was built, consistently with the registered kernels."""

from __future__ import annotations

import os

import torch

from ads_bench.ops import build_info, fused_available
from ads_bench.ops._extension import registered_kernels


def test_build_info_fields():
    info = build_info()
    assert set(info) == {"extension", "cpu", "cuda", "cuda_version", "torch", "error"}
    assert info["torch"] == torch.__version__
    assert info["extension"] and info["error"] is None
    assert (info["cuda_version"] is None) == (not info["cuda"])


def test_registered_kernels_match_build_info():
    # Ops enumerated from the dispatcher (all of csrc/ops.cpp), not from a list kept by hand: every op
    # with a CPU kernel has a CUDA kernel exactly when the extension was built with CUDA.
    info = build_info()
    kernels = registered_kernels()
    backend_ops = {op for op, keys in kernels.items() if "CPU" in keys}
    public = {f"ads_bench::{name}{suffix}" for name in ("gaussian_logprob", "trajectory_balance")
              for suffix in ("", "_backward")}  # fmt: skip
    assert public <= backend_ops
    for op in backend_ops:
        assert ("CUDA" in kernels[op]) == info["cuda"], (op, kernels[op], info)
    # The rest (cuda_version, the launch-geometry test hooks) are composite: no backend kernel.
    assert all(not keys for op, keys in kernels.items() if op not in backend_ops)
    assert fused_available(torch.device("cpu"))
    assert fused_available(torch.device("cuda")) == info["cuda"]
    assert not fused_available(torch.device("meta"))


def test_cuda_build_matches_torch():
    info = build_info()
    if info["cuda"]:
        assert torch.version.cuda is not None
        assert torch.version.cuda.startswith(info["cuda_version"].split(".")[0])
    if os.environ.get("ADS_BENCH_CUDA") == "1":  # a CUDA build was asked for (.ci/cuda_build does)
        assert torch.version.cuda is not None, "ADS_BENCH_CUDA=1 under a CPU-only torch"
        assert info["cuda"], f"ADS_BENCH_CUDA=1 but the extension has no CUDA kernels: {info}"
