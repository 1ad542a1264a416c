"""ads_bench.analysis: paired-seed statistics on known numbers, the halving score, table helpers."""

from __future__ import annotations

import math

import pytest

from ads_bench.analysis.halving import mean_ranks, rung_order, survivors
from ads_bench.analysis.paired import (
    finite,
    mean_ci,
    mean_std,
    paired_differences,
    paired_effect,
    significance,
    t_quantile,
)
from ads_bench.analysis.runs import diverged, record_metric
from ads_bench.analysis.tables import fmt, mark_best, md_table, mean_cell, tex_escape
from ads_bench.sweep.records import RunRecord
from ads_bench.sweep.specs import RunSpec


def test_paired_ci_on_known_numbers():
    # a - b = 1, 2, 3: mean 2, sample std 1, t_{0.975, 2} = 4.303, half-width 4.303 / sqrt(3)
    diffs = paired_differences({0: 2.0, 1: 4.0, 2: 6.0, 9: 1.0}, {0: 1.0, 1: 2.0, 2: 3.0})
    assert diffs == [1.0, 2.0, 3.0]  # seed 9 is unpaired
    m, lo, hi = mean_ci(diffs)
    half = 4.303 / math.sqrt(3)
    assert m == pytest.approx(2.0)
    assert (lo, hi) == (pytest.approx(2.0 - half), pytest.approx(2.0 + half))
    effect = paired_effect("a − b", diffs)
    assert effect == {"comparison": "a − b", "n": 3, "mean": m, "ci_low": lo, "ci_high": hi}
    assert significance(3, lo, hi) == 0  # 2 - 2.484 < 0: the interval straddles 0
    tight = mean_ci([2.0, 2.1, 2.2, 2.3, 2.4])  # std 0.158, t_4 = 2.776: [2.004, 2.396]
    assert tight[1] == pytest.approx(2.2 - 2.776 * math.sqrt(0.025) / math.sqrt(5))
    assert significance(5, tight[1], tight[2]) == 1
    assert significance(5, -tight[2], -tight[1]) == -1


def test_paired_differences_sign_and_non_finite_seeds():
    a = {0: 1.0, 1: math.nan, 2: None, 3: 5.0}
    b = {0: 3.0, 1: 1.0, 2: 1.0, 3: math.inf}
    assert paired_differences(a, b, sign=-1.0) == [2.0]


def test_interval_edge_cases_and_quantiles():
    assert mean_ci([]) == (None, None, None)
    assert mean_ci([1.5]) == (1.5, -math.inf, math.inf)
    assert significance(0, None, None) == 0 and significance(1, -math.inf, math.inf) == 0
    assert t_quantile(1) == 12.706 and t_quantile(4) == 2.776
    assert t_quantile(12) == 2.228  # between table entries: the next lower one (conservative)
    assert t_quantile(30) == 2.042 and t_quantile(100) == 1.96
    assert mean_std([]) == (None, None) and mean_std([2.0]) == (2.0, None)
    assert mean_std([1.0, 3.0]) == (2.0, pytest.approx(math.sqrt(2.0)))
    assert finite([1, None, math.nan, -math.inf, 2.5]) == [1.0, 2.5]


def _rec(idx: int, target: str, status: str = "done", **metrics) -> RunRecord:
    spec = RunSpec(target, "adaptive", 5, 0, tag=f"r0:adaptive:{idx}")
    return RunRecord(spec, key=f"{idx}{target}", status=status, metrics=metrics or None)


def test_mean_ranks_and_rung_order():
    cells = [("gmm25", 5), ("manywell", 5)]
    records = [
        _rec(0, "gmm25", delta_logz_elbo=2.0, w2=1.0, modes=20.0),
        _rec(1, "gmm25", delta_logz_elbo=1.0, w2=2.0, modes=25.0),
        _rec(0, "manywell", delta_logz_elbo=1.0, w2=1.0),
        _rec(1, "manywell", "failed"),
    ]
    scores = mean_ranks(records, 2, cells, lambda r: int(r.spec.tag.rsplit(":", 1)[1]))
    # gmm25: elbo (1, 0), w2 (0, 1), modes (1, 0); manywell: elbo (0, 2), w2 (0, 2); no modes there
    assert scores == [pytest.approx(2 / 5), pytest.approx(5 / 5)]
    assert rung_order(scores, [0, 0]) == [0, 1]
    assert rung_order(scores, [1, 0]) == [1, 0]  # a diverged run ranks after every clean one
    assert [survivors(9, 2, False), survivors(3, 2, False), survivors(3, 2, True)] == [3, 2, 1]


def test_record_metric_and_divergence():
    assert record_metric(None, "w2") is None
    assert record_metric(_rec(0, "gmm25", w2=math.inf), "w2") is None
    assert record_metric(_rec(0, "gmm25", w2=1.5), "w2") == 1.5
    assert diverged(_rec(0, "gmm25", "diverged")) and not diverged(_rec(0, "gmm25", "failed"))
    assert diverged(_rec(0, "gmm25", delta_logz_elbo=2e3)) and not diverged(
        _rec(0, "gmm25", delta_logz_elbo=2.0)
    )
    assert diverged(_rec(0, "gmm25", w2=1.0))  # finished without an ELBO gap


def test_table_helpers():
    assert (
        fmt(None) == "—" and fmt(1.23456, 0.0123) == "1.23 ± 0.012" and fmt(12345.0) == "1.234e+04"
    )
    assert md_table(["a", "b"], [["1", "2"]]) == "| a | b |\n|---|---|\n| 1 | 2 |"
    assert tex_escape("Δ a_b ± 5% & #1 — x\\y") == (
        "$\\Delta$ a\\_b $\\pm$ 5\\% \\& \\#1 -- x\\textbackslash{}y"
    )
    rows = [
        {"t": "a", "x": 1.0, "y": 3.0, "x_std": None, "n_failed": 0, "n_runs": 1},
        {"t": "a", "x": 1.0, "y": None, "x_std": 0.5, "n_failed": 1, "n_runs": 1},
        {"t": "b", "x": 5.0, "y": 2.0, "x_std": None, "n_failed": 0, "n_runs": 1},
    ]
    mark_best(rows, [("x", "X", "min"), ("y", "Y", "max")], lambda r: r["t"])
    assert [r["best"] for r in rows] == [["x", "y"], ["x"], ["x", "y"]]
    assert mean_cell(rows[0], "x") == "1" and mean_cell(rows[1], "x") == "failed"
