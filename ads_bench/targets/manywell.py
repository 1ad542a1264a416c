"""ManyWell: a product of independent 2-D double-well densities (unnormalised).

README *Targets*, after Noé et al. (2019), "Boltzmann generators", as used by Midgley et al.
(2023, FAB) and later diffusion-sampler benchmarks: d = 32 = 16 independent blocks, each

    log R(a, b) = -a^4 + 6 a^2 + a / 2 - b^2 / 2.

Coordinate layout (FAB convention): the double-well coordinates ``a`` sit at the EVEN
indices 0, 2, ..., d - 2 and the Gaussian coordinates ``b`` at the ODD indices
1, 3, ..., d - 1, i.e. ``x = (a_1, b_1, a_2, b_2, ...)``.

Normalising constant: with ``Z_a = int exp(-a^4 + 6 a^2 + a/2) da = 11784.509265127...``
(adaptive quadrature, relative error < 1e-12) and ``int exp(-b^2/2) db = sqrt(2 pi)``,

    log Z = (d / 2) (log Z_a + log(2 pi) / 2) = 164.69567531... for d = 32.

Exact samples: ``b ~ N(0, 1)``; ``a`` by vectorised rejection sampling from the proposal
``q = 0.2 N(-1.7, 0.5^2) + 0.8 N(1.7, 0.5^2)`` with envelope ``M q``, ``M = 3 Z_a``, applied
to the unnormalised ``exp(-a^4 + 6 a^2 + a/2)``. This is valid because
``sup_a p(a) / q(a) ~ 2.59 < 3`` for the normalised ``p = exp(...) / Z_a`` (checked in the
tests); the acceptance rate is 1/3.

Shapes: ``log_prob`` maps ``[..., d] -> [...]``; ``sample(n)`` returns ``[n, d]``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .base import Target

__all__ = [
    "DOUBLE_WELL_LOG_Z",
    "DOUBLE_WELL_Z",
    "ManyWell",
    "double_well_log_r",
    "proposal_log_prob",
    "sample_double_well",
]

#: int exp(-a^4 + 6 a^2 + a/2) da over R (value 11784.50927).
DOUBLE_WELL_Z = 11784.509265127823
DOUBLE_WELL_LOG_Z = math.log(DOUBLE_WELL_Z)

#: Rejection-sampling proposal: mixture weights, means and common std, and envelope factor.
PROPOSAL_WEIGHTS = (0.2, 0.8)
PROPOSAL_MEANS = (-1.7, 1.7)
PROPOSAL_STD = 0.5
ENVELOPE_FACTOR = 3.0  # M = ENVELOPE_FACTOR * DOUBLE_WELL_Z

_LOG_2PI = math.log(2.0 * math.pi)


def double_well_log_r(a: Tensor) -> Tensor:
    """Unnormalised 1-D double-well log density ``-a^4 + 6 a^2 + a/2`` (elementwise)."""
    a2 = a.square()
    return -a2.square() + 6.0 * a2 + 0.5 * a


def proposal_log_prob(a: Tensor) -> Tensor:
    """Normalised log density of the rejection proposal ``q`` (elementwise)."""
    comps = [
        math.log(w) - 0.5 * ((a - m) / PROPOSAL_STD).square()
        for w, m in zip(PROPOSAL_WEIGHTS, PROPOSAL_MEANS, strict=True)
    ]
    return torch.logsumexp(torch.stack(comps, dim=-1), dim=-1) - (
        math.log(PROPOSAL_STD) + 0.5 * _LOG_2PI
    )


def sample_double_well(
    n: int,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    *,
    max_rounds: int = 10_000,
) -> Tensor:
    """``n`` exact draws ``[n]`` (float64) from ``p(a) ∝ exp(-a^4 + 6 a^2 + a/2)``.

    Vectorised rejection sampling: each round draws a batch from ``q`` (sized for the
    expected 1/3 acceptance rate), keeps the accepted points and repeats until ``n`` are
    collected. Only ``generator`` supplies randomness.
    """
    device = torch.device(device)
    log_m = math.log(ENVELOPE_FACTOR) + DOUBLE_WELL_LOG_Z
    means = torch.tensor(PROPOSAL_MEANS, dtype=torch.float64, device=device)
    kw = {"generator": generator, "device": device, "dtype": torch.float64}
    accepted: list[Tensor] = []
    have = 0
    rounds = 0
    while have < n:
        if rounds >= max_rounds:  # pragma: no cover - probability ~ 0
            raise RuntimeError("double-well rejection sampler did not finish")
        rounds += 1
        m = math.ceil(ENVELOPE_FACTOR * 1.1 * (n - have)) + 16
        upper = torch.rand(m, **kw) < PROPOSAL_WEIGHTS[1]  # mean +1.7 with prob 0.8
        a = means[upper.long()] + PROPOSAL_STD * torch.randn(m, **kw)
        log_u = torch.log1p(-torch.rand(m, **kw))  # log of a uniform on (0, 1]
        keep = log_u < double_well_log_r(a) - log_m - proposal_log_prob(a)
        accepted.append(a[keep])
        have += int(keep.sum())
    if not accepted:
        return torch.empty(0, dtype=torch.float64, device=device)
    return torch.cat(accepted)[:n]


class ManyWell(Target):
    """ManyWell target: ``dim / 2`` independent double-well x Gaussian blocks.

    Layout: ``x[..., 0::2]`` are the double-well coordinates ``a``, ``x[..., 1::2]`` the
    standard-Gaussian coordinates ``b``. ``log_z`` is exact (see module docstring).
    """

    def __init__(self, dim: int = 32, *, name: str = "manywell"):
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2 or dim % 2:
            raise ValueError(f"manywell needs an even int dim >= 2, got {dim!r}")
        n_blocks = dim // 2
        super().__init__(dim, name=name, log_z=n_blocks * (DOUBLE_WELL_LOG_Z + 0.5 * _LOG_2PI))
        self.n_blocks = n_blocks

    def _log_prob(self, x: Tensor) -> Tensor:
        a, b = x[..., 0::2], x[..., 1::2]
        return (double_well_log_r(a) - 0.5 * b.square()).sum(-1)

    def _sample(self, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
        a = sample_double_well(n * self.n_blocks, generator, device).reshape(n, self.n_blocks)
        b = torch.randn(n, self.n_blocks, generator=generator, device=device, dtype=torch.float64)
        return torch.stack([a, b], dim=-1).reshape(n, self.dim)  # interleave (a1, b1, a2, ...)
