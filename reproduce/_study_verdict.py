"""The adaptive-destruction study's numbers (:mod:`adaptive_study`; README, *The
adaptive-destruction study*): the held-out verdict, the diagnostics and the study's compute.

Verdict. Per report cell (target, T) and metric, over the report seeds on which neither run
diverged (:func:`ads_bench.analysis.runs.diverged`), the paired difference fixed-learnvar −
adaptive (positive = adaptive better; mode coverage sign-flipped), its mean and 95 % Student-t
interval (:mod:`ads_bench.analysis.paired`), and *pass* (interval above 0), *fail* (below 0), *not
shown* (straddles 0) or *n/a* (no such metric for the target). Diverged runs are counted per cell,
never averaged.

Records are those of :func:`adaptive_study.screen` and the report: each spec's tag is
``"<stage>:<family>:<candidate>"``.
"""

from __future__ import annotations

import statistics
from collections.abc import Collection, Sequence

from ads_bench.analysis.destruction import destruction_shift
from ads_bench.analysis.paired import mean_ci, paired_differences, significance
from ads_bench.analysis.runs import diverged, read_history, record_metric
from ads_bench.store import RunDir, StoreError
from ads_bench.sweep.records import RunRecord

REPORT_SEEDS = (5, 6, 7, 8, 9)  # the verdict's seeds, never used for selection
MIXTURE_MODES = {"gmm25": 25, "gmm40": 40}
#: (metric, sign): the verdict's metrics; ``sign * (fixed-learnvar - adaptive) > 0``: adaptive better
METRICS = (("delta_logz_elbo", 1.0), ("eubo_gap", 1.0), ("w2", 1.0), ("modes", -1.0))
_RESULT = {1: "pass", -1: "fail", 0: "not shown"}


def family_of(rec: RunRecord) -> str:
    """The family of a study record (the middle field of its tag)."""
    return rec.spec.tag.split(":")[1]


def by_family(records: Sequence[RunRecord]) -> dict[tuple, RunRecord]:
    """``{(family, target, T, seed): record}``."""
    return {(family_of(r), r.spec.target, r.spec.steps, r.spec.seed): r for r in records}


def verdict(
    records: Sequence[RunRecord], cells: Sequence[tuple[str, int]], seeds=REPORT_SEEDS
) -> list[dict]:
    """Per cell and metric: fixed-learnvar − adaptive on ``seeds`` (positive = adaptive better;
    modes sign-flipped), mean and 95 % CI, pass / fail / not shown / n/a, over the seeds on which
    neither run diverged; ``diverged_adaptive`` / ``diverged_fixed-learnvar`` count the cell's
    diverged runs."""
    rows = []
    by = by_family(records)
    for target, steps in cells:
        runs = {
            f: {seed: by.get((f, target, steps, seed)) for seed in seeds}
            for f in ("adaptive", "fixed-learnvar")
        }
        lost = {f"diverged_{f}": sum(map(diverged, rs.values())) for f, rs in runs.items()}
        # a diverged run is counted, never averaged: its seed leaves the pair
        kept = [s for s in seeds if not diverged(runs["adaptive"][s])]
        kept = [s for s in kept if not diverged(runs["fixed-learnvar"][s])]
        for key, sign in METRICS:
            fixed = {s: record_metric(runs["fixed-learnvar"][s], key) for s in kept}
            adaptive = {s: record_metric(runs["adaptive"][s], key) for s in kept}
            diffs = paired_differences(fixed, adaptive, sign)
            m, lo, hi = mean_ci(diffs)
            if key == "modes" and target not in MIXTURE_MODES:
                result = "n/a"
            else:
                result = _RESULT[significance(len(diffs), lo, hi)]
            rows.append(
                {
                    "target": target,
                    "steps": steps,
                    "metric": key,
                    "n": len(diffs),
                    "mean": m,
                    "ci_low": lo,
                    "ci_high": hi,
                    "result": result,
                    **lost,
                }
            )
    return rows


def summary_line(rows: list[dict]) -> str:
    """The claim's one-line verdict from the verdict rows' pass / fail / not shown counts."""
    counts = {k: sum(r["result"] == k for r in rows) for k in ("pass", "fail", "not shown")}
    shown = sum(counts.values())
    if counts["pass"] and not counts["fail"]:
        word = "supported"
    elif counts["fail"] > counts["pass"]:
        word = "not reproduced"  # worse more often than better, wherever a difference is shown
    elif counts["fail"]:
        word = "mixed: better as often as worse"
    else:
        word = "not shown at this budget"
    return (
        f"Learning the destruction process beats fixed destruction at few steps — **{word}** "
        f"on the report seeds: {counts['pass']} pass, {counts['fail']} fail, "
        f"{counts['not shown']} not shown of {shown} (cell, metric) comparisons."
    )


def load_model(run_dir: str):
    """The trained sampler of a finished run (:meth:`RunDir.load_model`)."""
    return RunDir(run_dir).load_model()[1]


def diagnostics(
    records: Sequence[RunRecord], cells: Collection[tuple[str, int]], learned: Collection[str]
) -> dict:
    """Per family x cell: collapse counts, log-weight variance over training and, for the
    ``learned`` families (learned destruction), the destruction's shift from its base
    (:func:`ads_bench.analysis.destruction.destruction_shift`)."""
    groups: dict = {}
    for r in records:
        groups.setdefault((family_of(r), r.spec.target, r.spec.steps), []).append(r)
    out = []
    for (family, target, steps), recs in sorted(groups.items()):
        if (target, steps) not in cells:
            continue
        ok = [r for r in recs if r.ok]
        row = {
            "family": family,
            "target": target,
            "steps": steps,
            "runs": len(recs),
            "failed": len(recs) - len(ok),
            "diverged": sum(map(diverged, recs)),
        }
        k = MIXTURE_MODES.get(target)
        modes = [m for m in (record_metric(r, "modes") for r in ok) if m is not None]
        if k is not None and modes:
            row.update(
                {
                    "modes_of": k,
                    "modes_mean": statistics.fmean(modes),
                    "single_mode": sum(m <= 1 for m in modes),
                    "under_half": sum(m < k / 2 for m in modes),
                }
            )
        curves: dict[int, list[float]] = {}
        for r in ok:
            for h in read_history(r.path):
                if h.get("logw_var") is not None:
                    curves.setdefault(h["iteration"], []).append(h["logw_var"])
        row["logw_var_curve"] = [[it, statistics.fmean(v)] for it, v in sorted(curves.items())]
        shifts = []
        for r in ok if family in learned else []:  # fixed destruction: no shift to measure
            try:
                shifts.append(destruction_shift(load_model(r.path)))
            except StoreError:  # no final checkpoint (or a damaged one): no shift to measure
                continue
        if shifts:
            row["shift"] = {key: statistics.fmean(s[key] for s in shifts) for key in shifts[0]}
        out.append(row)
    return {"rows": out}


def compute(records: Sequence[RunRecord]) -> dict:
    """Total CPU-worker time of the study's distinct runs (training + evaluation, from each run's
    own timing, so cached runs count what they cost when they ran)."""
    seen = {}
    for r in records:
        if r.ok and r.timing:
            seen[r.key] = float(r.timing.get("train_seconds") or 0.0) + float(
                r.timing.get("eval_seconds") or 0.0
            )
    return {"runs": len(seen), "worker_hours": sum(seen.values()) / 3600.0}
