"""What a sweep answers: one :class:`RunRecord` per spec, gathered in a :class:`SweepResult`.

:func:`load_records` builds the same records from the run folders alone (README *The run store*),
without running or deleting anything, so the tables of a partial sweep can be rendered while it
still runs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ads_bench.store import RunDir
from ads_bench.sweep.specs import RunSpec

__all__ = ["RunRecord", "SweepResult", "format_duration", "load_records"]


@dataclass
class RunRecord:
    """What a sweep knows about one spec.

    ``status``: ``"done"`` (ran now and finished), ``"cached"`` (finished before this sweep),
    ``"failed"`` (raised; ``error`` says what), ``"diverged"`` (training stopped on a non-finite
    value or by the divergence guard, :mod:`ads_bench.guard`: an outcome, kept and not retrained;
    ``error`` says when and why), or, from :func:`load_records` only, ``"missing"`` (not run,
    unfinished, or its result belongs to another config). A run finished by another process while
    this sweep waited for it is ``"cached"``. ``note`` says what was recovered (e.g. a damaged
    checkpoint moved aside). ``metrics`` and ``metrics_eval_steps`` are those of ``result.json``;
    ``seconds`` is the wall time of this sweep's attempt (None when nothing ran)."""

    spec: RunSpec
    key: str
    status: str
    metrics: dict | None = None
    timing: dict | None = None
    error: str | None = None
    path: str = ""
    seconds: float | None = None
    metrics_eval_steps: dict | None = None
    note: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the run finished (now or before this sweep)."""
        return self.status in ("done", "cached")


@dataclass
class SweepResult:
    """Records in the order of the specs. ``ran`` and ``cached`` count distinct runs (config keys):
    ``ran`` the runs attempted by this sweep (finished or failed), ``cached`` those found
    finished."""

    records: list[RunRecord]
    ran: int = 0
    cached: int = 0
    wall_seconds: float = 0.0
    out_dir: str = ""

    def _distinct(self, status: str) -> list[RunRecord]:
        """The records of ``status``, one per distinct run (first spec of each)."""
        first: dict[str, RunRecord] = {}
        for r in self.records:
            if r.status == status:
                first.setdefault(r.key, r)
        return list(first.values())

    @property
    def failed(self) -> list[RunRecord]:
        """The failed records, one per distinct run (first spec of each)."""
        return self._distinct("failed")

    @property
    def diverged(self) -> list[RunRecord]:
        """The diverged records, one per distinct run."""
        return self._distinct("diverged")

    @property
    def ok(self) -> bool:
        """Whether every spec's run finished."""
        return all(r.ok for r in self.records)

    def summary(self) -> str:
        """Counts, wall time, and one line per failed run (spec, overrides, error, error file)."""
        runs = len({r.key for r in self.records})
        failed, diverged = self.failed, self.diverged
        done = sum(1 for r in {r.key: r for r in self.records}.values() if r.status == "done")
        lines = [
            f"sweep: {runs} runs: {done} done, {self.cached} cached, {len(diverged)} diverged, "
            f"{len(failed)} failed ({format_duration(self.wall_seconds)} wall)"
        ]
        for r in diverged:
            lines.append(f"  DIVERGED {r.spec.label} key={r.key}: {r.error}")
        for r in failed:
            ov = f" {dict(r.spec.overrides)}" if r.spec.overrides else ""
            lines.append(f"  FAILED {r.spec.label}{ov} key={r.key}: {r.error}")
            lines.append(f"         see {Path(r.path) / 'error.json'}")
        return "\n".join(lines)


def format_duration(seconds: float) -> str:
    """``42s``, ``3m07s`` or ``2h05m``: a wall time or an estimate of the time left."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def load_records(out_dir: str | os.PathLike, specs: Sequence[RunSpec]) -> list[RunRecord]:
    """What is on disk for ``specs`` (status ``"done"``, ``"failed"``, ``"diverged"`` or
    ``"missing"``), without running or deleting anything; for rendering tables of partial
    sweeps."""
    runs_dir = Path(out_dir) / "runs"
    records = []
    for spec in specs:
        cfg = spec.config()
        key = cfg.key()
        run = RunDir(runs_dir / key)
        state = run.status(cfg.as_dict())
        record = RunRecord(spec=spec, key=key, status="missing", path=str(run.path))
        if state == "done":
            data = run.read_result()
            record.status = "done"
            record.metrics, record.timing = data.get("metrics"), data.get("timing")
            record.metrics_eval_steps = data.get("metrics_eval_steps")
        elif state in ("failed", "diverged"):
            record.status, record.error = state, (run.read_error() or {}).get("error")
        records.append(record)
    return records
