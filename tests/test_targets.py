"""Tests for ads_bench.targets: each README *Targets* definition is checked independently.

Normalisation is checked by quadrature (or importance sampling), densities against
independent torch.distributions / numpy implementations, and exact samplers by closed-form
moments and Kolmogorov-Smirnov tests with fixed seeds.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from torch import distributions as D

import ads_bench.targets as targets_pkg
from ads_bench.targets import (
    TARGETS,
    Funnel,
    GaussianMixture,
    ManyWell,
    Target,
    UnknownTargetError,
    get_target,
    register_target,
)
from ads_bench.targets.manywell import proposal_log_prob

ALL_NAMES = ["gmm25", "gmm40", "gmm9", "funnel", "manywell"]
DIMS = {"gmm25": 2, "gmm40": 2, "gmm9": 2, "funnel": 10, "manywell": 32}
GMM_NAMES = ["gmm25", "gmm40", "gmm9"]
MANYWELL_Z_A = 11784.50927  # the reference value


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def double_well_unnorm(a: np.ndarray) -> np.ndarray:
    """Independent numpy version of exp(-a^4 + 6 a^2 + a/2)."""
    return np.exp(-(a**4) + 6 * a**2 + a / 2)


def grid_log_z(target: Target, half_width: float, step: float) -> float:
    """log of a Riemann sum of exp(log_prob) on a square grid (float64).

    For Gaussian mixtures with std >> step the uniform Riemann sum is exponentially accurate.
    """
    g = torch.arange(-half_width, half_width + step / 2, step, dtype=torch.float64)
    xx, yy = torch.meshgrid(g, g, indexing="ij")
    pts = torch.stack([xx, yy], dim=-1).reshape(-1, 2)
    lp = torch.cat([target.log_prob(chunk) for chunk in pts.split(100_000)])
    return float(torch.logsumexp(lp, 0) + 2 * math.log(step))


# --------------------------------------------------------------------------- definitions
@pytest.mark.parametrize(
    "name, half_width, step",
    [("gmm25", 16.0, 0.1), ("gmm9", 10.0, 0.1), ("gmm40", 48.0, 0.2)],
)
def test_gmm_log_z_by_quadrature(name: str, half_width: float, step: float) -> None:
    target = get_target(name)
    assert target.log_z == 0.0
    assert abs(grid_log_z(target, half_width, step)) < 1e-6


@pytest.mark.parametrize(
    "name, grid, var",
    [("gmm25", [-10, -5, 0, 5, 10], 0.3), ("gmm9", [-5, 0, 5], 0.3), ("gmm40", None, 1.0)],
)
def test_gmm_log_prob_matches_torch_distributions(name: str, grid: list | None, var: float) -> None:
    target = get_target(name)
    if grid is not None:
        means = torch.tensor([[a, b] for a in grid for b in grid], dtype=torch.float64)
        assert torch.equal(target.means.sort(0).values, means.sort(0).values)
    means = target.means
    k = means.shape[0]
    ref = D.MixtureSameFamily(
        D.Categorical(logits=torch.zeros(k, dtype=torch.float64)),
        D.MultivariateNormal(means, covariance_matrix=var * torch.eye(2, dtype=torch.float64)),
    )
    x = 1.3 * means[torch.randint(k, (500,), generator=gen(1))] + torch.randn(
        500, 2, generator=gen(2), dtype=torch.float64
    )
    torch.testing.assert_close(target.log_prob(x), ref.log_prob(x), rtol=1e-10, atol=1e-10)
    # at a mode of a well-separated mixture, density = (1/K) N(0; 0, var I)
    if grid is not None:
        at_mode = target.log_prob(means[:1])
        assert float(at_mode) == pytest.approx(-math.log(k) - math.log(2 * math.pi * var), abs=1e-9)


def test_gmm40_means_are_40_times_csv() -> None:
    csv_path = Path(targets_pkg.__file__).parent / "data" / "gmm40_2d_unit_locs.csv"
    lines = [ln for ln in csv_path.read_text().splitlines() if not ln.startswith("#")]
    assert lines[0].strip() == "x,y"
    locs = np.array([[float(v) for v in ln.split(",")] for ln in lines[1:] if ln.strip()])
    assert locs.shape == (40, 2)
    target = get_target("gmm40")
    assert target.means.shape == (40, 2)
    np.testing.assert_array_equal(target.means.numpy(), 40.0 * locs)
    assert len({tuple(r) for r in locs.tolist()}) == 40
    assert target.std == 1.0


def test_funnel_log_prob_matches_conditional_normals() -> None:
    target = get_target("funnel")
    assert target.dim == 10 and target.log_z == 0.0
    x = torch.randn(1000, 10, generator=gen(3), dtype=torch.float64) * 3.0
    x0 = x[:, 0]
    ref = D.Normal(0.0, 3.0).log_prob(x0) + D.Normal(
        torch.zeros_like(x0)[:, None], torch.exp(x0 / 2)[:, None]
    ).log_prob(x[:, 1:]).sum(-1)
    torch.testing.assert_close(target.log_prob(x), ref, rtol=1e-8, atol=1e-9)


def _funnel_log_z_transformed_grid(dim: int) -> float:
    """Quadrature of the funnel in coordinates (x0, y) with x_i = y_i exp(x0/2).

    The Jacobian is exp((dim-1) x0 / 2). Only the public log_prob is used.
    """
    f = Funnel(dim=dim)
    h0, hy = 0.25, 0.2
    x0 = torch.arange(-36.0, 36.0 + h0 / 2, h0, dtype=torch.float64)
    y = torch.arange(-9.0, 9.0 + hy / 2, hy, dtype=torch.float64)
    grids = torch.meshgrid(x0, *([y] * (dim - 1)), indexing="ij")
    pts = torch.stack(grids, -1).reshape(-1, dim)
    x = torch.cat([pts[:, :1], pts[:, 1:] * torch.exp(pts[:, :1] / 2)], dim=1)
    lw = f.log_prob(x) + (dim - 1) * pts[:, 0] / 2
    return float(torch.logsumexp(lw, 0) + math.log(h0) + (dim - 1) * math.log(hy))


@pytest.mark.parametrize("dim", [2, 3])
def test_funnel_log_z_by_quadrature(dim: int) -> None:
    assert abs(_funnel_log_z_transformed_grid(dim)) < 1e-6


def test_funnel_log_z_by_importance_sampling_d10() -> None:
    """IS in transformed coordinates with a proposal wider than the target (finite variance)."""
    target = get_target("funnel")
    n, s0, sy = 200_000, 4.0, 1.5
    g = gen(4)
    x0 = s0 * torch.randn(n, generator=g, dtype=torch.float64)
    yy = sy * torch.randn(n, 9, generator=g, dtype=torch.float64)
    log_q = D.Normal(0.0, s0).log_prob(x0) + D.Normal(0.0, sy).log_prob(yy).sum(-1)
    x = torch.cat([x0[:, None], yy * torch.exp(x0 / 2)[:, None]], dim=1)
    log_w = target.log_prob(x) + 9 * x0 / 2 - log_q
    w = torch.exp(log_w)
    z_hat, se = float(w.mean()), float(w.std() / math.sqrt(n))
    assert abs(z_hat - 1.0) < 5 * se
    assert se < 0.02  # the check has power to detect e.g. a wrong x0 scale


def test_manywell_constant_and_log_z() -> None:
    z_a, _ = integrate.quad(double_well_unnorm, -np.inf, np.inf, epsabs=0, epsrel=1e-12)
    assert z_a == pytest.approx(MANYWELL_Z_A, rel=1e-6)
    target = get_target("manywell")
    assert target.dim == 32
    assert target.log_z == pytest.approx(
        16 * (math.log(z_a) + 0.5 * math.log(2 * math.pi)), abs=1e-9
    )
    assert target.log_z == pytest.approx(164.6957, abs=1e-4)


def test_manywell_log_prob_layout() -> None:
    """Double-well coordinates at even indices, Gaussian ones at odd indices."""
    target = ManyWell()
    x = torch.randn(64, 32, generator=gen(5), dtype=torch.float64) * 2
    a, b = x[:, 0::2].numpy(), x[:, 1::2].numpy()
    ref = (-(a**4) + 6 * a**2 + a / 2 - b**2 / 2).sum(-1)
    np.testing.assert_allclose(target.log_prob(x).numpy(), ref, rtol=1e-12)
    e0 = torch.zeros(32, dtype=torch.float64)
    e0[0], e1 = 1.0, torch.zeros(32, dtype=torch.float64)
    e1[1] = 1.0
    assert float(target.log_prob(e0)) == pytest.approx(-1 + 6 + 0.5)
    assert float(target.log_prob(e1)) == pytest.approx(-0.5)


def test_manywell_log_z_small_by_quadrature() -> None:
    target = ManyWell(dim=2)
    assert abs(grid_log_z(target, 8.0, 0.02) - target.log_z) < 1e-6
    assert ManyWell(dim=4).log_z == pytest.approx(2 * target.log_z)


def test_manywell_rejection_envelope_is_valid() -> None:
    """sup_a p(a)/q(a) ~ 2.6 < 3 (envelope M = 3 Z_a)."""
    a = np.linspace(-8, 8, 400_001)
    p = double_well_unnorm(a) / MANYWELL_Z_A
    q = 0.2 * stats.norm.pdf(a, -1.7, 0.5) + 0.8 * stats.norm.pdf(a, 1.7, 0.5)
    ratio = p / q
    assert 2.5 < ratio.max() < 2.7
    assert ratio.max() <= 3.0
    # the module's proposal density agrees with the independent one
    at = torch.from_numpy(a[::1000])
    np.testing.assert_allclose(proposal_log_prob(at).exp().numpy(), q[::1000], rtol=1e-12)
    # beyond the grid the ratio only decreases: log p - log q -> -inf like -a^4
    far = torch.tensor([-50.0, -8.0, 8.0, 50.0], dtype=torch.float64)
    log_ratio = -(far**4) + 6 * far**2 + far / 2 - math.log(MANYWELL_Z_A) - proposal_log_prob(far)
    assert bool((log_ratio < 0).all())


# --------------------------------------------------------------------------- samplers
@pytest.mark.parametrize("name", GMM_NAMES)
def test_gmm_sample_moments(name: str) -> None:
    target = get_target(name)
    x = target.sample(100_000, gen(6), dtype=torch.float64)
    means = target.means
    var = target.std**2
    mu_ref = means.mean(0)
    cov_ref = torch.cov(means.T, correction=0) + var * torch.eye(2, dtype=torch.float64)
    n = x.shape[0]
    se_mu = x.std(0) / math.sqrt(n)
    assert bool(((x.mean(0) - mu_ref).abs() < 5 * se_mu).all())
    xc = x - x.mean(0)
    prods = xc[:, :, None] * xc[:, None, :]
    se_cov = prods.reshape(n, 4).std(0).reshape(2, 2) / math.sqrt(n)
    assert bool(((torch.cov(x.T, correction=0) - cov_ref).abs() < 5 * se_cov + 1e-9).all())


@pytest.mark.parametrize("name", ["gmm25", "gmm9"])
def test_gmm_component_covariance_and_mode_weights(name: str) -> None:
    """Residual to the nearest mode has covariance 0.3 I; modes are equally likely."""
    target = get_target(name)
    n = 100_000
    x = target.sample(n, gen(7), dtype=torch.float64)
    comp = torch.cdist(x, target.means).argmin(1)
    resid = x - target.means[comp]
    v = resid.var(0)
    se = 0.3 * math.sqrt(2 / n)
    assert bool(((v - 0.3).abs() < 5 * se).all())
    counts = torch.bincount(comp, minlength=target.means.shape[0]).numpy()
    assert stats.chisquare(counts).pvalue > 1e-3


def test_gmm_samples_are_shuffled() -> None:
    target = get_target("gmm25")
    x = target.sample(2_000, gen(8), dtype=torch.float64)
    comp = torch.cdist(x, target.means).argmin(1)
    assert len(set(comp[:100].tolist())) >= 15  # expected ~24.5 distinct modes
    same_as_prev = (comp[1:] == comp[:-1]).float().mean().item()
    assert same_as_prev < 0.1  # i.i.d. labels: ~1/25; grouped output would be ~1
    assert not bool((comp[1:] >= comp[:-1]).all())


def test_funnel_samples() -> None:
    target = get_target("funnel")
    n = 100_000
    x = target.sample(n, gen(9), dtype=torch.float64)
    x0 = x[:, 0]
    se_var = 9.0 * math.sqrt(2 / n)
    assert abs(float(x0.var()) - 9.0) < 5 * se_var
    assert abs(float(x0.mean())) < 5 * 3.0 / math.sqrt(n)
    assert stats.kstest((x0 / 3).numpy(), "norm").pvalue > 1e-3
    z = (x[:, 1:] / torch.exp(x0 / 2)[:, None]).numpy()
    assert abs(z.mean()) < 5 / math.sqrt(z.size)
    assert abs(z.var() - 1.0) < 5 * math.sqrt(2 / z.size)
    assert stats.kstest(z.ravel()[:200_000], "norm").pvalue > 1e-3
    # the conditional standardisation is uncorrelated with the neck coordinate
    assert abs(np.corrcoef(np.abs(z[:, 0]), x0.numpy())[0, 1]) < 5 / math.sqrt(n)


def test_manywell_samples() -> None:
    target = get_target("manywell")
    x = target.sample(20_000, gen(10), dtype=torch.float64)
    assert x.shape == (20_000, 32)
    a = x[:, 0::2].numpy().ravel()
    b = x[:, 1::2].numpy().ravel()
    m1 = integrate.quad(lambda t: t * double_well_unnorm(t), -8, 8, limit=200)[0] / MANYWELL_Z_A
    m2 = integrate.quad(lambda t: t * t * double_well_unnorm(t), -8, 8, limit=200)[0] / MANYWELL_Z_A
    p_pos = integrate.quad(double_well_unnorm, 0, 8, limit=200)[0] / MANYWELL_Z_A
    n = a.size
    sd = math.sqrt(m2 - m1**2)
    assert abs(a.mean() - m1) < 5 * sd / math.sqrt(n)
    sd2 = math.sqrt(np.var(a**2))
    assert abs((a**2).mean() - m2) < 5 * sd2 / math.sqrt(n)
    assert abs((a > 0).mean() - p_pos) < 5 * math.sqrt(p_pos * (1 - p_pos) / n)
    # Kolmogorov-Smirnov against the quadrature CDF
    grid = np.linspace(-6, 6, 120_001)
    cdf = integrate.cumulative_trapezoid(double_well_unnorm(grid), grid, initial=0.0)
    cdf /= cdf[-1]
    assert stats.kstest(a, lambda t: np.interp(t, grid, cdf)).pvalue > 1e-3
    # b ~ N(0, 1)
    assert stats.kstest(b, "norm").pvalue > 1e-3
    # blocks are independent: the double wells of block 0 and 1 are uncorrelated
    assert abs(np.corrcoef(x[:, 0].numpy(), x[:, 2].numpy())[0, 1]) < 5 / math.sqrt(20_000)


# --------------------------------------------------------------------------- numerics & API
@pytest.mark.parametrize("name", GMM_NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gmm_far_from_modes_finite(name: str, dtype: torch.dtype) -> None:
    target = get_target(name)
    x = torch.tensor([[1000.0, -1000.0], [-1e4, 3e3]], dtype=dtype)
    lp = target.log_prob(x)
    grad = target.score(x)
    assert bool(torch.isfinite(lp).all()) and bool(torch.isfinite(grad).all())
    # far away the score points to the nearest mode: -(x - mu_nearest) / var
    x64 = x.double()
    nearest = target.means[torch.cdist(x64, target.means).argmin(1)]
    torch.testing.assert_close(
        grad.double(), -(x64 - nearest) / target.std**2, rtol=1e-4, atol=1e-3
    )


def test_score_matches_analytic_funnel_and_manywell() -> None:
    f = get_target("funnel")
    x = torch.randn(7, 10, generator=gen(11), dtype=torch.float64)
    s = f.score(x)
    x0, r = x[:, 0], x[:, 1:]
    ds0 = -x0 / 9 + 0.5 * (r**2).sum(-1) * torch.exp(-x0) - 9 / 2
    torch.testing.assert_close(s[:, 0], ds0)
    torch.testing.assert_close(s[:, 1:], -r * torch.exp(-x0)[:, None])
    mw = get_target("manywell")
    y = torch.randn(3, 5, 32, dtype=torch.float64, generator=gen(12))
    sm = mw.score(y)
    a, b = y[..., 0::2], y[..., 1::2]
    torch.testing.assert_close(sm[..., 0::2], -4 * a**3 + 12 * a + 0.5)
    torch.testing.assert_close(sm[..., 1::2], -b)
    assert not y.requires_grad


def test_score_create_graph() -> None:
    f = get_target("gmm9")
    x = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    s = f.score(x, create_graph=True)
    s.sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())


@pytest.mark.parametrize("name", ALL_NAMES)
def test_shapes_dtypes_and_reproducibility(name: str) -> None:
    t = get_target(name)
    d = DIMS[name]
    assert t.dim == d and t.name == name and t.has_sample
    assert t.log_prob(torch.zeros(5, d)).shape == (5,)
    assert t.log_prob(torch.zeros(3, 4, d)).shape == (3, 4)
    assert t.log_prob(torch.zeros(d)).shape == ()
    assert t.log_prob(torch.zeros(5, d)).dtype == torch.float32
    assert t.log_prob(torch.zeros(5, d, dtype=torch.float64)).dtype == torch.float64
    batched = torch.randn(3, 4, d, generator=gen(13))
    torch.testing.assert_close(t.log_prob(batched).reshape(-1), t.log_prob(batched.reshape(-1, d)))
    s1, s2 = t.sample(50, gen(14)), t.sample(50, gen(14))
    assert s1.shape == (50, d) and s1.dtype == torch.float32 and s1.device.type == "cpu"
    assert torch.equal(s1, s2)
    assert not torch.equal(s1, t.sample(50, gen(15)))
    assert t.sample(7, gen(1), dtype=torch.float64).dtype == torch.float64
    assert t.sample(0).shape == (0, d)
    assert t.sample(3).shape == (3, d)  # default generator
    assert torch.isfinite(t.log_prob(s1)).all()


@pytest.mark.parametrize("name", ALL_NAMES)
def test_input_validation(name: str) -> None:
    t = get_target(name)
    d = DIMS[name]
    with pytest.raises(ValueError, match=rf"\[\.\.\., {d}\].*\[4, {d + 1}\]"):
        t.log_prob(torch.zeros(4, d + 1))
    with pytest.raises(TypeError, match="floating"):
        t.log_prob(torch.zeros(4, d, dtype=torch.long))
    with pytest.raises(ValueError, match="non-negative"):
        t.sample(-1)
    with pytest.raises(TypeError, match="floating"):
        t.sample(2, dtype=torch.int64)


def test_buffers_follow_dtype_conversion() -> None:
    t = get_target("gmm25")
    assert isinstance(t, torch.nn.Module) and t.means.dtype == torch.float64
    t32 = get_target("gmm25").float()
    assert t32.means.dtype == torch.float32
    x = torch.randn(6, 2, dtype=torch.float64)
    out = t32.log_prob(x)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, t.log_prob(x), rtol=1e-6, atol=1e-6)
    assert "means" in dict(t.named_buffers())


# --------------------------------------------------------------------------- registry
def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(KeyError) as ei:
        get_target("gmm26")
    msg = str(ei.value)
    for name in ALL_NAMES:
        assert name in msg
    with pytest.raises(ValueError, match="manywell"):
        get_target("nope")
    assert isinstance(ei.value, UnknownTargetError)


def test_kwargs_forwarded_and_case_insensitive() -> None:
    assert get_target("funnel", dim=5).dim == 5
    assert get_target("ManyWell", dim=8).log_z == pytest.approx(4 * ManyWell(dim=2).log_z)
    with pytest.raises(ValueError, match="even"):
        get_target("manywell", dim=7)
    t = get_target("gmm9")
    assert get_target(t) is t
    with pytest.raises(TypeError, match="keyword"):
        get_target(t, dim=3)


def test_register_target() -> None:
    @register_target("test-shifted-gauss")
    def make(shift: float = 0.0) -> GaussianMixture:
        return GaussianMixture(torch.tensor([[shift, 0.0]]), 1.0, name="test-shifted-gauss")

    try:
        assert TARGETS["test-shifted-gauss"] is make
        t = get_target("test-shifted-gauss", shift=2.0)
        assert float(t.means[0, 0]) == 2.0
        with pytest.raises(KeyError, match="test-shifted-gauss"):
            get_target("zzz")
        with pytest.raises(ValueError, match="already registered"):
            register_target("test-shifted-gauss")(lambda: None)
    finally:
        TARGETS.pop("test-shifted-gauss", None)


def test_import_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ads_user_targets_mod.py").write_text(
        textwrap.dedent(
            """
            import torch
            from ads_bench.targets import Target

            class Iso(Target):
                name = "iso"
                def __init__(self, dim=3, sigma=1.0):
                    super().__init__(dim, log_z=0.0)
                    self.sigma = sigma
                def _log_prob(self, x):
                    return torch.distributions.Normal(0.0, self.sigma).log_prob(x).sum(-1)

            INSTANCE = Iso(dim=4)

            class Duck:
                dim = 2
                def log_prob(self, x):
                    return -0.5 * (x ** 2).sum(-1)

            DUCK = Duck()

            def make_duck():
                return Duck()
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    t = get_target("ads_user_targets_mod:Iso", dim=5, sigma=2.0)
    assert isinstance(t, Target) and t.dim == 5 and t.sigma == 2.0
    assert get_target("ads_user_targets_mod:INSTANCE").dim == 4
    duck = get_target("ads_user_targets_mod:DUCK")
    assert duck.dim == 2 and duck.log_z is None
    assert get_target("ads_user_targets_mod:make_duck").dim == 2
    with pytest.raises(ImportError, match="no_such_module_xyz"):
        get_target("no_such_module_xyz:Foo")
    with pytest.raises(AttributeError, match="Missing"):
        get_target("ads_user_targets_mod:Missing")


def test_duck_typed_objects_are_wrapped() -> None:
    class WithSampler(torch.nn.Module):
        dim = 3
        log_z = 1.5

        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("loc", torch.ones(3))

        def log_prob(self, x: torch.Tensor) -> torch.Tensor:
            return -0.5 * ((x - self.loc.to(x)) ** 2).sum(-1) + 1.5

        def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
            return self.loc + torch.randn(n, 3, generator=generator)

    class NoSampler:
        dim = 2

        def log_prob(self, x: torch.Tensor) -> torch.Tensor:
            return -(x**2).sum(-1)

    w = get_target(WithSampler())
    assert isinstance(w, Target) and w.log_z == 1.5 and w.dim == 3 and w.has_sample
    assert torch.equal(w.sample(10, gen(1)), w.sample(10, gen(1)))
    assert w.sample(4, dtype=torch.float64).dtype == torch.float64
    assert w.log_prob(torch.zeros(2, 5, 3)).shape == (2, 5)
    assert w.score(torch.ones(2, 3)).abs().max() == 0
    w.double()
    assert w.wrapped.loc.dtype == torch.float64  # the wrapped module moved with the adapter
    with pytest.raises(ValueError, match=r"\[\.\.\., 3\]"):
        w.log_prob(torch.zeros(4, 2))

    ns = get_target(NoSampler())
    assert ns.log_z is None and not ns.has_sample
    with pytest.raises(NotImplementedError, match="no exact samples"):
        ns.sample(3)


def test_callable_log_density_and_missing_attributes() -> None:
    def log_density(x: torch.Tensor) -> torch.Tensor:
        return -0.5 * (x**2).sum(-1)

    t = get_target(log_density, dim=4, log_z=2 * math.log(2 * math.pi))
    assert t.dim == 4 and t.log_z == pytest.approx(2 * math.log(2 * math.pi))
    assert t.log_prob(torch.zeros(3, 4)).shape == (3,)
    with pytest.raises(NotImplementedError):
        t.sample(2)
    with pytest.raises(TypeError, match="dim"):
        get_target(log_density)

    class NoDim:
        def log_prob(self, x: torch.Tensor) -> torch.Tensor:
            return x.sum(-1)

    class NoLogProb:
        dim = 2

    with pytest.raises(TypeError, match="dim"):
        get_target(NoDim())
    with pytest.raises(TypeError, match="log_prob"):
        get_target(NoLogProb())
    with pytest.raises(TypeError, match="log_prob"):
        get_target(42)
