"""Isotropic Gaussian mixture targets (normalised, log Z = 0).

README *Targets* definitions:

* ``gmm25`` (d = 2): equal-weight mixture of 25 Gaussians with means on the grid
  {-10, -5, 0, 5, 10}^2 and covariance 0.3 I -- the 25-mode benchmark of Sendera et al.
  (2024), "Improved off-policy training of diffusion samplers".
* ``gmm9`` (d = 2): the same construction on the grid {-5, 0, 5}^2, covariance 0.3 I.
* ``gmm40`` (d = 2): equal-weight mixture of 40 unit-covariance Gaussians whose means are
  40 times the locations stored in ``data/gmm40_2d_unit_locs.csv`` -- the 40-mode problem
  of Midgley et al. (2023), "Flow Annealed Importance Sampling Bootstrap" (FAB).

The log density is an exact ``logsumexp`` over components, so it stays finite and has
finite gradients arbitrarily far from every mode (no thresholding or masking).

Shapes: ``means`` is ``[K, d]`` (float64 buffer, exact values), ``log_weights`` is ``[K]``;
``log_prob`` maps ``[..., d] -> [...]``; ``sample(n)`` returns ``[n, d]`` i.i.d. draws in
random order (the component is drawn independently for each sample).
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from importlib import resources

import torch
from torch import Tensor

from .base import Target

__all__ = ["GaussianMixture", "gmm9", "gmm25", "gmm40", "load_gmm40_unit_locs"]

_GMM40_CSV = "gmm40_2d_unit_locs.csv"


#: ``sigma^2`` of the named 2-D mixtures (gmm9, gmm25, gmm40) when ``sampler.t_scale`` is None
MIXTURE_T_SCALE = 5.0


class GaussianMixture(Target):
    """Mixture of isotropic Gaussians ``sum_k w_k N(mu_k, std^2 I)``; normalised (log Z = 0).

    Args:
        means: ``[K, d]`` component means.
        std: common per-axis standard deviation (covariance ``std**2 * I``).
        weights: optional ``[K]`` non-negative mixture weights (normalised internally);
            equal weights if omitted.
        name: identifier.
        default_t_scale: the sampler's ``sigma^2`` when ``sampler.t_scale`` is None (1, the base
            class's; the named 2-D mixtures, whose modes lie up to 10 from the origin, use
            :data:`MIXTURE_T_SCALE`).
    """

    means: Tensor
    log_weights: Tensor

    def __init__(
        self,
        means: Tensor,
        std: float,
        weights: Tensor | None = None,
        *,
        name: str = "gmm",
        default_t_scale: float = 1.0,
    ):
        means = torch.as_tensor(means, dtype=torch.float64)
        if means.ndim != 2 or means.shape[0] < 1:
            raise ValueError(f"means must have shape [K, d] with K >= 1, got {list(means.shape)}")
        std = float(std)
        if not (std > 0 and math.isfinite(std)):
            raise ValueError(f"std must be positive and finite, got {std}")
        k, d = means.shape
        super().__init__(d, name=name, log_z=0.0)
        self.default_t_scale = float(default_t_scale)
        if weights is None:
            log_w = torch.full((k,), -math.log(k), dtype=torch.float64)
        else:
            w = torch.as_tensor(weights, dtype=torch.float64)
            if w.shape != (k,) or bool((w < 0).any()) or not float(w.sum()) > 0:
                raise ValueError(f"weights must be [K={k}] non-negative with positive sum")
            log_w = torch.log(w / w.sum())
        self.std = std
        self.register_buffer("means", means)
        self.register_buffer("log_weights", log_w)

    @property
    def num_components(self) -> int:
        return self.means.shape[0]

    def _log_prob(self, x: Tensor) -> Tensor:
        mu = self.means.to(dtype=x.dtype, device=x.device)  # [K, d]
        log_w = self.log_weights.to(dtype=x.dtype, device=x.device)  # [K]
        sq = (x.unsqueeze(-2) - mu).square().sum(-1)  # [..., K]
        log_norm = 0.5 * self.dim * math.log(2.0 * math.pi * self.std**2)
        return torch.logsumexp(log_w - 0.5 * sq / self.std**2, dim=-1) - log_norm

    def _sample(self, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
        probs = self.log_weights.to(device).exp()
        comp = torch.multinomial(probs, n, replacement=True, generator=generator)  # [n]
        noise = torch.randn(n, self.dim, generator=generator, device=device, dtype=torch.float64)
        return self.means.to(device)[comp] + self.std * noise

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, K={self.num_components}, std={self.std:.6g}"


def _grid_means(values: tuple[float, ...]) -> Tensor:
    return torch.tensor(list(itertools.product(values, values)), dtype=torch.float64)


def gmm25(std: float = math.sqrt(0.3)) -> GaussianMixture:
    """25 modes on {-10,-5,0,5,10}^2, covariance 0.3 I (Sendera et al., 2024)."""
    return GaussianMixture(
        _grid_means((-10.0, -5.0, 0.0, 5.0, 10.0)),
        std,
        name="gmm25",
        default_t_scale=MIXTURE_T_SCALE,
    )


def gmm9(std: float = math.sqrt(0.3)) -> GaussianMixture:
    """9 modes on {-5,0,5}^2, covariance 0.3 I."""
    return GaussianMixture(
        _grid_means((-5.0, 0.0, 5.0)), std, name="gmm9", default_t_scale=MIXTURE_T_SCALE
    )


def load_gmm40_unit_locs() -> Tensor:
    """The 40 packaged unit-box locations, ``[40, 2]`` float64 (before scaling by 40)."""
    text = (
        resources.files(__package__)
        .joinpath("data")
        .joinpath(_GMM40_CSV)
        .read_text(encoding="utf-8")
    )
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    reader = csv.reader(io.StringIO("\n".join(lines)))
    header = [h.strip() for h in next(reader)]
    if header != ["x", "y"]:
        raise ValueError(f"{_GMM40_CSV}: expected header 'x,y', got {header}")
    rows = [[float(v) for v in row] for row in reader]
    locs = torch.tensor(rows, dtype=torch.float64)
    if locs.shape != (40, 2):
        raise ValueError(f"{_GMM40_CSV}: expected 40 rows of 2 values, got {list(locs.shape)}")
    return locs


def gmm40(scale: float = 40.0, std: float = 1.0) -> GaussianMixture:
    """40 unit-covariance modes at ``scale`` x packaged locations (Midgley et al., 2023)."""
    return GaussianMixture(
        scale * load_gmm40_unit_locs(), std, name="gmm40", default_t_scale=MIXTURE_T_SCALE
    )
