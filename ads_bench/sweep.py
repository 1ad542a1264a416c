"""Sweeps: run a grid of training runs once each, resumably, in-process, in a process pool or on Ray.

A run is named by a :class:`RunSpec` (target, method, steps T, seed, config overrides and a free
``tag``); :func:`expand_grid` builds the cartesian products that the ``reproduce/`` scripts
concatenate, and :func:`run_sweep` runs them.

Design:

- **Results are keyed by the fully resolved config**, not by the spec: run folder
  ``OUT/runs/<cfg.key()>/`` is the ``out_dir`` handed to :func:`ads_bench.training.train`, so two
  specs that resolve to the same config share one run, and a changed default, preset or override
  gives a new folder instead of silently reusing an old result.
- **The disk is the only state**, owned by :class:`ads_bench.store.RunDir`. A run is finished when
  ``result.json`` exists and the config stored in it equals the spec's config (compared as JSON).
  An interrupted run resumes from its ``checkpoint.pt``. A run that raised has ``error.json`` and is
  retried by the next sweep. So a sweep can be killed at any moment and simply started again;
  :func:`load_records` reads the same state without running anything.
- **One trainer per run.** The worker takes the run's lock before it looks at the folder and holds it
  until the run is finished, so a folder of another config is cleared, a failed run retried and a
  checkpoint resumed by one process only. A run whose lock is held (another sweep, or the CLI, is
  training it) is skipped and reported "running elsewhere"; at the end the sweep waits for it and
  serves its result (or runs it, if its trainer died without finishing). Two sweeps on one ``OUT``
  thus train each run once between them.
- **Damaged files.** A checkpoint that cannot be loaded is moved aside (``checkpoint.pt.damaged-…``)
  and the run retrained from scratch; a damaged ``result.json`` is rebuilt by re-evaluating the final
  checkpoint, with the same numbers (evaluation randomness depends only on the seed).
- **One worker function**, :func:`run_one`, takes plain data (the config dict and the run folder) and
  returns a plain dict; every executor calls it. It catches every ``Exception`` (one failing run
  never stops a sweep); ``KeyboardInterrupt`` stops the sweep: pending runs are cancelled and running
  workers terminated, finished runs stay on disk.
- **Executors**: ``"local"`` runs in-process when ``workers == 1``, else in a ``spawn`` process pool
  (forking after torch is loaded is unsafe); ``"ray"`` submits one single-CPU task per run to a
  local Ray instance or the cluster at ``address``. Pool workers die with the sweep: each asks the
  kernel for SIGKILL when its parent dies (``PR_SET_PDEATHSIG``) and also watches its parent's pid,
  so ``kill -9`` of the sweep leaves no worker training behind.
- Every config is resolved and validated before any training starts, so a bad grid fails at once
  with the offending spec named. Each run trains with its config's ``train.threads`` (default 1).

Layout of ``OUT``::

    OUT/runs/<key>/config.json      resolved config (written when the run starts)
    OUT/runs/<key>/checkpoint.pt    latest checkpoint (resume point)
    OUT/runs/<key>/history.csv      periodic evaluations (finished runs)
    OUT/runs/<key>/result.json      {"config", "metrics", "timing", "env"} (finished runs)
    OUT/runs/<key>/error.json       {"config", "error", "traceback"} (failed runs)

Caveats: scripts using ``workers > 1`` need an ``if __name__ == "__main__":`` guard (``spawn``
re-imports the main module); targets added with ``register_target`` at run time are not seen by
worker processes (use a ``"module:attr"`` path).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any

from ads_bench.config import Config
from ads_bench.methods import make_config
from ads_bench.store import CHECKPOINT, DamagedFileError, RunDir, RunLocked, StoreError

__all__ = [
    "RunRecord",
    "RunSpec",
    "SweepResult",
    "expand_grid",
    "load_records",
    "run_one",
    "run_sweep",
]

EXECUTORS = ("local", "ray")
# Fields a spec sets itself; an override of them would silently fight the spec.
_RESERVED = ("target", "method", "seed", "steps", "sampler.steps")


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep. ``overrides`` may be given as a dict; it is stored as a sorted tuple of
    ``(field, value)`` pairs so specs are hashable. ``tag`` is a free label (e.g. an ablation row)
    and is not part of the config."""

    target: str
    method: str
    steps: int
    seed: int
    overrides: tuple[tuple[str, Any], ...] = ()
    tag: str = ""

    def __post_init__(self):
        items = list(self.overrides.items() if isinstance(self.overrides, dict) else self.overrides)
        names = [name for name, _ in items]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate override fields in {names}")
        reserved = sorted(set(names) & set(_RESERVED))
        if reserved:
            raise ValueError(f"override {reserved} through RunSpec's own fields, not overrides")
        object.__setattr__(self, "overrides", tuple(sorted((str(k), v) for k, v in items)))

    def config(self) -> Config:
        """The resolved config: defaults, method preset, ``overrides``, then ``sampler.steps``."""
        overrides = {**dict(self.overrides), "sampler.steps": self.steps}
        return make_config(self.method, self.target, seed=self.seed, overrides=overrides)

    @property
    def key(self) -> str:
        """The key (16 hex) of the resolved config; names the run folder."""
        return self.config().key()

    @property
    def label(self) -> str:
        """Short human-readable name, e.g. ``adaptive/gmm25/T=10/seed=0 [no-replay]``."""
        text = f"{self.method}/{self.target}/T={self.steps}/seed={self.seed}"
        return f"{text} [{self.tag}]" if self.tag else text


def expand_grid(
    targets: Iterable[str],
    methods: Iterable[str],
    steps: Iterable[int],
    seeds: Iterable[int],
    overrides: dict[str, Any] | None = None,
    tag: str = "",
) -> list[RunSpec]:
    """Cartesian product of the axes, ordered by target, steps, method, then seed (the last varies
    fastest); every spec gets the same ``overrides`` and ``tag``. A bare string or int is taken as
    a one-value axis."""
    ov = tuple((overrides or {}).items())
    axes = [[a] if isinstance(a, (str, int)) else list(a) for a in (targets, steps, methods, seeds)]
    return [
        RunSpec(target=t, method=m, steps=s, seed=seed, overrides=ov, tag=tag)
        for t, s, m, seed in product(*axes)
    ]


@dataclass
class RunRecord:
    """What a sweep knows about one spec.

    ``status``: ``"done"`` (ran now and finished), ``"cached"`` (finished before this sweep),
    ``"failed"`` (raised; ``error`` says what), ``"diverged"`` (training stopped on a non-finite value
    or by the divergence guard, :mod:`ads_bench.guard`: an outcome, kept and not retrained; ``error``
    says when and why), or, from :func:`load_records` only, ``"missing"``
    (not run, unfinished, or its result belongs to another config). A run finished by another
    process while this sweep waited for it is ``"cached"``. ``note`` says what was recovered
    (e.g. a damaged checkpoint moved aside). ``metrics`` and
    ``metrics_eval_steps`` are those of ``result.json``; ``seconds`` is the wall time of this
    sweep's attempt (None when nothing ran)."""

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
        return self.status in ("done", "cached")


@dataclass
class SweepResult:
    """Records in the order of the specs. ``ran`` and ``cached`` count distinct runs (config keys):
    ``ran`` the runs attempted by this sweep (finished or failed), ``cached`` those found finished."""

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
        return all(r.ok for r in self.records)

    def summary(self) -> str:
        """Counts, wall time, and one line per failed run (spec, overrides, error, error file)."""
        runs = len({r.key for r in self.records})
        failed, diverged = self.failed, self.diverged
        done = sum(1 for r in {r.key: r for r in self.records}.values() if r.status == "done")
        lines = [
            f"sweep: {runs} runs: {done} done, {self.cached} cached, {len(diverged)} diverged, "
            f"{len(failed)} failed ({_fmt_eta(self.wall_seconds)} wall)"
        ]
        for r in diverged:
            lines.append(f"  DIVERGED {r.spec.label} key={r.key}: {r.error}")
        for r in failed:
            ov = f" {dict(r.spec.overrides)}" if r.spec.overrides else ""
            lines.append(f"  FAILED {r.spec.label}{ov} key={r.key}: {r.error}")
            lines.append(f"         see {Path(r.path) / 'error.json'}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------- the worker
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
        return _outcome("elsewhere", error=str(exc), seconds=time.perf_counter() - start)
    except Exception as exc:
        return _outcome("failed", error=f"{type(exc).__name__}: {exc}", seconds=0.0)
    try:
        state = rd.status(config)
        recorded = _recorded_outcome(rd, state)
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
        return _outcome(
            "done", metrics=result.metrics, metrics_eval_steps=result.metrics_eval_steps,
            timing=result.timing, seconds=time.perf_counter() - start, note=note,
        )  # fmt: skip
    except Exception as exc:
        return _failure(config, rd, exc, traceback.format_exc(), time.perf_counter() - start)
    finally:
        rd.release()


def _outcome(status: str, **fields: Any) -> dict:
    out = {"status": status, "metrics": None, "metrics_eval_steps": None, "timing": None,
           "error": None, "seconds": None, "note": None}  # fmt: skip
    out.update(fields)
    return out


def _failure(config: dict, rd: RunDir, exc: BaseException, tb: str, seconds: float) -> dict:
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
    return _outcome(kind, error=error, seconds=seconds)


def _recorded_outcome(rd: RunDir, state: str) -> dict | None:
    """The outcome a run folder already holds, served without training: ``"cached"`` for a
    finished run (``state`` ``"done"``), ``"diverged"`` for one that diverged earlier; else None."""
    if state == "done":
        return {**_outcome("cached"), **_from_result(rd.read_result())}
    if state == "diverged":
        return _outcome("diverged", error=(rd.read_error() or {}).get("error"), seconds=0.0)
    return None


def run_group(jobs: list[tuple[str, dict, str]], progress: bool = False) -> dict[str, dict]:
    """Train ``jobs`` (``(key, config dict, run folder)``, configs differing only in seed) as one
    seed ensemble (:mod:`ads_bench.ensemble`) under every run's lock; never raises an
    ``Exception``. Returns ``{key: outcome}`` with the outcomes of :func:`run_one`; runs locked
    elsewhere are left to their holder, finished ones served, and a seed that diverged fails alone."""
    from ads_bench.ensemble import NEXT_CHECKPOINT, train_ensemble

    start = time.perf_counter()
    outcomes: dict[str, dict] = {}
    held: list[tuple[str, dict, RunDir]] = []
    for key, config, run_dir in jobs:
        rd = RunDir(run_dir)
        try:
            rd.acquire()
        except RunLocked as exc:
            outcomes[key] = _outcome("elsewhere", error=str(exc), seconds=0.0)
            continue
        except Exception as exc:
            outcomes[key] = _outcome("failed", error=f"{type(exc).__name__}: {exc}", seconds=0.0)
            continue
        held.append((key, config, rd))
    todo: list[tuple[str, dict, RunDir]] = []
    try:
        for key, config, rd in held:
            state = rd.status(config)
            recorded = _recorded_outcome(rd, state)
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
                outcomes[key] = _outcome("diverged", error=res.error, seconds=seconds)
            else:
                outcomes[key] = _outcome(
                    "done", metrics=res.metrics, metrics_eval_steps=res.metrics_eval_steps,
                    timing=res.timing, seconds=seconds, note=notes.get(key),
                )  # fmt: skip
    except Exception as exc:
        tb, seconds = traceback.format_exc(), time.perf_counter() - start
        for key, config, rd in todo:
            if key not in outcomes:
                outcomes[key] = _failure(config, rd, exc, tb, seconds)
    finally:
        for _, _, rd in held:
            rd.release()
    return outcomes


def _die_with_parent() -> None:
    """End this worker when the sweep process dies, however it dies (``kill -9`` included)."""
    parent = os.getppid()
    try:  # Linux: the kernel sends SIGKILL when the parent exits
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent or parent == 1:  # the parent died before the request took effect
        os._exit(1)

    def watch() -> None:  # elsewhere (or if the kernel's signal is missed): poll the parent
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="ads-bench-parent-watch", daemon=True).start()


def _init_pool_worker() -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the sweep's to handle


# ---------------------------------------------------------------------------------- executors
_Job = tuple[str, dict, str]  # key, config dict, run folder
_Task = list[_Job]  # one run, or the seeds of one config trained as an ensemble
_Done = Callable[[str, dict], None]


def run_task(task: _Task, progress: bool = False) -> dict[str, dict]:
    """The worker entry of every executor: one run (:func:`run_one`) or a seed group
    (:func:`run_group`); ``{key: outcome}``."""
    if len(task) == 1 and not _is_group(task):
        key, config, run_dir = task[0]
        return {key: run_one(config, run_dir, progress)}
    return run_group(task, progress)


def _is_group(task: _Task) -> bool:
    return getattr(task, "ensemble", False)


class _Group(list):
    """A task whose jobs train as one seed ensemble (even a single seed)."""

    ensemble = True


def _task_failed(task: _Task, exc: BaseException, tb: str) -> dict[str, dict]:
    return {k: _failure(c, RunDir(d), exc, tb, 0.0) for k, c, d in task}


def _run_inline(tasks: list[_Task], train_progress: bool, done: _Done) -> None:
    for task in tasks:
        for key, out in run_task(task, train_progress).items():
            done(key, out)


def _run_pool(tasks: list[_Task], workers: int, train_progress: bool, done: _Done) -> None:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(tasks)),
        mp_context=mp.get_context("spawn"),
        initializer=_init_pool_worker,
    )
    try:
        futures = {pool.submit(run_task, task, train_progress): task for task in tasks}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                try:
                    outs = fut.result()
                except Exception as exc:  # the worker process died (e.g. killed, out of memory)
                    outs = _task_failed(futures[fut], exc, traceback.format_exc())
                for key, out in outs.items():
                    done(key, out)
    except BaseException:
        # Terminate the running workers (shutdown() forgets them, so look first): checkpoints are
        # written atomically, so a killed run resumes later.
        # Workers go first, so nothing the executor does next can wait on a training process.
        procs = list((getattr(pool, "_processes", None) or {}).values())
        for proc in procs:
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _run_ray(
    tasks: list[_Task], workers: int, address: str | None, train_progress: bool, done: _Done
) -> None:
    try:
        import ray
    except ImportError as exc:
        raise ImportError("executor='ray' needs Ray: pip install ray") from exc
    started = False
    if not ray.is_initialized():
        if address is not None:
            ray.init(address=address, logging_level="warning")
        else:
            ray.init(num_cpus=workers, include_dashboard=False, logging_level="warning")
        started = True
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(run_task)
        refs = {remote.remote(task, train_progress): task for task in tasks}
        pending = list(refs)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                for ref in ready:
                    try:
                        outs = ray.get(ref)
                    except Exception as exc:  # the task's worker died
                        outs = _task_failed(refs[ref], exc, traceback.format_exc())
                    for key, out in outs.items():
                        done(key, out)
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
    finally:
        if started:
            ray.shutdown()


# ---------------------------------------------------------------------------------- the sweep
def _fmt_eta(seconds: float) -> str:
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


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
        specs: the runs (e.g. concatenated :func:`expand_grid` lists); specs resolving to the same
            config run once.
        out_dir: sweep folder; run ``k`` lives in ``out_dir/runs/<key>/``.
        workers: concurrent runs (``"local"``: 1 = in this process, more = a spawn process pool
            with one torch thread each; ``"ray"``: CPUs of the local Ray instance).
        executor: ``"local"`` or ``"ray"``.
        address: Ray cluster address (``"auto"``, ``"ray://host:10001"``); None starts a local
            instance for the sweep. Cluster nodes need ``ads_bench`` installed and ``out_dir``
            on a shared file system.
        progress: a header and one line per finished run on stderr (print
            :meth:`SweepResult.summary` yourself for the failures at the end).
        train_progress: the training loop's own progress lines.
        seed_ensembles: runs whose configs differ only in seed train together as one batched
            ensemble (:mod:`ads_bench.ensemble`) in one worker; configs an ensemble cannot take
            (:func:`~ads_bench.ensemble.check_ensemble_config`: ``kl`` with ``train.compile``)
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
    jobs: list[_Job] = []
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
        recorded = _recorded_outcome(run, run.status(config))
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
    elsewhere: dict[str, _Job] = {}
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
        what = {"done": "done", "cached": "finished elsewhere",
                "diverged": f"DIVERGED ({error})"}.get(out["status"], f"FAILED ({error})")  # fmt: skip
        took = f" ({out['seconds']:.1f} s)" if out["seconds"] is not None else ""
        say(
            f"[sweep {len(outcomes)}/{n_runs}] {what} {labels[key]}{took}"
            f" | {n_cached + counts['cached']} cached, {counts['failed']} failed, eta {_fmt_eta(eta)}"
        )
        if out.get("note"):
            say(f"[sweep]   recovered: {out['note']}")

    def execute(batch: list[_Job]) -> None:
        tasks = _tasks(batch, seed_ensembles)
        if executor == "ray":
            _run_ray(tasks, workers, address, train_progress, done)
        elif workers == 1:
            _run_inline(tasks, train_progress, done)
        else:
            _run_pool(tasks, workers, train_progress, done)

    try:
        batch = jobs
        while batch:
            execute(batch)
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


def _tasks(jobs: list[_Job], seed_ensembles: bool) -> list[_Task]:
    """One task per job, or (``seed_ensembles``) one :class:`_Group` per config-but-the-seed, in
    the order of each group's first job."""
    if not seed_ensembles:
        return [[job] for job in jobs]
    from ads_bench.ensemble import check_ensemble_config

    groups: dict[str, _Task] = {}
    tasks: list[_Task] = []
    for job in jobs:
        cfg = Config.from_dict(job[1])
        try:
            check_ensemble_config(cfg)
        except ValueError:
            tasks.append([job])
            continue
        rest = _canonical_without_seed(job[1])
        if rest not in groups:
            groups[rest] = _Group()
            tasks.append(groups[rest])
        groups[rest].append(job)
    return tasks


def _canonical_without_seed(config: dict) -> str:
    from ads_bench.store import canonical_config

    return canonical_config({**config, "seed": 0})


def _from_result(result: dict) -> dict:
    return {
        "metrics": result.get("metrics"),
        "metrics_eval_steps": result.get("metrics_eval_steps"),
        "timing": result.get("timing"),
    }


def load_records(out_dir: str | os.PathLike, specs: Sequence[RunSpec]) -> list[RunRecord]:
    """What is on disk for ``specs`` (status ``"done"``, ``"failed"``, ``"diverged"`` or
    ``"missing"``), without
    running or deleting anything; for rendering tables of partial sweeps."""
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
