"""The adaptive-destruction study's selection rules (issue 18): the paper-scale schedule sees the
paper's 25 000 iterations, and a diverged run decides the screening and stays out of the verdict."""

from __future__ import annotations

import argparse

import _claims_study
import _study_verdict as report
import adaptive_study as study
import pytest

from ads_bench.analysis.runs import diverged
from ads_bench.sweep.records import RunRecord
from ads_bench.sweep.specs import RunSpec


def _record(spec: RunSpec, status: str = "done", gap: float = 1.0, w2: float = 1.0) -> RunRecord:
    metrics = {"delta_logz_elbo": gap, "w2": w2, "eubo_gap": 1.0, "modes": 5.0}
    return RunRecord(spec, key=f"k{hash(spec)}", status=status,
                     metrics=None if status == "diverged" else metrics)  # fmt: skip


def test_paper_schedule_selects_at_the_papers_length_on_the_selection_seeds_only():
    sched = study.SCHEDULES["paper"]
    assert study.SCHEDULES["full"] is sched  # the paper budget's older name
    assert sched.rungs[-1] == (25_000, 5)  # the final rung can see a divergence at ~17 000
    assert [it for it, _ in sched.rungs] == sorted(it for it, _ in sched.rungs)
    assert all(n <= len(study.SELECT_SEEDS) for _, n in sched.rungs)
    assert not set(study.SELECT_SEEDS) & set(report.REPORT_SEEDS)
    verdict_cells = {(t, s) for t in ("gmm25", "gmm40", "manywell", "funnel") for s in (5, 10)}
    assert set(sched.report_cells) == verdict_cells
    assert study._ensembles(sched, 25_000) and not study._ensembles(sched, 1000)
    assert not study._ensembles(study.SCHEDULES["quick"], 1800)


def test_a_candidate_with_a_diverged_run_ranks_after_every_candidate_without_one(monkeypatch):
    """Candidate 1 scores better on every finished run but diverged on one: candidate 0 wins."""
    calls = []

    def fake_sweep(specs, args, ensembles=None):
        calls.append((specs[0].config().train.iterations, ensembles))
        out = []
        for s in specs:
            idx = int(s.tag.rsplit(":", 1)[1])
            if idx == 1 and s.target == "manywell" and s.seed == 0:
                out.append(_record(s, "diverged"))
            else:
                out.append(_record(s, gap=0.5 if idx == 1 else 2.0, w2=0.5 if idx == 1 else 2.0))
        return out

    monkeypatch.setattr(study, "sweep", fake_sweep)
    monkeypatch.setitem(study.SCHEDULES, "paper",
                        study.Schedule(((10, 2), (30, 2)), 1, compile_from=30))  # fmt: skip
    budget = study.BUDGETS["paper"]
    args = argparse.Namespace(candidates=None, seed=0, keep=1)
    log: list = []
    winner = study.screen("adaptive", budget, args, log, [])
    assert calls == [(10, False), (30, True)]  # compiled ensembles from compile_from on
    first = log[0]["candidates"]
    assert [c["diverged"] for c in first] == [0, 2]  # manywell T=5, 10: ranked second
    assert first[1]["score"] < first[0]["score"]
    assert winner["overrides"] == {} and winner["iterations"] == 30


def test_verdict_counts_diverged_runs_and_never_averages_them():
    specs = {(f, seed): RunSpec("gmm25", f, 5, seed, tag=f"report:{f}:0")
             for f in ("adaptive", "fixed-learnvar") for seed in report.REPORT_SEEDS}  # fmt: skip
    records = []
    for (family, seed), spec in specs.items():
        if family == "adaptive" and seed == 5:
            records.append(_record(spec, "diverged"))
        elif family == "adaptive" and seed == 6:
            records.append(_record(spec, gap=3e8))  # finished, but far past DIVERGED_GAP
        else:
            records.append(_record(spec, gap=1.0 if family == "adaptive" else 2.0))
    rows = report.verdict(records, [("gmm25", 5)])
    gap = next(r for r in rows if r["metric"] == "delta_logz_elbo")
    assert gap["diverged_adaptive"] == 2 and gap["diverged_fixed-learnvar"] == 0
    assert gap["n"] == 3 and gap["mean"] == pytest.approx(1.0)  # seeds 7, 8, 9 only
    assert diverged(None) is False


def test_claims_put_the_paper_scale_verdict_first_with_its_divergence_counts(tmp_path):
    import json

    import claims

    specs = [RunSpec("gmm25", f, 5, seed, tag=f"report:{f}:0")
             for f in ("adaptive", "fixed-learnvar") for seed in report.REPORT_SEEDS]  # fmt: skip
    records = [_record(s, "diverged" if s.method == "adaptive" and s.seed == 9 else "done",
                       gap=1.0 if s.method == "adaptive" else 2.0) for s in specs]  # fmt: skip
    rows = report.verdict(records, [("gmm25", 5)])
    paper = {"budget": "paper", "summary": report.summary_line(rows), "verdict": rows,
             "compute": {"runs": 10, "worker_hours": 2.5}}  # fmt: skip
    missing = claims.write_claims(tmp_path, [], "quick budget")
    assert "Not available yet" in missing and _claims_study.PAPER_STUDY_COMMAND in missing
    (tmp_path / _claims_study.PAPER_STUDY).mkdir()
    (tmp_path / _claims_study.PAPER_STUDY / "adaptive_study.json").write_text(json.dumps(paper))
    (tmp_path / "adaptive_study.json").write_text(json.dumps({**paper, "budget": "quick"}))
    text = (claims.write_claims(tmp_path, [], "quick budget"), (tmp_path / "claims.md").read_text())
    assert text[0] == text[1]
    main, tuned = (
        text[0].index("1 (paper scale, the main verdict)"),
        text[0].index("1 (tuned, quick"),
    )
    assert main < tuned and "--budget paper" in text[0][main:tuned]
    assert "Diverged runs (adaptive/fixed-learnvar" in text[0] and "gmm25 T=5: 1/0" in text[0]
