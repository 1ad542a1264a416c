"""Pure-PyTorch references of every fused kernel in ``csrc/``.

Each function here computes, with ordinary differentiable torch operations, exactly what the fused op
of the same name computes; the test suite compares the two (values and gradients). They are also the
fallback of ``impl="auto"`` where no fused kernel is built for a device or dtype.
"""

from __future__ import annotations

import math

import torch

__all__ = ["gaussian_logprob"]

_LOG_2PI = math.log(2.0 * math.pi)


def gaussian_logprob(x: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """Diagonal Gaussian log-density, summed over the last dimension (formula G1 of
    ``csrc/include/ads_bench/gaussian.h``; SPEC section 2)::

        log N(x; mean, diag(exp(log_var))) = -1/2 * sum_d [(x-mean)^2 exp(-log_var) + log_var + log 2pi]

    Shapes: ``x``, ``mean``, ``log_var`` ``[..., D]`` -> ``[...]``.
    """
    diff = x - mean
    return -0.5 * (diff.square() * torch.exp(-log_var) + log_var + _LOG_2PI).sum(dim=-1)
