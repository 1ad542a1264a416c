"""Sweeps: run a grid of training runs once each, resumably, in-process, in a pool or on Ray.

A run is named by a :class:`~ads_bench.sweep.specs.RunSpec` (target, method, steps T, seed, config
overrides and a free ``tag``); :func:`~ads_bench.sweep.specs.expand_grid` builds the cartesian
products that the ``reproduce/`` scripts concatenate, and :func:`~ads_bench.sweep.runner.run_sweep`
runs them. The package holds one concept per module:

- :mod:`ads_bench.sweep.specs`: what to run (``RunSpec``, ``expand_grid``);
- :mod:`ads_bench.sweep.records`: what a sweep answers (``RunRecord``, ``SweepResult``) and what is
  on disk without running anything (``load_records``);
- :mod:`ads_bench.sweep.worker`: the worker functions that train one run or one seed group under
  its lock (``run_one``, ``run_group``);
- :mod:`ads_bench.sweep.executors`: how the runs are packaged into tasks and where they run
  (in-process, a spawn process pool, Ray);
- :mod:`ads_bench.sweep.runner`: ``run_sweep``, which resolves every spec, serves finished runs and
  hands the rest to an executor.

Design:

- **Results are keyed by the fully resolved config**, not by the spec: run folder
  ``OUT/runs/<cfg.key()>/`` is the ``out_dir`` handed to :func:`ads_bench.training.train`, so two
  specs that resolve to the same config share one run, and a changed default, preset or override
  gives a new folder instead of silently reusing an old result.
- **The disk is the only state**, owned by :class:`ads_bench.store.RunDir`. A run is finished when
  ``result.json`` exists and the config stored in it equals the spec's config (compared as JSON).
  An interrupted run resumes from its ``checkpoint.pt``. A run that raised has ``error.json`` and is
  retried by the next sweep. So a sweep can be killed at any moment and simply started again;
  ``load_records`` reads the same state without running anything.
- **One trainer per run.** The worker takes the run's lock before it looks at the folder and holds
  it until the run is finished, so a folder of another config is cleared, a failed run retried and
  a checkpoint resumed by one process only. A run whose lock is held (another sweep, or the CLI, is
  training it) is skipped and reported "running elsewhere"; at the end the sweep waits for it and
  serves its result (or runs it, if its trainer died without finishing). Two sweeps on one ``OUT``
  thus train each run once between them.
- **Damaged files.** A checkpoint that cannot be loaded is moved aside (``checkpoint.pt.damaged-…``)
  and the run retrained from scratch; a damaged ``result.json`` is rebuilt by re-evaluating the
  final checkpoint, with the same numbers (evaluation randomness depends only on the seed).
- **One worker function**, ``run_one``, takes plain data (the config dict and the run folder) and
  returns a plain dict; every executor calls it. It catches every ``Exception`` (one failing run
  never stops a sweep); ``KeyboardInterrupt`` stops the sweep: pending runs are cancelled and
  running workers terminated, finished runs stay on disk.
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
