"""``gaussian_logprob``: diagonal Gaussian log-density of transitions, fused.

The log-probability of every transition of a diffusion sampler's trajectory, under its generation or
destruction kernel (README *Training a sampler*), is a diagonal Gaussian log-density summed over coordinates. For a
trajectory batch this is one call on ``[B, T, D]`` tensors returning ``[B, T]``.
"""

from __future__ import annotations

import torch

from ads_bench.ops import reference
from ads_bench.ops._dispatch import check_tensors, use_fused

__all__ = ["gaussian_logprob"]


def gaussian_logprob(
    x: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor, *, impl: str = "auto"
) -> torch.Tensor:
    """log N(x; mean, diag(exp(log_var))) summed over the last dimension (formula G1).

    Args:
        x, mean, log_var: tensors of one shape ``[..., D]`` (D >= 0), dtype and device. Any strides.
        impl: ``"auto"`` (fused kernel where built for the device and dtype, else reference),
            ``"fused"`` (raise if unavailable) or ``"reference"`` (pure PyTorch).

    Returns:
        ``[...]``: one log-density per leading index. Differentiable in all three inputs.
    """
    op = "gaussian_logprob"
    check_tensors(op, x=x, mean=mean, log_var=log_var)
    if x.dim() == 0:
        raise ValueError(
            f"{op}: x must have shape [..., D] with at least one dimension, got a scalar"
        )
    if use_fused(op, impl, x):
        return torch.ops.ads_bench.gaussian_logprob(x, mean, log_var)
    return reference.gaussian_logprob(x, mean, log_var)
