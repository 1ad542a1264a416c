"""The sweep's workers: train one run (:func:`run_one`) or one seed group (:func:`run_group`).

Each takes plain data (config dicts and run folders), holds the run's lock (README *The run store*)
from before it looks at the folder until the run is finished, and returns plain outcome dicts
(:func:`outcome`); neither raises an ``Exception``, so one failing run never stops a sweep. A
failure is written to the run's ``error.json``; a divergence (:mod:`ads_bench.guard`) is recorded
as the run's outcome, kept and not retrained.
"""

from __future__ import annotations

import time
import traceback
from typing import Any

from ads_bench.config import Config
from ads_bench.store import CHECKPOINT, DamagedFileError, RunDir, RunLocked, StoreError

__all__ = ["outcome", "record_failure", "recorded_outcome", "run_group", "run_one"]


def run_one(config: dict, run_dir: str, progress: bool = False) -> dict:
    """Train one run into ``run_dir`` under its lock (resuming its checkpoint); never raises an
    ``Exception``.

    Returns ``{"status", "metrics", "metrics_eval_steps", "timing", "error", "seconds", "note"}``
    with status ``"done"`` (trained now), ``"cached"`` (found finished once the lock was held),
    ``"elsewhere"`` (another process holds the lock; nothing touched) or ``"failed"`` (also written
    to ``run_dir/error.json``)."""
    from ads_bench.training import train

    start = time.perf_counter()
    rd = RunDir(run_dir)
    try:
        rd.acquire()
    except RunLocked as exc:
        return outcome("elsewhere", error=str(exc), seconds=time.perf_counter() - start)
    except Exception as exc:
        return outcome("failed", error=f"{type(exc).__name__}: {exc}", seconds=0.0)
    try:
        state = rd.status(config)
        recorded = recorded_outcome(rd, state)
        if recorded is not None:
            return recorded
        if state == "stale":
            rd.clear()  # the folder belongs to another config (e.g. a changed default)
        rd.clear_error()
        cfg = Config.from_dict(config)
        note = None
        try:
            result = train(cfg, out_dir=rd, progress=progress)
        except DamagedFileError as exc:
            if exc.path.name != CHECKPOINT:
                raise
            moved = rd.quarantine(CHECKPOINT)
            note = f"{exc}; moved to {moved.name} and retrained from scratch"
            result = train(cfg, out_dir=rd, progress=progress)
        return outcome(
            "done",
            metrics=result.metrics,
            metrics_eval_steps=result.metrics_eval_steps,
            timing=result.timing,
            seconds=time.perf_counter() - start,
            note=note,
        )
    except Exception as exc:
        return record_failure(config, rd, exc, traceback.format_exc(), time.perf_counter() - start)
    finally:
        rd.release()


def outcome(status: str, **fields: Any) -> dict:
    """A worker's outcome: ``status`` and the fields of a
    :class:`~ads_bench.sweep.records.RunRecord` that a run fills (``metrics``,
    ``metrics_eval_steps``, ``timing``, ``error``, ``seconds``, ``note``), None unless given."""
    out = {
        "status": status,
        "metrics": None,
        "metrics_eval_steps": None,
        "timing": None,
        "error": None,
        "seconds": None,
        "note": None,
    }
    out.update(fields)
    return out


def record_failure(config: dict, rd: RunDir, exc: BaseException, tb: str, seconds: float) -> dict:
    """Record a failed run in ``error.json`` (only while holding, or able to take, its lock); a
    :class:`~ads_bench.guard.NonFiniteError` (or the divergence guard's error) is recorded as
    ``"diverged"``: the run's outcome, not retried."""
    from ads_bench.guard import NonFiniteError

    error = f"{type(exc).__name__}: {exc}"
    kind = "diverged" if isinstance(exc, NonFiniteError) else "failed"
    try:
        with rd.lock():
            rd.write_error(config, error, tb, kind=kind)
    except (OSError, StoreError):
        pass  # someone else is (re)training it now: their outcome is the run's
    return outcome(kind, error=error, seconds=seconds)


def recorded_outcome(rd: RunDir, state: str) -> dict | None:
    """The outcome a run folder already holds, served without training: ``"cached"`` for a
    finished run (``state`` ``"done"``), ``"diverged"`` for one that diverged earlier; else None."""
    if state == "done":
        return {**outcome("cached"), **_from_result(rd.read_result())}
    if state == "diverged":
        return outcome("diverged", error=(rd.read_error() or {}).get("error"), seconds=0.0)
    return None


def run_group(jobs: list[tuple[str, dict, str]], progress: bool = False) -> dict[str, dict]:
    """Train ``jobs`` (``(key, config dict, run folder)``, configs differing only in seed) as one
    seed ensemble (:mod:`ads_bench.ensemble`) under every run's lock; never raises an
    ``Exception``. Returns ``{key: outcome}`` with the outcomes of :func:`run_one`; runs locked
    elsewhere are left to their holder, finished ones served, and a seed that diverged fails
    alone."""
    from ads_bench.ensemble.checkpoints import NEXT_CHECKPOINT
    from ads_bench.ensemble.loop import train_ensemble

    start = time.perf_counter()
    outcomes: dict[str, dict] = {}
    held: list[tuple[str, dict, RunDir]] = []
    for key, config, run_dir in jobs:
        rd = RunDir(run_dir)
        try:
            rd.acquire()
        except RunLocked as exc:
            outcomes[key] = outcome("elsewhere", error=str(exc), seconds=0.0)
            continue
        except Exception as exc:
            outcomes[key] = outcome("failed", error=f"{type(exc).__name__}: {exc}", seconds=0.0)
            continue
        held.append((key, config, rd))
    todo: list[tuple[str, dict, RunDir]] = []
    try:
        for key, config, rd in held:
            state = rd.status(config)
            recorded = recorded_outcome(rd, state)
            if recorded is not None:
                outcomes[key] = recorded
                continue
            if state == "stale":
                rd.clear()
            rd.clear_error()
            todo.append((key, config, rd))
        notes: dict[str, str] = {}
        results = []
        while todo:
            cfg = Config.from_dict(todo[0][1])
            seeds = [int(config["seed"]) for _, config, _ in todo]
            try:
                results = train_ensemble(
                    cfg, seeds, run_dirs=[rd for *_, rd in todo], progress=progress
                )
                break
            except DamagedFileError as exc:
                owner = next((t for t in todo if t[2].path == exc.path.parent), None)
                if owner is None or exc.path.name not in (CHECKPOINT, NEXT_CHECKPOINT):
                    raise
                moved = owner[2].quarantine(exc.path.name)
                notes[owner[0]] = f"{exc}; moved to {moved.name} and retrained from scratch"
        seconds = time.perf_counter() - start
        for (key, _, _), res in zip(todo, results, strict=True):
            if res.error is not None:  # its error.json ("diverged") was written when it stopped
                outcomes[key] = outcome("diverged", error=res.error, seconds=seconds)
            else:
                outcomes[key] = outcome(
                    "done",
                    metrics=res.metrics,
                    metrics_eval_steps=res.metrics_eval_steps,
                    timing=res.timing,
                    seconds=seconds,
                    note=notes.get(key),
                )
    except Exception as exc:
        tb, seconds = traceback.format_exc(), time.perf_counter() - start
        for key, config, rd in todo:
            if key not in outcomes:
                outcomes[key] = record_failure(config, rd, exc, tb, seconds)
    finally:
        for _, _, rd in held:
            rd.release()
    return outcomes


def _from_result(result: dict) -> dict:
    return {
        "metrics": result.get("metrics"),
        "metrics_eval_steps": result.get("metrics_eval_steps"),
        "timing": result.get("timing"),
    }
