"""Train a seed ensemble: :func:`train_ensemble`, its run folders, resume and training loop.

``train(config, seeds=[0, 1, 2, 3, 4], out_dir=D)`` (CLI: ``--seeds 0-4``, :func:`parse_seeds`)
comes here. Each seed has its own run folder ``D/seed-<s>/`` (:func:`seed_dir`; a sweep gives
``OUT/runs/<key>/`` instead), locked while training, holding the same files as a single-seed run.
Seeds already finished are served from disk; the others resume from their checkpoints (a
half-committed ensemble checkpoint is settled first, :mod:`ads_bench.ensemble.checkpoints`) and
train as one :class:`~ads_bench.ensemble.seed_ensemble.SeedEnsemble` per resumed iteration, with
the single-seed run's periodic evaluation, divergence guard and final evaluation for each seed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

from ads_bench.config import Config
from ads_bench.ensemble.checkpoints import settle_pending_checkpoints
from ads_bench.ensemble.seed_ensemble import SeedEnsemble
from ads_bench.store import RunDir, StoreError

__all__ = [
    "check_ensemble_config",
    "parse_seeds",
    "resume_groups",
    "seed_dir",
    "train_ensemble",
]


def seed_dir(out_dir: str | os.PathLike, seed: int) -> Path:
    """The run folder of ``seed`` in an ensemble's ``out_dir``: ``out_dir/seed-<seed>``."""
    return Path(out_dir) / f"seed-{seed}"


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` -> ``[0, 1, 2, 3, 4]``; ``"0,2,7"``, ``"3"`` and mixtures (``"0-2,9"``) too."""
    seeds: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise ValueError(f"--seeds: cannot parse {part!r} (use e.g. 0-4, 0,2,7 or 3)")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise ValueError(f"--seeds: empty range {part!r}")
        seeds += range(lo, hi + 1)
    return _check_seeds(seeds)


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds: at least one seed is needed")
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, int) or s < 0]
    if bad:
        raise ValueError(f"seeds must be integers >= 0, got {bad}")
    dupes = sorted({s for s in seeds if seeds.count(s) > 1})
    if dupes:
        raise ValueError(f"seeds: {dupes} listed more than once")
    return seeds


def check_ensemble_config(config: Config) -> None:
    """Raise ``ValueError`` if ``config`` cannot be trained as a seed ensemble (yet)."""
    if config.train.compile and config.train.objective == "kl":
        raise ValueError(
            "train.compile of a seed ensemble does not cover objective 'kl' (its gradient runs "
            "through the rollout); drop train.compile or train its seeds one by one"
        )


def train_ensemble(
    config: Config,
    seeds: Sequence[int],
    target=None,
    *,
    out_dir: str | os.PathLike | None = None,
    run_dirs: Sequence[RunDir] | None = None,
    progress: bool = True,
    raise_divergence: bool = False,
) -> list:
    """Train ``config`` for every seed in ``seeds`` as one batched ensemble.

    Returns one :class:`~ads_bench.run_result.RunResult` per seed, in the order of ``seeds``; a seed
    that diverged has ``error`` set (and the metrics of nothing: ``{}``). Seeds already finished in
    ``out_dir`` are served from disk untouched; the others train together (seeds resumed at
    different iterations train as one ensemble per iteration). ``run_dirs`` (one per seed, e.g. a
    sweep's ``OUT/runs/<key>/``) replaces the ``out_dir/seed-<s>/`` layout. Raises like
    :func:`ads_bench.training.train` for a bad config, target or folder; with
    ``raise_divergence``, also a diverged seed's ``NonFiniteError`` (after the others finished)."""
    from ads_bench.run_result import RunResult
    from ads_bench.run_state import run_target
    from ads_bench.runtime import threads
    from ads_bench.training import validate_config

    seeds = _check_seeds(seeds)
    validate_config(config)
    check_ensemble_config(config)
    cfgs = [dataclasses.replace(config, seed=s) for s in seeds]
    if run_dirs is not None:
        if out_dir is not None or len(run_dirs) != len(seeds):
            raise ValueError("give out_dir or one run folder per seed, not both")
        dirs = list(run_dirs)
    else:
        dirs = [RunDir(seed_dir(out_dir, s)) if out_dir is not None else None for s in seeds]
    tgt = run_target(config, target)
    results: dict[int, RunResult] = {}
    with contextlib.ExitStack() as held:
        todo = []
        for cfg, rd in zip(cfgs, dirs, strict=True):
            if rd is not None:
                rd.create()
                held.enter_context(rd.lock())
                state = rd.status(cfg.as_dict())
                if state == "done":
                    results[cfg.seed] = RunResult.from_disk(rd, rd.read_result())
                    continue
                if state == "stale":
                    raise StoreError(
                        f"{rd.path} holds a run of a different configuration; use another --out "
                        "or delete it"
                    )
                rd.clear_error()
                if rd.read_config() != cfg.as_dict():
                    rd.write_config(cfg.as_dict())
            todo.append((cfg, rd))
        with threads(config.train.threads):
            failures: dict[int, Exception] = {}
            for group in resume_groups(todo, tgt):
                ensemble = SeedEnsemble(group, seeds, progress)
                results.update(_train_group(ensemble))
                failures.update(ensemble.failures)
    if raise_divergence and failures:
        raise failures[min(failures)]
    return [results[s] for s in seeds]


def resume_groups(todo, target) -> list[list]:
    """Build every seed's run, resume it from its checkpoint (committing or discarding a pending
    ensemble checkpoint first), and group the runs by the iteration they resume at."""
    from ads_bench.training import _Run

    settle_pending_checkpoints([rd for _, rd in todo if rd is not None])
    by_iteration: dict[int, list] = {}
    for cfg, rd in todo:
        run = _Run(cfg, target, rd)
        resumed = run.try_resume()
        by_iteration.setdefault(run.iteration, []).append((run, resumed))
    return [by_iteration[k] for k in sorted(by_iteration)]


def _train_group(ens: SeedEnsemble) -> dict:
    """Train one ensemble to ``train.iterations`` (or until every seed stopped); every seed's
    :class:`~ads_bench.run_result.RunResult` by seed (a diverged seed's with ``error`` set)."""
    from ads_bench.guard import NonFiniteError
    from ads_bench.progress import ProgressLine
    from ads_bench.run_result import RunResult, finish_run
    from ads_bench.run_state import periodic_evaluation
    from ads_bench.training import divergence_guard

    cfg, t = ens.cfg, ens.cfg.train
    seeds = [run.cfg.seed for run in ens.runs]
    label = f"{cfg.method}/{cfg.target}/T={cfg.sampler.steps}/seeds={_span(seeds)}"
    bar = ProgressLine(t.iterations, label, ens.progress)
    it = ens.runs[0].iteration
    while it < t.iterations and any(ens.active):
        graphs = _graphs_compiled()
        start = time.perf_counter()
        try:
            losses = ens.step(it)
        except RuntimeError as exc:
            if it == ens.runs[0].iteration and "vmap" in str(exc).lower():
                raise ValueError(
                    f"the target or method cannot be batched over seeds with torch.func.vmap "
                    f"({str(exc).splitlines()[0][:200]}); train its seeds one by one"
                ) from exc
            raise
        seconds = time.perf_counter() - start
        compiled_now = _graphs_compiled() != graphs  # this iteration compiled a graph
        it += 1
        for s, run in enumerate(ens.runs):
            if not ens.active[s]:
                continue
            run.loss = losses[s]
            if compiled_now:  # compilation is timed apart from training (timing.compile_*)
                run.compile_seconds += seconds
                run.compile_iterations += 1
            else:
                run.train_seconds += seconds
            run.iteration = it
            try:
                divergence_guard(run)
            except NonFiniteError as err:  # this seed diverged: it stops alone
                ens.stop(s, err)
                continue
            periodic_evaluation(run)
        if t.checkpoint_every and it % t.checkpoint_every == 0:
            ens.save()
        live = [loss for s, loss in enumerate(losses) if ens.active[s]]
        bar.update(it, f"loss={sum(live) / max(len(live), 1):.4g} (mean of {len(live)})")
    ens.save()
    out = {}
    env = {"ensemble_seeds": ens.all_seeds, "ensemble_size": ens.S}
    for s, run in enumerate(ens.runs):
        if ens.active[s]:
            out[run.cfg.seed] = finish_run(run, ens.resumed[s], env=env)
        else:
            out[run.cfg.seed] = RunResult(
                config=run.cfg.as_dict(),
                metrics={},
                timing={},
                env=env,
                history=run.history,
                error=ens.errors[s],
                out_dir=str(run.run_dir.path) if run.run_dir is not None else None,
            )
    return out


def _graphs_compiled() -> int:
    """How many graphs torch.compile has compiled in this process (since the last dynamo reset)."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def _span(seeds: list[int]) -> str:
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))
