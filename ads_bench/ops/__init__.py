"""Fused C++/CUDA kernels of ads_bench, their pure-PyTorch references and what was built.

Public ops take ``impl="auto" | "fused" | "reference"``; see :mod:`ads_bench.ops._dispatch`.
The compiled ops are also reachable as ``torch.ops.ads_bench.<name>`` (custom ops with fake and autograd
registrations, usable under ``torch.compile``).
"""

from ads_bench.ops import reference
from ads_bench.ops._extension import EXTENSION_ERROR, build_info, fused_available
from ads_bench.ops.balance import trajectory_balance
from ads_bench.ops.gaussian import gaussian_logprob

if EXTENSION_ERROR is None:
    from ads_bench.ops._registry import register as _register

    _register()

__all__ = [
    "build_info",
    "fused_available",
    "gaussian_logprob",
    "reference",
    "trajectory_balance",
]
