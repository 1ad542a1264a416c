"""Run a sweep: :func:`run_sweep` trains every spec not already finished, once, resumably.

It resolves and validates every spec's config before anything trains, serves the runs whose folder
already holds their outcome (a result or a divergence), hands the rest to an executor
(:mod:`ads_bench.sweep.executors`), waits for runs another process was training, and returns one
:class:`~ads_bench.sweep.records.RunRecord` per spec. The design and the layout of the sweep folder
are described in :mod:`ads_bench.sweep`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ads_bench.config import Config
from ads_bench.store import RunDir
from ads_bench.sweep.executors import EXECUTORS, Job, execute, make_tasks
from ads_bench.sweep.records import RunRecord, SweepResult, format_duration
from ads_bench.sweep.specs import RunSpec
from ads_bench.sweep.worker import recorded_outcome

__all__ = ["run_sweep"]


def _resolve(specs: Sequence[RunSpec]) -> list[Config]:
    """Every spec's config, validated; raises ``ValueError`` naming the first bad spec."""
    from ads_bench.targets import get_target
    from ads_bench.training import validate_config

    configs = []
    for spec in specs:
        try:
            cfg = spec.config()
            validate_config(cfg)
            if ":" not in cfg.target:
                get_target(cfg.target)  # a typo fails here; import paths resolve in the worker
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"invalid run {spec.label} {dict(spec.overrides)}: {exc}") from exc
        configs.append(cfg)
    return configs


def run_sweep(
    specs: Sequence[RunSpec],
    out_dir: str | os.PathLike,
    *,
    workers: int = 1,
    executor: str = "local",
    address: str | None = None,
    progress: bool = True,
    train_progress: bool = False,
    seed_ensembles: bool = False,
) -> SweepResult:
    """Run every spec not already finished under ``out_dir``; return one record per spec.

    Args:
        specs: the runs (e.g. concatenated :func:`~ads_bench.sweep.specs.expand_grid` lists);
            specs resolving to the same config run once.
        out_dir: sweep folder; run ``k`` lives in ``out_dir/runs/<key>/``.
        workers: concurrent runs (``"local"``: 1 = in this process, more = a spawn process pool
            with one torch thread each; ``"ray"``: CPUs of the local Ray instance).
        executor: ``"local"`` or ``"ray"``.
        address: Ray cluster address (``"auto"``, ``"ray://host:10001"``); None starts a local
            instance for the sweep. Cluster nodes need ``ads_bench`` installed and ``out_dir``
            on a shared file system.
        progress: a header and one line per finished run on stderr (print
            :meth:`~ads_bench.sweep.records.SweepResult.summary` yourself for the failures at the
            end).
        train_progress: the training loop's own progress lines.
        seed_ensembles: runs whose configs differ only in seed train together as one batched
            ensemble (:mod:`ads_bench.ensemble`) in one worker; configs an ensemble cannot take
            (:func:`~ads_bench.ensemble.loop.check_ensemble_config`: ``kl`` with ``train.compile``)
            still run one by one. Results go to the same run
            folders, with the same files.
    Raises:
        ValueError: bad arguments, or a spec whose config is invalid (before anything runs).
        KeyboardInterrupt: passed on after cancelling pending runs; finished runs stay on disk.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; valid: {', '.join(EXECUTORS)}")
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    if address is not None and executor != "ray":
        raise ValueError("address is only used with executor='ray'")
    specs = list(specs)
    if not all(isinstance(s, RunSpec) for s in specs):
        raise TypeError("specs must be RunSpec instances (see expand_grid)")
    start = time.perf_counter()
    runs_dir = Path(out_dir) / "runs"
    configs = _resolve(specs)
    keys = [cfg.key() for cfg in configs]
    labels: dict[str, str] = {}  # key -> label of its first spec
    for key, spec in zip(keys, specs, strict=True):
        labels.setdefault(key, spec.label)
    outcomes: dict[str, dict] = {}
    jobs: list[Job] = []
    seen: set[str] = set()
    for key, cfg in zip(keys, configs, strict=True):
        if key in seen:
            continue
        seen.add(key)
        run = RunDir(runs_dir / key)
        config = cfg.as_dict()
        # Read without the lock: a finished result is never rewritten, so it can be served as it
        # is; anything else is decided by the worker once it holds the run's lock.
        # A diverged run is an outcome like a result: served, not retrained.
        recorded = recorded_outcome(run, run.status(config))
        if recorded is not None:
            outcomes[key] = recorded
            continue
        jobs.append((key, config, str(run.path)))

    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    n_runs, n_cached = len(outcomes) + len(jobs), len(outcomes)
    counts = {"done": 0, "failed": 0, "cached": 0, "diverged": 0}
    where = (
        "in-process" if executor == "local" and workers == 1 else f"{executor}, {workers} workers"
    )
    say(f"[sweep] {n_runs} runs: {n_cached} cached, {len(jobs)} to run ({where}) in {runs_dir}")
    elsewhere: dict[str, Job] = {}
    job_of = {job[0]: job for job in jobs}

    def done(key: str, out: dict) -> None:
        if out["status"] == "elsewhere":
            elsewhere[key] = job_of[key]
            say(f"[sweep] running elsewhere, will wait for it: {labels[key]} ({out['error']})")
            return
        outcomes[key] = out
        counts[out["status"]] += 1
        finished = len(outcomes) - n_cached
        left = n_runs - len(outcomes)
        eta = (time.perf_counter() - start) / max(finished, 1) * left
        error = out["error"].splitlines()[0][:200] if out["error"] else ""
        what = {
            "done": "done",
            "cached": "finished elsewhere",
            "diverged": f"DIVERGED ({error})",
        }.get(out["status"], f"FAILED ({error})")
        took = f" ({out['seconds']:.1f} s)" if out["seconds"] is not None else ""
        say(
            f"[sweep {len(outcomes)}/{n_runs}] {what} {labels[key]}{took}"
            f" | {n_cached + counts['cached']} cached, {counts['failed']} failed,"
            f" eta {format_duration(eta)}"
        )
        if out.get("note"):
            say(f"[sweep]   recovered: {out['note']}")

    try:
        batch = jobs
        while batch:
            execute(
                make_tasks(batch, seed_ensembles), executor, workers, address, train_progress, done
            )
            # Runs another process held: wait until it lets go, then serve its result, or run
            # them here if it stopped without finishing (the worker decides, under the lock).
            batch, waiting = [], list(elsewhere.values())
            elsewhere.clear()
            for key, config, run_dir in waiting:
                RunDir(run_dir).wait_unlocked()
                batch.append((key, config, run_dir))
    except KeyboardInterrupt:
        left = n_runs - len(outcomes)
        say(f"[sweep] interrupted: {left} runs unfinished; run the sweep again to resume")
        raise
    records = [
        RunRecord(spec=spec, key=key, path=str(runs_dir / key), **outcomes[key])
        for spec, key in zip(specs, keys, strict=True)
    ]
    wall = time.perf_counter() - start
    ran = counts["done"] + counts["failed"] + counts["diverged"]
    return SweepResult(records, ran, n_cached + counts["cached"], wall, str(out_dir))
