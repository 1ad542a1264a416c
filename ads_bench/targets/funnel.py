"""Neal's funnel (normalised, log Z = 0).

README *Targets*; Neal (2003), "Slice sampling": in d = 10 dimensions,

    x_0 ~ N(0, 3^2),        x_i | x_0 ~ N(0, exp(x_0))   for i = 1, ..., d - 1,

i.e. the *standard deviation* of x_0 is 3 and the conditional variance of the other
coordinates is exp(x_0). The density is the product of these normals, so it is normalised.

Shapes: ``log_prob`` maps ``[..., d] -> [...]``; ``sample(n)`` returns ``[n, d]`` with the
"neck" coordinate x_0 in column 0.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .base import Target

__all__ = ["Funnel"]

_LOG_2PI = math.log(2.0 * math.pi)


class Funnel(Target):
    """Neal's funnel in ``dim`` dimensions with neck scale ``scale`` (std of x_0)."""

    def __init__(self, dim: int = 10, scale: float = 3.0, *, name: str = "funnel"):
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2:
            raise ValueError(f"funnel needs an int dim >= 2, got {dim!r}")
        scale = float(scale)
        if not (scale > 0 and math.isfinite(scale)):
            raise ValueError(f"scale must be positive and finite, got {scale}")
        super().__init__(dim, name=name, log_z=0.0)
        self.scale = scale

    def _log_prob(self, x: Tensor) -> Tensor:
        x0, rest = x[..., 0], x[..., 1:]
        lp0 = -0.5 * (x0 / self.scale).square() - math.log(self.scale) - 0.5 * _LOG_2PI
        # log N(x_i; 0, e^{x0}) = -x_i^2 e^{-x0} / 2 - x0 / 2 - log(2 pi) / 2
        m = self.dim - 1
        sq = rest.square().sum(-1)
        lp_rest = -0.5 * sq * torch.exp(-x0) - 0.5 * m * x0 - 0.5 * m * _LOG_2PI
        return lp0 + lp_rest

    def _sample(self, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
        z = torch.randn(n, self.dim, generator=generator, device=device, dtype=torch.float64)
        x0 = self.scale * z[:, :1]
        return torch.cat([x0, torch.exp(0.5 * x0) * z[:, 1:]], dim=1)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, scale={self.scale:g}"
