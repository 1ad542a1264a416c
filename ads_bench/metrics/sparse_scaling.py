"""Entropic OT solver: eps-scaled, log-stabilised sparse Sinkhorn scaling on a cost matrix.

The algorithm behind :func:`ads_bench.metrics.entropic_ot` and :func:`ads_bench.metrics.sinkhorn`
(definitions and the reported quantities in :mod:`ads_bench.metrics.entropic`). Shapes: a cost
matrix ``C`` ``[N, M]`` (float64), uniform weights ``a`` ``[N]``, ``b`` ``[M]``, potentials ``f``
``[N]``, ``g`` ``[M]`` (float64).

Algorithm. ``eps = 1e-3`` is ~1e-5 of the typical cost scale. There, textbook
log-domain Sinkhorn with one iteration per annealing stage is far from converged
(we measured a 6% L1 marginal error after 2000 further dense iterations at
N = 2000, d = 2). We therefore use stabilised sparse scaling (Schmitzer 2019,
"Stabilized Sparse Scaling Algorithms for Entropy Regularized Transport Problems",
SIAM J. Sci. Comput.) with eps-scaling:

1. Initialisation (``init``):

   - ``"exact"`` (default): start from the dual potentials of the *exact* OT problem
     (POT network simplex, as for :func:`ads_bench.metrics.w2`) and anneal eps from
     ``100 eps`` down to ``eps``. As eps -> 0 the Sinkhorn potentials converge to a
     particular optimal LP dual; the network simplex returns some (vertex) optimal
     dual, so a short anneal from 100 eps smooths the difference cheaply (starting
     at 10 eps needed up to 10x more iterations in our checks). For
     ``OT_eps(x, x)`` the exact plan is the identity and zero potentials are
     optimal, so no LP is solved.
   - ``"anneal"``: start from zero potentials at ``eps_0 = max(C)`` and anneal
     ``eps_k = eps_0 * scaling^k`` down to ``eps``. Same result, but on multimodal
     sets (e.g. a 40-mode GMM whose modes hold unequal sample counts) the slow
     inter-mode mass exchange at small eps cost ~10^5 iterations (~10 s at
     N = 2000) versus ~5 * 10^3 (~1.5 s, LP included) with ``"exact"``.

   Each stage warm-starts from the previous one and is iterated to the marginal
   tolerance.
2. Log-domain stabilisation: potentials live in the log domain; the inner loop runs
   cheap scaling updates ``u = 1 / K(b v)``, ``v = 1 / K^T(a u)`` on the stabilised
   kernel ``K_ij = exp((f_i + g_j - C_ij) / eps)`` and absorbs ``eps log u``,
   ``eps log v`` into (f, g) whenever a scaling leaves [e^-10, e^10]. The symmetric
   terms ``OT_eps(x, x)``, ``OT_eps(y, y)`` use the averaged update
   ``f <- (f + T(f)) / 2`` of Feydy et al. 2019 (``u <- sqrt(u / K(a u))``).
3. Truncation: entries with ``K_ij < e^-50`` are dropped, so at small eps the kernel
   is a sparse CSR matrix with a handful of entries per row (between absorptions a
   dropped entry of the scaled plan stays below e^-30 relative to its row). A cached
   candidate set avoids dense rebuilds while the potentials move less than a
   provable margin. Dense kernels (large eps) are stored in float32 when
   ``tol >= 1e-4``; potentials are always float64.
4. Certification: at the target eps the row marginals are made exact with a dense,
   *untruncated* float64 c-transform ``f_i = -eps log sum_j b_j exp((g_j - C_ij)/eps)``
   and the L1 column-marginal error of the resulting plan must be <= ``tol``;
   otherwise iterations resume. Non-convergence within ``max_iter`` raises
   ``RuntimeError``. At ``tol = 1e-3`` the reported value agreed with runs at
   ``tol = 1e-4`` to ~1e-6 relative in our checks.

Cost (``init="exact"``): about 1-3 s on 2 idle CPU cores for N = M = 2000, d <= 32
(memory: a few N x M float64 temporaries, ~32 MB each). The inner loops -- and whole
solves with fewer than 2^20 cost entries -- run with torch's intra-op parallelism
temporarily set to one thread (restored afterwards): their mat-vecs are too small to
profit from threads, and threaded calls stall badly on a CPU shared with other jobs.
"""

from __future__ import annotations

import math
import warnings
from contextlib import nullcontext
from dataclasses import asdict, dataclass

import torch

from ads_bench.runtime import single_threaded

from .transport import exact_ot

__all__ = ["EntropicOTResult", "SinkhornSettings", "solve"]

_THETA = 50.0  # truncation: keep kernel entries with log K_ij >= -_THETA
_TAU = 10.0  # absorb scalings into the potentials once |log u| or |log v| > _TAU
_MARGIN = 20.0  # extra slack (in units of eps) of the cached candidate set
_DENSE_FRACTION = 0.2  # use a dense kernel when more than this fraction survives
_CHECK_EVERY = 10  # inner iterations between marginal-error checks
_FLOAT32_MIN_TOL = 1e-4  # smallest tol for which dense kernels may be float32
_FLOAT64_FLOOR = 600.0  # untruncated fallback: drop entries below e^-600 (no denormals)
_WARM_START_FACTOR = 100.0  # init="exact": anneal from 100 * eps down to eps
_INITS = ("exact", "anneal")
_SMALL_PROBLEM = 1 << 20  # cost matrices with fewer entries are solved single-threaded


@dataclass(frozen=True)
class SinkhornSettings:
    """The solver's parameters, validated on construction (the keyword options of
    :func:`~ads_bench.metrics.entropic_ot` and :func:`~ads_bench.metrics.sinkhorn`).

    Attributes:
        eps: entropic regularisation, in units of the cost (squared distance); stored as a float.
        tol: required L1 marginal error of the final plan (total mass 1).
        init: ``"exact"`` (default) warm-starts from the exact-OT dual potentials (POT network
            simplex) and anneals from ``100 eps``; ``"anneal"`` starts from zero potentials and
            anneals from ``eps = max(C)``.
        scaling: annealing factor per stage, in (0, 1).
        max_iter: cap on scaling iterations summed over the stages of one OT problem; exceeding
            it raises ``RuntimeError``.
    """

    eps: float = 1e-3
    tol: float = 1e-3
    init: str = "exact"
    scaling: float = 0.5
    max_iter: int = 200_000

    def __post_init__(self) -> None:
        eps, tol, scaling, init = self.eps, self.tol, self.scaling, self.init
        if not (math.isfinite(eps) and eps > 0):
            raise ValueError(f"eps must be a positive finite float, got {eps}")
        if not (tol > 0):
            raise ValueError(f"tol must be positive, got {tol}")
        if not (0.0 < scaling < 1.0):
            raise ValueError(f"scaling must lie in (0, 1), got {scaling}")
        if self.max_iter < 1:
            raise ValueError(f"max_iter must be >= 1, got {self.max_iter}")
        if init not in _INITS:
            raise ValueError(f"init must be one of {_INITS}, got {init!r}")
        object.__setattr__(self, "eps", float(eps))


@dataclass(frozen=True)
class EntropicOTResult:
    """Entropic OT between two uniform point clouds (definitions in :mod:`.entropic`).

    Attributes:
        value: ``OT_eps`` = dual value ``<a, f> + <b, g>`` (= ``<pi, C> + eps KL``).
        transport_cost: ``<pi, C>`` of the final plan.
        eps: the regularisation actually used.
        marginal_error: L1 error ``sum_j |pi^T 1 - b|_j`` of the final plan (rows exact).
        n_iter: total scaling iterations over all annealing stages.
    """

    value: float
    transport_cost: float
    eps: float
    marginal_error: float
    n_iter: int

    def as_dict(self) -> dict[str, float]:
        """Every field as a float."""
        return {k: float(v) for k, v in asdict(self).items()}


def _csr(crow_counts: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor, size) -> torch.Tensor:
    crow = torch.zeros(size[0] + 1, dtype=torch.int64)
    torch.cumsum(crow_counts, 0, out=crow[1:])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, cols, vals, size=size, check_invariants=False)


class _TruncatedKernel:
    """Builds the stabilised kernel ``K_ij = exp((f_i + g_j - C_ij) / eps)``.

    Entries with exponent below ``-_THETA`` are dropped. A candidate set (exponent
    >= ``-(_THETA + _MARGIN)`` at reference potentials f0, g0, eps0) is cached; it is
    a guaranteed superset of the kept entries while
    ``max(f - f0) + max(g - g0) <= (_THETA + _MARGIN) eps0 - _THETA eps``.
    Dense kernels (many surviving entries) are stored in ``dense_dtype`` (float32
    halves the memory traffic of the mat-vecs); sparse kernels are CSR float64.
    ``build`` returns ``(K, K^T)``; with ``transpose=False`` only ``K`` (and ``None``).
    """

    def __init__(self, cost: torch.Tensor, dense_dtype: torch.dtype) -> None:
        self.cost = cost
        self.dense_dtype = dense_dtype
        self.n, self.m = cost.shape
        self.cand: tuple[torch.Tensor, ...] | None = None
        self.ref: tuple[torch.Tensor, torch.Tensor, float] | None = None

    def build(self, f: torch.Tensor, g: torch.Tensor, eps: float, transpose: bool = True):
        if self.cand is not None and self.ref is not None:
            f0, g0, eps0 = self.ref
            drift = float((f - f0).max() + (g - g0).max())
            if drift <= (_THETA + _MARGIN) * eps0 - _THETA * eps:
                out = self._sparse(f, g, eps, transpose)
                if out is not None:
                    return out
        return self._from_dense(f, g, eps, transpose)

    def _from_dense(self, f: torch.Tensor, g: torch.Tensor, eps: float, transpose: bool):
        expo = torch.sub(f[:, None], self.cost).add_(g[None, :]).div_(eps)
        # decide dense vs sparse on a subsample of ~64 rows
        sample = expo[:: max(1, self.n // 64)]
        n_big = int((sample >= -(_THETA + _MARGIN)).sum())
        if n_big > _DENSE_FRACTION * sample.numel():
            self.cand = self.ref = None
            kernel = _exp_floor(expo, _THETA, self.dense_dtype)
            return kernel, (kernel.T if transpose else None)
        rows, cols = (expo >= -(_THETA + _MARGIN)).nonzero(as_tuple=True)
        perm = torch.argsort(cols, stable=True)
        self.cand = (rows, cols, self.cost[rows, cols], perm, rows[perm])
        self.ref = (f.clone(), g.clone(), eps)
        out = self._sparse(f, g, eps, transpose)
        if out is None:  # a row/column has no entry above e^-THETA: do not truncate
            self.cand = self.ref = None
            kernel = _exp_floor(expo, _FLOAT64_FLOOR, torch.float64)
            return kernel, (kernel.T if transpose else None)
        return out

    def _sparse(self, f: torch.Tensor, g: torch.Tensor, eps: float, transpose: bool):
        assert self.cand is not None
        rows, cols, cost, perm, rows_p = self.cand
        expo = (f[rows] + g[cols] - cost) / eps
        keep = expo >= -_THETA
        row_counts = torch.bincount(rows[keep], minlength=self.n)
        col_counts = torch.bincount(cols[keep], minlength=self.m)
        if int(row_counts.min()) == 0 or int(col_counts.min()) == 0:
            return None
        kernel = _csr(row_counts, cols[keep], expo[keep].exp_(), (self.n, self.m))
        if not transpose:
            return kernel, None
        keep_p = keep[perm]
        vals_t = expo[perm][keep_p].exp_()
        return kernel, _csr(col_counts, rows_p[keep_p], vals_t, (self.m, self.n))


def _exp_floor(expo: torch.Tensor, floor: float, dtype: torch.dtype) -> torch.Tensor:
    """``exp(expo)`` (``expo`` is overwritten) with entries below ``e^-floor`` set to 0.

    Exact zeros instead of tiny values keep denormal numbers out of the mat-vecs
    (denormal arithmetic is ~50x slower on x86 CPUs).
    """
    return expo.masked_fill_(expo < -floor, -math.inf).to(dtype).exp_()


def _mv(kernel: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Mat-vec in the kernel's dtype, result in float64."""
    return (kernel @ w.to(kernel.dtype)).to(torch.float64)


def _bounds_ok(*scalings: torch.Tensor) -> bool:
    """Raise on non-finite scalings; return False if one leaves [e^-tau, e^tau]."""
    lo = min(float(s.min()) for s in scalings)
    hi = max(float(s.max()) for s in scalings)
    if not (lo > 0.0 and hi < math.inf):
        raise RuntimeError(
            "Sinkhorn scaling produced non-finite values (empty kernel row/column); "
            "try a larger eps or a scaling closer to 1"
        )
    return math.exp(-_TAU) <= lo and hi <= math.exp(_TAU)


def _scaling_loop(kernel, kernel_t, a, b, tol: float, budget: int):
    """Run ``u = 1/K(bv), v = 1/K^T(au)`` until converged, absorption, or budget.

    Returns ``(u, v, n_iter, converged)``; after the v-update the column marginals
    are exact and convergence is judged on the L1 row-marginal error.
    """
    v = torch.ones_like(b)
    u = torch.ones_like(a)
    for it in range(1, budget + 1):
        u = 1.0 / _mv(kernel, b * v)
        v = 1.0 / _mv(kernel_t, a * u)
        in_bounds = _bounds_ok(u, v)
        if it % _CHECK_EVERY == 0 or it <= 2:
            err = float((a * u * _mv(kernel, b * v) - a).abs().sum())
            if err <= tol:
                return u, v, it, True
        if not in_bounds:
            return u, v, it, False
    return u, v, budget, False


def _symmetric_loop(kernel, a, tol: float, budget: int):
    """Averaged fixed-point iteration for ``OT_eps(x, x)`` (Feydy et al. 2019).

    In the log domain ``f <- (f + T(f)) / 2`` with ``T`` the entropic c-transform; in
    scaling form ``u <- sqrt(u / K(a u))``. One mat-vec per iteration; convergence is
    judged on the L1 marginal error ``sum_i |a_i u_i K(a u)_i - a_i|``.
    """
    u = torch.ones_like(a)
    for it in range(1, budget + 1):
        u = torch.sqrt(u / _mv(kernel, a * u))
        in_bounds = _bounds_ok(u)
        if it % _CHECK_EVERY == 0 or it <= 2:
            err = float((a * u * _mv(kernel, a * u) - a).abs().sum())
            if err <= tol:
                return u, it, True
        if not in_bounds:
            return u, it, False
    return u, budget, False


def _certify(cost, f, g, eps, a, b):
    """Exact (dense, untruncated, float64) c-transform of f, then plan statistics."""
    g_b = g + eps * b.log()
    f = -eps * torch.logsumexp(torch.sub(g_b[None, :], cost).div_(eps), dim=1)
    plan = torch.sub((f + eps * a.log())[:, None], cost).add_(g_b[None, :]).div_(eps).exp_()
    mass = float(plan.sum())
    col_err = float((plan.sum(dim=0) - b).abs().sum())
    transport = float(plan.mul_(cost).sum())
    value = float(a @ f + b @ g) - eps * (mass - 1.0)
    return f, value, transport, col_err


def _schedule(start: float, eps: float, scaling: float) -> list[float]:
    """Geometric eps schedule ``start, start * scaling, ...`` ending exactly at ``eps``."""
    out = []
    e = start
    while e > eps:
        out.append(e)
        e *= scaling
    out.append(eps)
    return out


def solve(cost: torch.Tensor, settings: SinkhornSettings, *, symmetric: bool) -> EntropicOTResult:
    """eps-scaled stabilised sparse Sinkhorn on a cost matrix ``[N, M]``.

    ``symmetric=True`` (requires a symmetric cost with zero diagonal and equal
    weights) solves ``OT_eps(x, x)`` with the averaged symmetric update, ``g = f``.
    ``init="anneal"`` starts from zero potentials at ``eps = max(C)``;
    ``init="exact"`` starts from the exact-OT dual potentials at ``100 eps``.
    """
    # Below ~1M cost entries threads do not pay off anywhere: run fully single-threaded.
    # Larger problems keep torch's threads for the dense builds and the certification.
    small = cost.numel() < _SMALL_PROBLEM
    with single_threaded() if small else nullcontext():
        return _solve(cost, settings, symmetric)


def _solve(cost: torch.Tensor, settings: SinkhornSettings, symmetric: bool) -> EntropicOTResult:
    eps, tol, max_iter = settings.eps, settings.tol, settings.max_iter
    n, m = cost.shape
    a = torch.full((n,), 1.0 / n, dtype=torch.float64)
    b = torch.full((m,), 1.0 / m, dtype=torch.float64)
    f = torch.zeros(n, dtype=torch.float64)
    g = torch.zeros(m, dtype=torch.float64)
    c_max = float(cost.max())
    if settings.init == "anneal":
        schedule = _schedule(c_max, eps, settings.scaling)
    else:
        # Sinkhorn potentials tend to an optimal LP dual as eps -> 0. For OT(x, x)
        # (identity plan, C >= 0, zero diagonal) zero potentials are LP-optimal.
        if not symmetric:
            _, f, g = exact_ot(cost)
        schedule = _schedule(min(_WARM_START_FACTOR * eps, c_max), eps, settings.scaling)

    # float32 dense kernels are accurate to ~1e-6 in the marginals: only use them when
    # the tolerance is far above that (the final certification is float64 anyway)
    kernel = _TruncatedKernel(cost, torch.float32 if tol >= _FLOAT32_MIN_TOL else torch.float64)
    n_iter = 0
    for stage, e in enumerate(schedule):
        final = stage == len(schedule) - 1
        while True:
            if n_iter >= max_iter:
                raise RuntimeError(
                    f"Sinkhorn did not reach marginal tolerance {tol} within max_iter={max_iter} "
                    f"iterations (stage eps={e:.3g}, target eps={eps:.3g}, N={n}, M={m})"
                )
            if symmetric:
                k, _ = kernel.build(f, f, e, transpose=False)
                with single_threaded():
                    u, it, converged = _symmetric_loop(k, a, tol, max_iter - n_iter)
                f = f + e * u.log()
                g = f
            else:
                k, k_t = kernel.build(f, g, e)
                with single_threaded():
                    u, v, it, converged = _scaling_loop(k, k_t, a, b, tol, max_iter - n_iter)
                f = f + e * u.log()
                g = g + e * v.log()
            n_iter += it
            if converged and not final:
                break
            if converged:
                f_exact, value, transport, err = _certify(cost, f, g, e, a, b)
                if err <= tol:
                    return EntropicOTResult(value, transport, eps, err, n_iter)
                if not symmetric:
                    f = f_exact
    raise AssertionError("unreachable")
