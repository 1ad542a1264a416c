"""Tests for ads_bench.metrics: every metric is checked against a case with a known answer."""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pytest
import torch

from ads_bench.metrics import (
    delta_logz,
    elbo,
    emc,
    entropic_ot,
    ess,
    eubo,
    evaluate_log_weights,
    evaluate_samples,
    exact_ot,
    logw_var,
    logz_is,
    mmd,
    mmd2,
    mode_histogram,
    modes_covered,
    sinkhorn,
    w2,
)

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=_gen(seed), dtype=F64)


# --------------------------------------------------------------------------- log Z / ESS


def test_logz_is_constant_and_large_values():
    assert logz_is(torch.full((100,), 3.25, dtype=F64)) == pytest.approx(3.25, abs=1e-12)
    big = logz_is(torch.full((1000,), 1e4, dtype=F64))
    assert math.isfinite(big)
    assert big == pytest.approx(1e4, abs=1e-9)
    assert logz_is(torch.full((10,), 1e4, dtype=torch.float32)) == pytest.approx(1e4, rel=1e-7)


def test_logz_is_matches_direct_and_handles_neg_inf():
    lw = _randn(500, seed=1)
    direct = math.log(float(torch.exp(lw).mean()))
    assert logz_is(lw) == pytest.approx(direct, abs=1e-12)
    # zero weights drop out of the mean: log((2 + 0) / 2) = 0
    assert logz_is(torch.tensor([math.log(2.0), -math.inf], dtype=F64)) == pytest.approx(0.0)
    assert logz_is(torch.full((3,), -math.inf, dtype=F64)) == -math.inf


def test_elbo_eubo_means_and_neg_inf():
    lw = torch.tensor([1.0, 2.0, 6.0], dtype=F64)
    assert elbo(lw) == pytest.approx(3.0)
    assert eubo(lw) == pytest.approx(3.0)
    assert elbo(torch.tensor([0.0, -math.inf], dtype=F64)) == -math.inf


def test_ess_known_cases():
    n = 64
    assert ess(torch.full((n,), -7.5, dtype=F64)) == pytest.approx(1.0, abs=1e-12)
    assert ess(torch.full((n,), 1e4, dtype=F64)) == pytest.approx(1.0, abs=1e-12)
    dominant = torch.full((n,), -1e4, dtype=F64)
    dominant[3] = 0.0
    assert ess(dominant) == pytest.approx(1.0 / n, rel=1e-12)
    # zero weights count in N: (1 + 1)^2 / (4 * 2) = 0.5
    half = torch.tensor([0.0, 0.0, -math.inf, -math.inf], dtype=F64)
    assert ess(half) == pytest.approx(0.5, abs=1e-12)


def test_ess_matches_numpy_on_random_weights():
    lw = _randn(1000, seed=2) * 2.0
    w = np.exp(lw.numpy())
    expected = w.sum() ** 2 / (len(w) * (w**2).sum())
    assert ess(lw) == pytest.approx(expected, rel=1e-10)
    assert 0.0 < ess(lw) < 1.0


def test_elbo_le_logz_le_eubo_gaussian_pair():
    """p~ = Z N(0,1), q = N(mu,s^2): E_q log w = log Z - KL(q||p), E_p log w = log Z + KL(p||q)."""
    log_z, mu, s, n = 1.7, 0.5, 1.3, 200_000

    def log_w(x: torch.Tensor) -> torch.Tensor:
        log_p_tilde = log_z - 0.5 * x**2 - 0.5 * math.log(2 * math.pi)
        log_q = -0.5 * ((x - mu) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)
        return log_p_tilde - log_q

    kl_qp = -math.log(s) + 0.5 * (s**2 + mu**2) - 0.5
    kl_pq = math.log(s) + (1.0 + mu**2) / (2 * s**2) - 0.5
    lw_fwd = log_w(mu + s * _randn(n, seed=3))  # x ~ q
    lw_bwd = log_w(_randn(n, seed=4))  # x ~ p
    se_fwd = float(lw_fwd.std()) / math.sqrt(n)
    se_bwd = float(lw_bwd.std()) / math.sqrt(n)

    lo, hi = elbo(lw_fwd), eubo(lw_bwd)
    assert abs(lo - (log_z - kl_qp)) < 5 * se_fwd
    assert abs(hi - (log_z + kl_pq)) < 5 * se_bwd
    assert lo < log_z < hi
    assert logz_is(lw_fwd) == pytest.approx(log_z, abs=0.01)

    out = evaluate_log_weights(lw_fwd, log_z=log_z, log_w_bwd=lw_bwd)
    assert set(out) == {
        "elbo",
        "logz_is",
        "ess",
        "logw_var",
        "eubo",
        "delta_logz_elbo",
        "delta_logz_is",
        "delta_logz_eubo",
    }
    assert all(type(v) is float for v in out.values())
    assert out["delta_logz_elbo"] == pytest.approx(kl_qp, abs=5 * se_fwd)
    assert out["delta_logz_eubo"] == pytest.approx(kl_pq, abs=5 * se_bwd)
    assert out["logw_var"] == logw_var(lw_fwd)
    assert set(evaluate_log_weights(lw_fwd)) == {"elbo", "logz_is", "ess", "logw_var"}


def test_logw_var_known_cases():
    lw = _randn(500, seed=27) * 3.0 + 2.0
    assert logw_var(lw) == pytest.approx(float(torch.var(lw, unbiased=True)), rel=1e-12)
    assert logw_var(lw) == pytest.approx(float(np.var(lw.numpy(), ddof=1)), rel=1e-12)
    assert type(logw_var(lw.float())) is float
    assert logw_var(torch.tensor([1.0, 2.0, 6.0], dtype=F64)) == pytest.approx(7.0)
    # constant log-weights (a perfect sampler): exactly 0, also at large magnitude
    assert logw_var(torch.full((64,), -7.5, dtype=F64)) == 0.0
    assert logw_var(torch.full((64,), 1e4, dtype=F64)) == 0.0
    # zero weights (-inf) are left out; fewer than two finite entries: undefined
    assert logw_var(torch.tensor([1.0, -math.inf, 2.0, 6.0], dtype=F64)) == pytest.approx(7.0)
    assert math.isnan(logw_var(torch.tensor([3.0, -math.inf], dtype=F64)))
    with pytest.raises(ValueError, match="NaN"):
        logw_var(torch.tensor([0.0, float("nan")]))


def test_delta_logz():
    assert delta_logz(1.0, 3.5) == 2.5
    assert delta_logz(torch.tensor(-2.0), -1.0) == 1.0
    assert delta_logz(-math.inf, 0.0) == math.inf
    with pytest.raises(ValueError, match="NaN"):
        delta_logz(float("nan"), 0.0)


# --------------------------------------------------------------------------- W2


def test_w2_shift_and_permutation():
    x = _randn(200, 3, seed=5)
    v = torch.tensor([0.3, -1.2, 2.0], dtype=F64)
    assert w2(x, x + v) == pytest.approx(float(v.norm()), rel=1e-9)
    perm = torch.randperm(200, generator=_gen(6))
    assert w2(x, x[perm]) == pytest.approx(0.0, abs=1e-6)


def test_w2_hand_computed_cases():
    # 1-D, 3 points: monotone matching 0->2, 1->5, 3->6 is optimal, W2^2 = (4 + 16 + 9) / 3.
    x = torch.tensor([[0.0], [1.0], [3.0]], dtype=F64)
    y = torch.tensor([[6.0], [2.0], [5.0]], dtype=F64)
    assert w2(x, y) == pytest.approx(math.sqrt(29.0 / 3.0), rel=1e-12)
    # unequal sizes: each x atom (mass 1/2) splits over its two neighbours (mass 1/4 each).
    x2 = torch.tensor([[0.0, 0.0], [10.0, 0.0]], dtype=F64)
    y2 = torch.tensor([[0.0, 0.0], [1.0, 0.0], [9.0, 0.0], [10.0, 0.0]], dtype=F64)
    assert w2(x2, y2) == pytest.approx(math.sqrt(0.5), rel=1e-12)


def test_w2_matches_brute_force_assignment():
    x, y = _randn(6, 2, seed=7), _randn(6, 2, seed=8)
    c = torch.cdist(x, y) ** 2
    best = min(sum(float(c[i, p[i]]) for i in range(6)) for p in itertools.permutations(range(6)))
    assert w2(x, y) == pytest.approx(math.sqrt(best / 6), rel=1e-10)


def test_exact_ot_duals_are_feasible_and_tight():
    x, y = _randn(40, 2, seed=33), _randn(30, 2, seed=34)
    cost = torch.cdist(x, y) ** 2
    value, u, v = exact_ot(cost)
    assert value == pytest.approx(w2(x, y) ** 2, rel=1e-12)
    assert float((u[:, None] + v[None, :] - cost).max()) < 1e-8  # dual feasible
    assert float(u.mean() + v.mean()) == pytest.approx(value, rel=1e-9)  # strong duality


def test_w2_raises_when_not_converged():
    with pytest.raises(RuntimeError, match="did not converge"):
        w2(_randn(50, 2, seed=9), _randn(50, 2, seed=10), num_iter_max=5)


# --------------------------------------------------------------------------- Sinkhorn


def _reference_entropic_ot(x: torch.Tensor, y: torch.Tensor, eps: float) -> float:
    """Plain dense log-domain Sinkhorn, primal objective <pi, C> + eps KL(pi || a b)."""
    c = torch.cdist(x, y) ** 2
    la = torch.full((x.shape[0],), -math.log(x.shape[0]), dtype=F64)
    lb = torch.full((y.shape[0],), -math.log(y.shape[0]), dtype=F64)
    f, g = torch.zeros_like(la), torch.zeros_like(lb)
    for _ in range(3000):
        g = -eps * torch.logsumexp(la[:, None] + (f[:, None] - c) / eps, dim=0)
        f = -eps * torch.logsumexp(lb[None, :] + (g[None, :] - c) / eps, dim=1)
    log_pi = la[:, None] + lb[None, :] + (f[:, None] + g[None, :] - c) / eps
    pi = log_pi.exp()
    return float((pi * c).sum() + eps * (pi * (log_pi - la[:, None] - lb[None, :])).sum())


def test_entropic_ot_matches_reference_value_definition():
    x, y = _randn(6, 2, seed=11), 1.5 * _randn(5, 2, seed=12) + 1.0
    for eps in (2.0, 0.5):
        r = entropic_ot(x, y, eps=eps, tol=1e-9)
        assert r.eps == eps
        assert r.value == pytest.approx(_reference_entropic_ot(x, y, eps), rel=1e-8)


def test_sinkhorn_single_points_is_squared_distance():
    r = sinkhorn(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]]))
    assert r.value == pytest.approx(25.0, rel=1e-12)
    assert r.eps == 1e-3


def test_sinkhorn_zero_positive_symmetric():
    x, y = _randn(150, 2, seed=13), _randn(150, 2, seed=14) + 0.5
    threads = torch.get_num_threads()
    assert sinkhorn(x, x.clone()).value == 0.0
    assert sinkhorn(x, x + 1e-7 * _randn(150, 2, seed=15)).value >= 0.0
    s_xy, s_yx = sinkhorn(x, y), sinkhorn(y, x)
    assert torch.get_num_threads() == threads  # the solver restores the thread setting
    assert s_xy.value > 0.1
    assert s_xy.value == pytest.approx(s_yx.value, rel=1e-5)
    assert s_xy.marginal_error <= 1e-3
    assert set(s_xy.as_dict()) >= {"value", "eps", "ot_xy", "ot_xx", "ot_yy", "transport_cost"}


def test_sinkhorn_inits_agree_on_multimodal_sets():
    means = torch.tensor([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0], [8.0, 8.0]], dtype=F64)
    idx_x = torch.randint(0, 4, (200,), generator=_gen(29))
    idx_y = torch.randint(0, 4, (200,), generator=_gen(30))
    x = means[idx_x] + 0.5 * _randn(200, 2, seed=31)
    y = means[idx_y] + 0.5 * _randn(200, 2, seed=32)
    exact, anneal = sinkhorn(x, y, init="exact"), sinkhorn(x, y, init="anneal")
    assert exact.value == pytest.approx(anneal.value, rel=1e-4)
    assert exact.value == pytest.approx(w2(x, y) ** 2, rel=1e-3)
    with pytest.raises(ValueError, match="init"):
        sinkhorn(x, y, init="zeros")


def test_sinkhorn_unequal_sizes_and_iteration_cap():
    x, y = _randn(300, 2, seed=27), _randn(200, 2, seed=28) + 1.0
    assert sinkhorn(x, y).value == pytest.approx(w2(x, y) ** 2, rel=1e-3)
    with pytest.raises(RuntimeError, match="did not reach marginal tolerance"):
        sinkhorn(x, y, max_iter=5)


def test_sinkhorn_tends_to_w2_squared():
    x, y = _randn(30, 2, seed=15), 1.5 * _randn(30, 2, seed=16) + 1.0
    w2_sq = w2(x, y) ** 2
    gaps = []
    for eps in (1.0, 0.1, 0.01, 0.001):
        r = sinkhorn(x, y, eps=eps, tol=1e-5)
        assert r.value >= 0.0
        gaps.append(abs(r.value - w2_sq))
    assert gaps == sorted(gaps, reverse=True)
    assert gaps[0] > 0.05  # large eps is visibly biased
    assert gaps[-1] < 1e-3 * w2_sq
    assert r.transport_cost == pytest.approx(w2_sq, rel=1e-3)


def test_sinkhorn_n2000_fast_and_accurate():
    n = 2000
    x = _randn(n, 2, seed=17)
    y = _randn(n, 2, seed=18) + torch.tensor([6.0, 8.0], dtype=F64)  # means 10 apart
    w2_sq = w2(x, y) ** 2
    t0 = time.perf_counter()
    r = sinkhorn(x, y)
    elapsed = time.perf_counter() - t0
    assert r.value == pytest.approx(w2_sq, rel=1e-3)
    assert 95.0 < r.value < 105.0
    # ~2 s on an idle 2-core CPU; generous bound for a machine shared with other jobs
    assert elapsed < 20.0, f"sinkhorn took {elapsed:.1f}s at N=2000"


# --------------------------------------------------------------------------- MMD


def _mmd2_double_loop(x, y, hs, unbiased):
    def k(a, b):
        d2 = float(((a - b) ** 2).sum())
        return sum(math.exp(-d2 / (2 * h * h)) for h in hs)

    def mean_k(a, b, skip_diag):
        tot, cnt = 0.0, 0
        for i in range(len(a)):
            for j in range(len(b)):
                if skip_diag and i == j:
                    continue
                tot += k(a[i], b[j])
                cnt += 1
        return tot / cnt

    return mean_k(x, x, unbiased) + mean_k(y, y, unbiased) - 2 * mean_k(x, y, False)


def test_mmd_matches_double_loop():
    x, y = _randn(4, 2, seed=19), _randn(3, 2, seed=20) + 0.7
    for hs in ((0.01, 0.1, 1.0, 10.0, 100.0), (0.5, 2.0)):
        for unbiased in (False, True):
            expected = _mmd2_double_loop(x, y, hs, unbiased)
            got = mmd2(x, y, hs, unbiased=unbiased)
            assert got == pytest.approx(expected, rel=1e-10, abs=1e-14)
        assert mmd(x, y, hs) == pytest.approx(math.sqrt(_mmd2_double_loop(x, y, hs, False)))


def test_mmd_zero_for_identical_and_grows_with_shift():
    x = _randn(300, 2, seed=21)
    assert mmd(x, x.clone()) == 0.0
    small, large = mmd(x, x + 0.2), mmd(x, x + 2.0)
    assert 0.0 < small < large
    # chunking does not change the value
    assert mmd(x, x + 0.2, chunk_size=64) == pytest.approx(small, rel=1e-10)
    # unbiased estimator is ~0 for two samples of the same law
    assert abs(mmd2(x, _randn(300, 2, seed=22), unbiased=True)) < 0.01


# --------------------------------------------------------------------------- EMC


MEANS = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]], dtype=F64)


def test_emc_known_histograms():
    noise = 0.1 * _randn(20, 2, seed=23)
    balanced = MEANS.repeat(5, 1) + noise  # 5 samples per mode
    assert emc(balanced, MEANS) == pytest.approx(1.0, abs=1e-12)
    collapsed = MEANS[2] + noise
    assert emc(collapsed, MEANS) == 0.0
    # counts (2, 1, 1, 0): H = 1.5 bits, normalised by log2(4) = 2 bits -> 0.75
    partial = MEANS[[0, 0, 1, 2]] + 0.1 * _randn(4, 2, seed=24)
    assert mode_histogram(partial, MEANS).tolist() == [2, 1, 1, 0]
    assert emc(partial, MEANS) == pytest.approx(0.75, abs=1e-12)
    assert emc(partial, MEANS[:1]) == 1.0


def test_modes_covered_counts_modes_with_a_tenth_of_their_share():
    # 40 samples over 4 modes: expected share 10, a tenth of it is 1 sample
    counts = [30, 9, 1, 0]
    x = torch.cat([MEANS[k].repeat(c, 1) for k, c in enumerate(counts)]) + 0.01
    assert mode_histogram(x, MEANS).tolist() == counts
    assert modes_covered(x, MEANS) == 3
    assert modes_covered(x, MEANS, share=0.95) == 1  # needs >= 9.5 samples
    assert modes_covered(MEANS[2] + 0.1 * _randn(20, 2, seed=27), MEANS) == 1
    with pytest.raises(ValueError, match="share"):
        modes_covered(x, MEANS, share=0.0)


# --------------------------------------------------------------------------- evaluate / validation


def test_evaluate_samples_keys_and_values():
    x = MEANS.repeat(25, 1) + _randn(100, 2, seed=25)
    y = MEANS.repeat(25, 1) + _randn(100, 2, seed=26)
    out = evaluate_samples(x, y, means=MEANS)
    assert set(out) == {"w2", "sinkhorn", "sinkhorn_eps", "mmd", "emc", "modes"}
    assert all(type(v) is float for k, v in out.items() if k != "modes")
    assert out["modes"] == 4
    assert out["sinkhorn_eps"] == 1e-3
    assert out["sinkhorn"] == pytest.approx(out["w2"] ** 2, rel=1e-2)
    assert out["emc"] == pytest.approx(1.0, abs=0.02)
    assert "emc" not in evaluate_samples(x, y)


def test_log_weight_validation_messages():
    bad = torch.tensor([0.0, float("nan"), 1.0, float("nan")])
    with pytest.raises(ValueError, match="2 NaN"):
        elbo(bad)
    with pytest.raises(ValueError, match=r"1 \+inf"):
        logz_is(torch.tensor([0.0, math.inf]))
    with pytest.raises(ValueError, match=r"1-D.*\(2, 3\)"):
        ess(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="non-empty"):
        eubo(torch.zeros(0))
    with pytest.raises(TypeError, match="floating"):
        elbo(torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="all 3 weights are zero"):
        ess(torch.full((3,), -math.inf))
    with pytest.raises(ValueError, match="log_w_bwd"):
        evaluate_log_weights(torch.zeros(3), log_w_bwd=torch.tensor([float("nan")]))


def test_sample_validation_messages():
    x, y3 = torch.zeros(5, 2), torch.zeros(5, 3)
    for fn in (w2, sinkhorn, mmd):
        with pytest.raises(ValueError, match=r"\(5, 2\).*\(5, 3\)"):
            fn(x, y3)
    with pytest.raises(ValueError, match=r"2-D.*\(5,\)"):
        w2(torch.zeros(5), x)
    with pytest.raises(ValueError, match="1 NaN"):
        mmd(x, torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(ValueError, match=r"samples.*\(5, 2\).*means.*\(4, 3\)"):
        emc(x, torch.zeros(4, 3))
    with pytest.raises(ValueError, match="eps"):
        sinkhorn(x, x, eps=0.0)
    with pytest.raises(ValueError, match="bandwidths"):
        mmd(x, x, bandwidths=(1.0, -2.0))
