"""Every reproduce/ script runs once at a smoke budget and writes what it promises."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, str(ROOT / "reproduce" / script), *args],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_targets_demo(tmp_path):
    proc = _run(
        "targets_demo.py", "--n", "200", "--targets", "gmm9", "manywell", "--out", str(tmp_path)
    )
    data = json.loads((tmp_path / "targets_demo.json").read_text())
    assert [r["target"] for r in data["results"]] == ["gmm9", "manywell"]
    assert all(r["elbo_le_logz_le_eubo"] for r in data["results"])
    assert data["env"]["build_info"]["extension"] and "| gmm9 |" in proc.stdout


def test_train_speed(tmp_path):
    proc = _run("train_speed.py", "--steps", "3", "--iterations", "3", "--batch", "16",
                "--target", "gmm9", "--seeds", "2", "--threads", "1", "--backend", "eager",
                "--out", str(tmp_path))  # fmt: skip
    rows = json.loads((tmp_path / "train_speed.json").read_text())["rows"]
    kinds = [(r["kind"], r["compiled"], r["seeds"]) for r in rows]
    assert kinds == [("single", False, 1), ("single", True, 1), ("ensemble", False, 2),
                     ("ensemble", True, 2)]  # fmt: skip
    assert rows[0]["fused_kernels"] is True and rows[2]["fused_kernels"] is False
    for r in rows:
        assert r["ms_per_seed_iteration"] == pytest.approx(r["ms_per_iteration"] / r["seeds"])
        assert (r["compile_s"] is not None) == r["compiled"]
    assert "| 3 | ensemble compiled | 2 |" in proc.stdout


def test_kernel_speedups_table(tmp_path):
    def entry(impl, median):
        info = {"op": "gaussian_logprob", "shape": [300, 10, 2], "impl": impl, "device": "cpu"}
        return {"extra_info": info, "stats": {"median": median}}

    bench = {"machine_info": {"cpu": {"brand_raw": "test"}},
             "benchmarks": [entry("fused", 1e-4), entry("reference", 3e-4)]}  # fmt: skip
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(bench))
    proc = _run("kernel_speedups.py", str(path), "--out", str(tmp_path / "table.md"))
    row = (
        "| gaussian_logprob | 300x10x2 | cpu | 0.1 | 3 | 0.3 |"  # fused ms, speed-up, reference ms
        # the paper roofline: (9 * 6000 + 2 * 3000) * 4 bytes = 0.24 MB, moved in 0.1 ms = 2.4 GB/s;
        # 0.24 MB at 3.35 TB/s = 0.0716 µs
        " 0.24 | 2.4 | 0.0716 |"
    )
    assert row in proc.stdout and row in (tmp_path / "table.md").read_text()
    assert "| fused MB moved | fused GB/s (cpu) | µs at 3.35 TB/s |" in proc.stdout


# ----------------------------------------------------------------------------- Table 1, 2, claims


from _helpers import paper_figures_digest  # noqa: E402


def _finite_or_failed(row: dict, keys) -> bool:
    if row["n_failed"] == row["n_runs"]:
        return True
    if not row["target"].startswith("gmm"):  # mode coverage exists for mixtures only
        keys = [k for k in keys if k != "modes"]
    return all(row[k] is not None and math.isfinite(row[k]) for k in keys)


def test_table1_smoke_writes_every_row_and_the_claims(tmp_path):
    from _common import TABLE1_METHODS, TABLE1_STEPS, TABLE1_TARGETS
    from table1 import COLUMNS

    proc = _run("table1.py", "--budget", "smoke", "--out", str(tmp_path), "--workers", "2",
                "--quiet")  # fmt: skip
    data = json.loads((tmp_path / "table1.json").read_text())
    rows = {(r["target"], r["steps"], r["method"]): r for r in data["rows"]}
    expected = {(t, s, m) for t in TABLE1_TARGETS for s in TABLE1_STEPS for m in TABLE1_METHODS}
    assert set(rows) == expected
    keys = [k for k, _, _ in COLUMNS]
    assert all(_finite_or_failed(r, keys) for r in rows.values())
    assert data["budget"] == "smoke" and "smoke budget" in data["note"]
    md = (tmp_path / "table1.md").read_text()
    assert md.count("| 5 | adaptive |") == len(TABLE1_TARGETS) and "**" in md
    csv_rows = (tmp_path / "table1.csv").read_text().strip().splitlines()
    assert len(csv_rows) == 1 + len(expected)
    assert "\\begin{tabular}" in (tmp_path / "table1.tex").read_text()
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert len(claims) == 4
    assert {c["verdict"] for c in claims} <= {
        "supported", "not supported", "inconclusive at this budget"
    }  # fmt: skip
    # one seed: no interval can exclude zero, so no claim may be decided
    assert all(c["verdict"] == "inconclusive at this budget" for c in claims[:3])
    assert "Claims check" in proc.stdout
    # the sweep is resumable: a rerun trains nothing
    again = _run("table1.py", "--budget", "smoke", "--out", str(tmp_path), "--workers", "2",
                 "--no-claims")  # fmt: skip
    assert f"{len(expected)} cached" in again.stderr


def test_table1_marks_failed_rows_and_published_numbers(tmp_path):
    from table1 import COLUMNS, aggregate, render

    from ads_bench.sweep.records import RunRecord
    from ads_bench.sweep.specs import RunSpec

    ok = {"delta_logz_elbo": 1.0, "delta_logz_is": 0.5, "eubo_gap": 2.0, "w2": 3.0, "ess": 0.2}
    recs = [
        RunRecord(RunSpec("gmm25", "fixed", 100, 0), "a", "done", metrics=ok, path=str(tmp_path)),
        RunRecord(RunSpec("gmm25", "dis", 100, 0), "b", "failed", error="NonFiniteError: boom"),
    ]
    from _common import BUDGETS

    text = render(aggregate(recs), BUDGETS["smoke"], wall=1.0)["md"]
    assert "| 100 | dis |" + " failed |" * len(COLUMNS) + " 0 | 1/1 failed: " in text
    assert "NonFiniteError: boom" in text
    assert "↳ published TB (Sendera et al. 2024) | 1.18 ± 0.11" in text


def test_claims_verdicts_follow_the_intervals():
    from claims import check_claims

    def row(method, steps, elbo, w2, target="gmm25"):
        n = len(elbo)
        hist = {str(s): [{"iteration": 10, "elbo": -e}, {"iteration": 20, "elbo": -e}]
                for s, e in enumerate(elbo)}  # fmt: skip
        return {"target": target, "steps": steps, "method": method, "seeds": list(range(n)),
                "n_runs": n, "n_failed": 0, "history": hist,
                "per_seed": {"delta_logz_elbo": elbo, "w2": w2}}  # fmt: skip

    better = [row("fixed-learnvar", s, [2.0, 2.1, 2.2], [5.0, 5.1, 5.2]) for s in (5, 10)]
    better += [row("adaptive", s, [1.0, 1.05, 1.1], [4.0, 4.1, 4.15]) for s in (5, 10)]
    assert check_claims(better)[0]["verdict"] == "supported"
    worse = [dict(r, method="adaptive" if r["method"] == "fixed-learnvar" else "fixed-learnvar")
             for r in better]  # fmt: skip
    assert check_claims(worse)[0]["verdict"] == "not supported"
    mixed = [row("fixed-learnvar", 5, [1.0, 2.0, 0.5], [1.0, 2.0, 0.5]),
             row("adaptive", 5, [1.5, 1.0, 0.9], [1.5, 1.0, 0.9])]  # fmt: skip
    assert check_claims(mixed)[0]["verdict"] == "inconclusive at this budget"


def test_convergence_speed_counts_iterations_to_each_runs_own_final_value():
    from claims import check_claims, iterations_to_final, render_claims

    h = [{"iteration": i, "elbo": e, "w2": w}
         for i, e, w in ((100, -5.0, 9.0), (200, -1.05, 3.0), (300, -1.0, 2.95))]  # fmt: skip
    assert iterations_to_final(h, "elbo") == 200.0  # within 0.1 of -1.0 from iteration 200
    assert iterations_to_final(h, "w2") == 200.0
    assert iterations_to_final([*h[:1], {"iteration": 200, "elbo": None}], "elbo") is None

    def row(method, curves):
        hist = {str(s): [{"iteration": i, "elbo": e, "w2": -e} for i, e in curve]
                for s, curve in enumerate(curves)}  # fmt: skip
        n = len(curves)
        return {"target": "gmm25", "steps": 5, "method": method, "seeds": list(range(n)),
                "n_runs": n, "n_failed": 0, "history": hist,
                "per_seed": {"delta_logz_elbo": [1.0] * n, "w2": [1.0] * n}}  # fmt: skip

    slow = [[(1000, -9.0), (2000, -5.0), (3000, -1.0)]] * 3  # converged at 3000
    fast = [[(1000, -3.0), (2000, -1.0), (3000, -1.0)]] * 3  # converged at 2000
    claims = check_claims([row("fixed-learnvar", slow), row("adaptive", fast)])
    speed = {e["comparison"]: e for e in claims[2]["speed"]}
    elbo = speed["gmm25 T=5: iterations to within 0.1 of its own final ELBO, fixed-learnvar − "
                 "adaptive"]  # fmt: skip
    assert elbo["n"] == 3 and elbo["mean"] == 1000.0
    assert "Convergence speed (not part of the verdict)" in render_claims(claims)


def test_table2_smoke_has_every_variant(tmp_path):
    from table2 import variants

    _run("table2.py", "--budget", "smoke", "--out", str(tmp_path), "--workers", "2", "--quiet",
         "--targets", "gmm25")  # fmt: skip
    data = json.loads((tmp_path / "table2.json").read_text())
    assert [r["variant"] for r in data["rows"]] == list(variants())
    assert all(r["n_failed"] == 0 and math.isfinite(r["delta_logz_elbo"]) for r in data["rows"])
    assert (tmp_path / "table2.md").read_text().count("| lr_dest/lr_gen") == 4


def test_adaptive_study_smoke_selects_reports_and_resumes(tmp_path):
    from adaptive_study import BASES, CELLS, REPORT_CELLS, SPACES, candidates

    from ads_bench.methods import ADAPTIVE_STUDY_BASE

    assert candidates("adaptive", 3)[0] == {} and len(candidates("adaptive", 3)) == 4
    assert candidates("adaptive", 3) == candidates("adaptive", 3)  # seeded draw
    for family, axes in SPACES.items():  # every candidate changes its base, on known axes only
        known = {k for values in axes.values() for v in values for k in v}
        for cand in candidates(family, 10)[1:]:
            assert cand and set(cand) <= known
            assert any(BASES[family].get(k, object()) != v for k, v in cand.items())
    # the comparators are screened on the stabilisers too (a fair comparison)
    assert {"replay", "exploration"} <= set(SPACES["fixed-learnvar"])
    assert {"replay", "target_net", "lr_ratio"} <= set(SPACES["bounded"])
    assert set(CELLS) < set(REPORT_CELLS) and ("gmm40", 5) in REPORT_CELLS
    assert BASES["adaptive"] == ADAPTIVE_STUDY_BASE  # the study starts from the paper's setup
    (tmp_path / "table1.json").write_text(json.dumps({"note": "", "rows": []}))
    figs = tmp_path / "figures"  # the default: the committed paper_figures/ stay as they are
    committed = paper_figures_digest()
    # One worker, in-process: the study runs nine small sweeps, and on this 2-core machine each
    # process pool costs ~10 s to start (the pool is tested by the Table 1 smoke run and test_sweep).
    _run("adaptive_study.py", "--budget", "smoke", "--out", str(tmp_path), "--workers", "1",
         "--quiet", "--confirm-cells", "gmm25:5", "--confirm-budget", "smoke")  # fmt: skip
    assert paper_figures_digest() == committed
    data = json.loads((tmp_path / "adaptive_study.json").read_text())
    assert set(data["winners"]) == set(SPACES)
    assert len(data["verdict"]) == 4 * len(REPORT_CELLS)
    assert {r["result"] for r in data["verdict"]} <= {"pass", "fail", "not shown", "n/a"}
    for r in data["verdict"]:
        assert (r["result"] == "n/a") == (r["metric"] == "modes" and r["target"] == "manywell")
    assert all(r["n"] == 5 for r in data["verdict"] if r["metric"] != "modes")
    rungs = [(r["family"], r["rung"]) for r in data["rungs"]]
    assert rungs == [(f, k) for f in SPACES for k in (0, 1)]
    diag = {(r["family"], r["target"], r["steps"]): r for r in data["diagnostics"]["rows"]}
    assert set(diag) == {(f, t, s) for f in SPACES for t, s in REPORT_CELLS}
    for (family, target, _), row in diag.items():
        assert len(row["logw_var_curve"]) >= 2  # periodic evaluations of the report runs
        assert all(math.isfinite(v) and v >= 0 for _, v in row["logw_var_curve"])
        assert ("shift" in row) == (family != "fixed-learnvar")
        assert ("modes_of" in row) == (target != "manywell")
    assert data["compute"]["runs"] > 0 and data["compute"]["worker_hours"] > 0
    assert all(0 <= r["diverged"] <= r["runs"] for r in data["diagnostics"]["rows"])
    confirm = data["confirm"]
    assert confirm["cells"] == [["gmm25", 5]] and len(confirm["verdict"]) == 4
    assert {(r["family"], r["target"]) for r in confirm["diagnostics"]["rows"]} == {
        ("adaptive", "gmm25"),
        ("fixed-learnvar", "gmm25"),
    }
    for family, axes in SPACES.items():  # each first-rung candidate has exactly one value per axis
        ev = data["evidence"][family]
        assert len(ev) == sum(len(v) for v in axes.values())
        n_first = len(data["rungs"][list(SPACES).index(family) * 2]["candidates"])
        for axis in axes:
            assert sum(r["candidates"] for r in ev if r["axis"] == axis) == n_first
    assert (figs / "adaptive_study_logw_var.png").exists()
    assert (figs / "adaptive_study_destruction_variance_T5.png").exists()
    md = (tmp_path / "adaptive_study.md").read_text()
    assert "## Diagnostics on the report seeds" in md and "worker-hours" in md
    claims_md = (tmp_path / "claims.md").read_text()
    assert "## 1 (tuned, smoke budget). Learning the destruction process" in claims_md
    assert "## 1 (paper scale, the main verdict). Not available yet" in claims_md  # not run here
    again = _run("adaptive_study.py", "--budget", "smoke", "--out", str(tmp_path), "--workers",
                 "1", "--figures-dir", str(figs), "--confirm-cells", "gmm25:5",
                 "--confirm-budget", "smoke")  # fmt: skip
    assert data["figures"] and all(Path(f).parent == figs for f in data["figures"])
    assert " 0 done," in again.stderr and "failed" in again.stderr
    assert all(
        " 0 done," in line for line in again.stderr.splitlines() if line.startswith("sweep:")
    )


def test_adaptive_study_verdict_on_synthetic_seeds():
    from _study_verdict import REPORT_SEEDS, summary_line, verdict

    from ads_bench.sweep.records import RunRecord
    from ads_bench.sweep.specs import RunSpec

    def rec(family, target, seed, **metrics):
        spec = RunSpec(target, family, 5, seed, {}, tag=f"report:{family}:0")
        return RunRecord(spec, key=f"{family}{target}{seed}", status="done", metrics=metrics)

    records = []
    for i, seed in enumerate(REPORT_SEEDS):
        # adaptive: ELBO gap 1 lower (better), W2 0.5 higher (worse), same modes with noise
        records.append(rec("adaptive", "gmm25", seed, delta_logz_elbo=1.0 + 0.01 * i,
                           w2=2.5, modes=20 + (i % 2), eubo_gap=None))  # fmt: skip
        records.append(rec("fixed-learnvar", "gmm25", seed, delta_logz_elbo=2.0, w2=2.0,
                           modes=20 + ((i + 1) % 2), eubo_gap=None))  # fmt: skip
        records.append(rec("adaptive", "manywell", seed, delta_logz_elbo=1.0, w2=1.0, modes=None,
                           eubo_gap=1.0))  # fmt: skip
        records.append(rec("fixed-learnvar", "manywell", seed, delta_logz_elbo=1.0, w2=1.0,
                           modes=None, eubo_gap=1.0))  # fmt: skip
    rows = {(r["target"], r["metric"]): r
            for r in verdict(records, cells=[("gmm25", 5), ("manywell", 5)])}  # fmt: skip
    assert rows["gmm25", "delta_logz_elbo"]["result"] == "pass"
    assert rows["gmm25", "delta_logz_elbo"]["mean"] == pytest.approx(1.0 - 0.02)
    assert rows["gmm25", "w2"]["result"] == "fail"
    assert rows["gmm25", "modes"]["result"] == "not shown"
    assert (
        rows["gmm25", "eubo_gap"]["n"] == 0 and rows["gmm25", "eubo_gap"]["result"] == "not shown"
    )
    assert rows["manywell", "modes"]["result"] == "n/a"
    line = summary_line(list(rows.values()))
    assert "mixed" in line and "1 pass, 1 fail" in line


def test_convergence_reports_each_budget_against_the_end(tmp_path):
    from convergence import main

    args = ["--iterations", "20", "--every", "10", "--budgets", "5", "10", "15", "--eval-n", "64",
            "--batch", "32", "--steps", "3", "--workers", "1", "--methods", "fixed-learnvar",
            "--targets", "gmm9", "--out", str(tmp_path)]  # fmt: skip
    assert main(args) == 0
    rows = json.loads((tmp_path / "convergence.json").read_text())["rows"]
    assert [(r["metric"], r["budget"]) for r in rows] == [
        (m, b) for m in ("ELBO gap", "EUBO gap") for b in (5, 10, 15)
    ]
    for r in rows:
        assert r["final_iteration"] == 20
        if r["budget"] < 10:  # nothing evaluated yet at that budget
            assert r["value"] is None and r["excess"] is None
        else:
            assert r["iteration"] == 10 and r["excess"] == pytest.approx(r["value"] - r["final"])
    assert (
        "| fixed-learnvar | gmm9 | 0 | ELBO gap | 10 |" in (tmp_path / "convergence.md").read_text()
    )


def test_paper_budget_trains_compiled_seed_ensembles_and_returns_the_given_specs(monkeypatch):
    """The paper budget's sweep: every non-kl config with train.compile, seeds grouped; the records
    come back with the specs as the script built them (so its aggregation needs no change)."""
    import argparse

    import _common

    from ads_bench.sweep.records import RunRecord, SweepResult
    from ads_bench.sweep.specs import expand_grid

    seen = {}

    def fake_run_sweep(specs, out, **kw):
        seen["specs"], seen["kw"] = list(specs), kw
        recs = [RunRecord(spec=s, key=s.key, status="done") for s in specs]
        return SweepResult(recs)

    monkeypatch.setattr(_common, "run_sweep", fake_run_sweep)
    specs = expand_grid("gmm9", ["fixed-learnvar", "adaptive", "pis"], 5, [0, 1])
    for budget, compiled in (("paper", True), ("full", True), ("quick", False)):
        args = argparse.Namespace(budget=budget, out="x", workers=1, executor="local",
                                  address=None, quiet=True)  # fmt: skip
        records = _common.sweep(specs, args)
        assert [r.spec for r in records] == specs
        assert seen["kw"]["seed_ensembles"] is compiled
        flags = {(s.method, s.config().train.compile) for s in seen["specs"]}
        # pis trains by reverse KL through the rollout: never compiled as an ensemble
        assert flags == {("fixed-learnvar", compiled), ("adaptive", compiled), ("pis", False)}
