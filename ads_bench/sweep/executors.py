"""Where a sweep's runs train: in this process, in a ``spawn`` process pool, or on Ray.

:func:`make_tasks` packages the runs to train (``(key, config dict, run folder)`` jobs) into tasks:
one run each, or, with seed ensembles, the seeds of one config together (:mod:`ads_bench.ensemble`).
Every executor calls the same worker entry, :func:`run_task`, and reports each run's outcome through
a ``done(key, outcome)`` callback as it arrives. Pool workers die with the sweep (``kill -9``
included); ``KeyboardInterrupt`` cancels pending tasks and terminates running ones, whose
checkpoints (written atomically) resume later.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import traceback
from collections.abc import Callable

from ads_bench.config import Config
from ads_bench.store import RunDir, canonical_config
from ads_bench.sweep.worker import record_failure, run_group, run_one

__all__ = ["EXECUTORS", "Job", "execute", "make_tasks", "run_task"]

EXECUTORS = ("local", "ray")

Job = tuple[str, dict, str]  # key, config dict, run folder
_Task = list[Job]  # one run, or the seeds of one config trained as an ensemble
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
    return {k: record_failure(c, RunDir(d), exc, tb, 0.0) for k, c, d in task}


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


def execute(
    tasks: list[_Task],
    executor: str,
    workers: int,
    address: str | None,
    train_progress: bool,
    done: _Done,
) -> None:
    """Train ``tasks`` on ``executor`` (``"local"``: in-process for one worker, else a process pool;
    ``"ray"``), calling ``done(key, outcome)`` for every run as its task finishes."""
    if executor == "ray":
        _run_ray(tasks, workers, address, train_progress, done)
    elif workers == 1:
        _run_inline(tasks, train_progress, done)
    else:
        _run_pool(tasks, workers, train_progress, done)


def make_tasks(jobs: list[Job], seed_ensembles: bool) -> list[_Task]:
    """One task per job, or (``seed_ensembles``) one :class:`_Group` per config-but-the-seed, in
    the order of each group's first job."""
    if not seed_ensembles:
        return [[job] for job in jobs]
    from ads_bench.ensemble.loop import check_ensemble_config

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
    return canonical_config({**config, "seed": 0})


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
