"""The record of a finished run (:class:`RunResult`) and how a run ends (:func:`finish_run`).

A finished run folder (:class:`ads_bench.store.RunDir`) holds ``result.json`` (config, final
metrics, the step-reduction control's metrics, timing, environment) and ``history.csv`` (one row
per periodic evaluation and the final one). The metrics are those of README "Metrics", from
:func:`ads_bench.evaluation.evaluate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ads_bench.environment import run_environment
from ads_bench.evaluation import METRIC_KEYS, eval_generator
from ads_bench.run_state import RunState
from ads_bench.store import RunDir

__all__ = ["RunResult", "finish_run"]


@dataclass
class RunResult:
    """What :func:`ads_bench.train` returns for one run (and ``result.json`` holds, but history)."""

    config: dict
    metrics: dict
    timing: dict
    env: dict
    history: list[dict] = field(default_factory=list)
    out_dir: str | None = None
    #: metrics of the same networks on ``eval.steps`` steps (``None`` unless configured)
    metrics_eval_steps: dict | None = None
    #: True when the run was already finished in ``out_dir`` and served from disk untouched
    cached: bool = False
    #: why a seed of an ensemble stopped (it has no metrics then); ``None`` for a finished run
    error: str | None = None

    @classmethod
    def from_disk(cls, run_dir: RunDir, data: dict) -> RunResult:
        """A finished run's result from its folder, as :func:`ads_bench.train` returned it
        (``cached=True``)."""
        return cls(
            config=data["config"],
            metrics=data["metrics"],
            timing=data.get("timing") or {},
            env=data.get("env") or {},
            history=run_dir.read_history(),
            out_dir=str(run_dir.path),
            metrics_eval_steps=data.get("metrics_eval_steps"),
            cached=True,
        )

    def to_json(self) -> dict:
        """The content of ``result.json``."""
        return {
            "config": self.config,
            "metrics": self.metrics,
            "metrics_eval_steps": self.metrics_eval_steps,
            "timing": self.timing,
            "env": self.env,
        }


def finish_run(run: RunState, resumed: bool, env: dict | None = None) -> RunResult:
    """Final checkpoint, final evaluation and the run's records (``result.json``, history);
    ``env`` adds fields to the recorded environment (e.g. the ensemble a seed was trained in)."""
    cfg, t = run.cfg, run.cfg.train
    seed, device, run_dir = cfg.seed, t.device, run.run_dir
    # The final checkpoint (the trained model) is written before the final evaluation, so a run
    # re-evaluated from it (damaged result.json) appends the same final row once, not twice.
    run.save()
    final_gen = eval_generator(seed, run.iteration, final=True, device=device)
    final = run.evaluate(final_gen)
    history = [
        *run.history,
        {"iteration": run.iteration, "loss": run.loss, "train_seconds": run.train_seconds, **final},
    ]
    reduced = None
    if cfg.eval.steps is not None:
        # The step-reduction control: the same networks sampled on a coarser (or finer) grid; it
        # continues the final evaluation's stream.
        reduced = {
            "steps": cfg.eval.steps,
            **run.evaluate(final_gen, run.model.with_steps(cfg.eval.steps)),
        }
    iters = t.iterations
    timed = iters - run.compile_iterations  # iterations that did not compile a graph
    result = RunResult(
        config=cfg.as_dict(),
        metrics=final,
        metrics_eval_steps=reduced,
        timing={
            "train_seconds": run.train_seconds,
            "iterations": iters,
            "ms_per_iteration": 1e3 * run.train_seconds / timed if timed > 0 else None,
            "compile_seconds": run.compile_seconds,
            "compile_iterations": run.compile_iterations,
            "eval_seconds": run.eval_seconds,
            "resumed": resumed,
        },
        env={**run_environment(cfg, run.impl), **(env or {})},
        history=history,
        out_dir=str(run_dir.path) if run_dir is not None else None,
    )
    if run_dir is not None:
        run_dir.write_history(history, ["iteration", "loss", "train_seconds", *METRIC_KEYS])
        run_dir.write_result(result.to_json())
    return result
