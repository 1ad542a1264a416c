"""Debiased Sinkhorn divergence between point clouds, robust down to tiny epsilon.

Definitions (Cuturi 2013, "Sinkhorn Distances"; Feydy et al. 2019, "Interpolating
between Optimal Transport and MMD using Sinkhorn Divergences", AISTATS). For
``x`` ``[N, d]``, ``y`` ``[M, d]`` with uniform weights ``a = 1/N``, ``b = 1/M`` and
cost ``C_ij = ||x_i - y_j||^2`` (squared Euclidean, *no* factor 1/2):

    OT_eps(x, y) = min_{pi in Pi(a, b)}  <pi, C> + eps * KL(pi || a (x) b)
                 = max_{f, g}  <a, f> + <b, g> - eps <a (x) b, exp((f + g - C) / eps) - 1>

    S_eps(x, y)  = OT_eps(x, y) - OT_eps(x, x) / 2 - OT_eps(y, y) / 2.

Reported quantity: ``sinkhorn(x, y, eps).value`` is ``S_eps`` where each ``OT_eps`` is
the **entropic value including the KL term**, computed as the dual objective
``<a, f> + <b, g>`` at the final potentials (after an exact c-transform, so the
exponential penalty vanishes; by weak duality this is a lower bound on ``OT_eps``,
tight up to the marginal tolerance). ``S_eps >= 0`` (round-off of ~1e-8 for
near-identical sets is clamped to 0), ``S_eps(x, x) = 0`` exactly, and
``S_eps -> W2^2`` as ``eps -> 0``: the value is in units of squared distance, like
W2^2 -- no square root is taken. The primal transport cost ``<pi, C>`` of the cross
plan is reported separately as ``transport_cost`` (also -> W2^2); it is a diagnostic
only, since the plan satisfies the column marginals only up to ``tol``.

How it is computed: eps-scaled, log-stabilised sparse Sinkhorn scaling warm-started from the exact
OT potentials, certified by an exact c-transform (:mod:`ads_bench.metrics.sparse_scaling`, which
also states its cost and accuracy).

Convention: scalar metrics in :mod:`ads_bench.metrics` return Python floats; results
that need a parameter to be interpreted (here eps) are frozen dataclasses with a
``value`` field and an ``as_dict()`` method.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from ._checks import as_samples, check_same_dim, squared_distances
from .sparse_scaling import EntropicOTResult, SinkhornSettings, solve

__all__ = ["SinkhornResult", "entropic_ot", "sinkhorn"]


@dataclass(frozen=True)
class SinkhornResult:
    """Debiased Sinkhorn divergence ``S_eps(x, y)`` (see module docstring).

    Attributes:
        value: ``S_eps = OT_eps(x,y) - OT_eps(x,x)/2 - OT_eps(y,y)/2`` (squared-distance
            units), clamped at 0 (round-off can make it ~-1e-8 for near-identical sets).
        eps: the regularisation actually used.
        ot_xy, ot_xx, ot_yy: the three entropic OT values (KL term included).
        transport_cost: ``<pi_xy, C_xy>`` of the cross plan (tends to ``W2^2``).
        marginal_error: the largest final L1 marginal error of the three problems.
        n_iter: total scaling iterations of the three problems.
    """

    value: float
    eps: float
    ot_xy: float
    ot_xx: float
    ot_yy: float
    transport_cost: float
    marginal_error: float
    n_iter: int

    def as_dict(self) -> dict[str, float]:
        """Every field as a float."""
        return {k: float(v) for k, v in asdict(self).items()}


def _prepared(x: object, y: object) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` ``[N, d]`` and ``y`` ``[M, d]`` as validated float64 sample sets of one dimension."""
    xs = as_samples(x, "x")
    ys = as_samples(y, "y")
    check_same_dim(xs, ys)
    return xs, ys


def entropic_ot(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-3, **options) -> EntropicOTResult:
    """Entropic OT ``OT_eps(x, y)`` (KL term included), ``x`` ``[N, d]``, ``y`` ``[M, d]``.

    ``eps`` is the entropic regularisation in units of the cost (squared distance); ``options``
    are the keyword-only solver parameters ``tol`` (1e-3), ``init`` (``"exact"``), ``scaling``
    (0.5) and ``max_iter`` (200 000) of :class:`~ads_bench.metrics.sparse_scaling.SinkhornSettings`.
    """
    settings = SinkhornSettings(eps, **options)
    xs, ys = _prepared(x, y)
    return solve(squared_distances(xs, ys), settings, symmetric=False)


def sinkhorn(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-3, **options) -> SinkhornResult:
    """Debiased Sinkhorn divergence ``S_eps(x, y)`` between ``x`` ``[N, d]`` and ``y`` ``[M, d]``.

    Squared-Euclidean cost, uniform weights, each ``OT_eps`` includes the ``eps KL``
    term (Feydy et al. 2019). ``result.value`` is ``S_eps`` (comparable to ``W2^2``);
    ``result.eps`` the regularisation used. Identical inputs give exactly 0. Parameters
    as in :func:`entropic_ot`; each of the three OT problems gets its own ``max_iter``.
    """
    settings = SinkhornSettings(eps, **options)
    xs, ys = _prepared(x, y)
    r_xx = solve(squared_distances(xs, xs), settings, symmetric=True)
    if xs.shape == ys.shape and torch.equal(xs, ys):
        r_xy = r_yy = r_xx  # S_eps(x, x) = 0 exactly
    else:
        r_yy = solve(squared_distances(ys, ys), settings, symmetric=True)
        r_xy = solve(squared_distances(xs, ys), settings, symmetric=False)
    # S_eps >= 0 in exact arithmetic; for (nearly) identical sets the raw combination
    # can be ~-1e-8 (solver accuracy), which is clamped. The raw terms stay available.
    value = max(0.0, r_xy.value - 0.5 * r_xx.value - 0.5 * r_yy.value)
    return SinkhornResult(
        value=value,
        eps=settings.eps,
        ot_xy=r_xy.value,
        ot_xx=r_xx.value,
        ot_yy=r_yy.value,
        transport_cost=r_xy.transport_cost,
        marginal_error=max(r_xy.marginal_error, r_xx.marginal_error, r_yy.marginal_error),
        n_iter=r_xy.n_iter + r_xx.n_iter + r_yy.n_iter,
    )
