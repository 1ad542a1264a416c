"""Reading what a sweep recorded: a run's training history, a record's metrics, divergence.

A :class:`~ads_bench.sweep.RunRecord` carries its run's final metrics (``result.json``) and its run
folder (:class:`~ads_bench.store.RunDir`), whose ``history.csv`` holds the periodic evaluations.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

from ads_bench.store import RunDir
from ads_bench.sweep.records import RunRecord

#: A finished run whose ELBO gap exceeds this many nats has diverged: its samples sit where the
#: target has essentially no mass (finite numbers, so training did not stop on its own).
DIVERGED_GAP = 1e3


def read_history(run_dir: str | os.PathLike) -> list[dict]:
    """``history.csv`` of a run (:meth:`RunDir.read_history`) as
    ``[{"iteration": int, "elbo": float|None, ...}]``, non-finite values as ``None``."""
    return [
        {
            **{k: v if v is None or math.isfinite(v) else None for k, v in row.items()},
            "iteration": int(row["iteration"]),
        }
        for row in RunDir(run_dir).read_history()
    ]


def record_metric(rec: RunRecord | None, key: str) -> float | None:
    """Metric ``key`` of a finished run, ``None`` if the run is missing, not finished, has no such
    metric or a non-finite value."""
    if rec is None or not rec.ok or rec.metrics is None or rec.metrics.get(key) is None:
        return None
    v = float(rec.metrics[key])
    return v if math.isfinite(v) else None


def diverged(rec: RunRecord | None, max_gap: float = DIVERGED_GAP) -> bool:
    """Whether a run diverged: stopped by the divergence guard or a non-finite value (status
    ``diverged``), or finished with an ELBO gap above ``max_gap`` nats or none at all. A missing
    run (``None``) or a failed one (an error, not an outcome of training) has not."""
    if rec is None:
        return False
    if rec.status == "diverged":
        return True
    if not rec.ok:
        return False
    gap = record_metric(rec, "delta_logz_elbo")
    return gap is None or gap > max_gap


def first_ok(records: Sequence[RunRecord], **match: Any) -> RunRecord | None:
    """The first finished record whose spec has every ``field=value`` of ``match``."""
    for r in records:
        if r.ok and all(getattr(r.spec, k) == v for k, v in match.items()):
            return r
    return None


def run_keys(records: Sequence[RunRecord]) -> list[str]:
    """The records' run keys (run folder names), each once, in order."""
    return list(dict.fromkeys(r.key for r in records))


def failed_runs(records: Sequence[RunRecord]) -> list[str]:
    """``"<label> (<key>): <error>"`` of every record that did not finish, each once, in order."""
    return list(dict.fromkeys(f"{r.spec.label} ({r.key}): {r.error}" for r in records if not r.ok))
