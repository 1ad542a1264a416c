"""The environment record written beside every result (``result.json``'s ``env``).

Beside its metrics, every result records the package and torch versions, Python, the device,
whether the fused kernels ran (``fused_kernels``; README "Training a sampler"), the git commit of
the checkout, the seed, the thread count, the CPU capability and the machine.
"""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import torch

from ads_bench import __version__
from ads_bench.ops._dispatch import use_fused
from ads_bench.runtime import DTYPES

__all__ = ["git_commit", "run_environment"]


def git_commit() -> str | None:
    """``HEAD`` of the checkout this package is imported from, or None (not a git checkout)."""
    try:
        root = Path(__file__).resolve().parents[1]
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def run_environment(cfg, impl: str | None = None) -> dict:
    """The environment of a run of ``cfg`` (a :class:`~ads_bench.config.Config`) in this process;
    ``impl`` is the ops implementation its training step used (default ``cfg.train.impl``)."""
    probe = torch.empty(0, dtype=DTYPES[cfg.train.dtype], device=cfg.train.device)
    impl = cfg.train.impl if impl is None else impl
    return {
        "ads_bench": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(probe.device),
        "fused_kernels": use_fused("train", impl, probe),
        "git_commit": git_commit(),
        "seed": cfg.seed,
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "machine": platform.machine(),
    }
