"""The convergence figure (README, *Reproducing the paper*): ELBO against training iteration.

    python reproduce/fig_convergence.py [--budget quick] [--out results] [--figures-dir DIR]

On gmm25 for ``fixed``, ``fixed-learnvar`` and ``adaptive``, one panel per T in {5, 10, 20} (smoke:
{5, 10}); each run evaluates every ``iterations // 10`` iterations (``history.csv``), so its runs
are its own (not Table 1's). The line is the mean over seeds, the band the min-max range, the
dashed line the true log Z, a dotted line the median iteration at which a method comes within
0.1 nats of its own final ELBO (:func:`claims.iterations_to_final`). Writes
``FIGURES/convergence.{png,pdf}`` and its entry of ``OUT/figures.json`` (:mod:`_plotting`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from _common import Budget
from _plotting import Figure, color, figure_main, method_order, save_figure, title
from claims import SPEED_TOL, iterations_to_final
from matplotlib import pyplot as plt

from ads_bench.analysis.runs import read_history
from ads_bench.sweep.records import RunRecord
from ads_bench.sweep.specs import RunSpec, expand_grid
from ads_bench.targets import get_target

TARGET = "gmm25"
METHODS = ["fixed", "fixed-learnvar", "adaptive"]
POINTS = 10  # periodic evaluations per convergence run


def steps_of(budget: Budget) -> list[int]:
    """The panels' T: {5, 10, 20}, or {5, 10} at the smoke budget."""
    return [5, 10] if budget.name == "smoke" else [5, 10, 20]


def build_specs(budget: Budget) -> list[RunSpec]:
    """Every (T, method, seed) run on gmm25, evaluated every ``iterations // 10`` iterations."""
    every = max(1, budget.iterations // POINTS)
    over = budget.config_overrides(**{"eval.every": every})
    return expand_grid(
        TARGET, METHODS, steps_of(budget), budget.seeds, overrides=over, tag="convergence"
    )


def convergence_data(records: Sequence[RunRecord]) -> dict[int, dict[str, list[list[tuple]]]]:
    """``{T: {method: [per-seed [(iteration, elbo), ...]]}}`` from the runs' ``history.csv``."""
    data: dict[int, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if not r.ok:
            continue
        points = [(h["iteration"], h["elbo"]) for h in read_history(r.path)]
        if points:
            data[r.spec.steps][r.spec.method].append(points)
    return {t: dict(m) for t, m in sorted(data.items())}


def plot_convergence(data: dict, path, note: str, log_z: float | None = 0.0) -> list[str]:
    """ELBO vs iteration, one panel per T: mean over seeds with a min-max band, and a dotted line at
    the median over seeds of the iteration each method first comes within 0.1 nats of its own final
    ELBO (:func:`claims.iterations_to_final`, issue 18's convergence speed)."""
    steps = sorted(data)
    fig, axes = plt.subplots(
        1,
        len(steps),
        figsize=(4.0 * len(steps), 3.6),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    lows, highs, seeds, handles = [], [], set(), {}
    for ax, t in zip(axes[0], steps, strict=True):
        for method in method_order(data[t]):
            by_it: dict[int, list[float]] = defaultdict(list)
            for run in data[t][method]:
                for it, v in run:
                    if v is not None and math.isfinite(v):
                        by_it[it].append(v)
            its = sorted(by_it)
            if not its:
                continue
            mean = np.array([np.mean(by_it[i]) for i in its])
            lo = np.array([min(by_it[i]) for i in its])
            hi = np.array([max(by_it[i]) for i in its])
            seeds.add(len(data[t][method]))
            (handles[method],) = ax.plot(
                its, mean, marker="o", ms=3, color=color(method), label=method
            )
            ax.fill_between(its, lo, hi, color=color(method), alpha=0.2, lw=0)
            reached = [
                iterations_to_final([{"iteration": i, "elbo": v} for i, v in run], "elbo")
                for run in data[t][method]
            ]
            reached = [r for r in reached if r is not None]
            if reached:
                ax.axvline(float(np.median(reached)), color=color(method), ls=":", lw=1.0)
            lows.append(mean[len(mean) // 2 :].min())
            highs.append(hi.max())
        if log_z is not None:
            handles["log Z (true)"] = ax.axhline(log_z, color="k", ls="--", lw=0.8)
        ax.set_title(f"T = {t}")
        ax.set_xlabel("training iteration")
    axes[0, 0].set_ylabel("ELBO (mean log w)")
    # Early iterations can be orders of magnitude worse; keep the second half of training readable.
    clipped = ""
    if lows and log_z is not None:
        top = max(log_z, *highs)
        span = max(top - min(lows), 1e-3)
        cur_bottom, _ = axes[0, 0].get_ylim()
        bottom = max(cur_bottom, min(lows) - 0.6 * span)
        axes[0, 0].set_ylim(bottom, top + 0.15 * span)
        if bottom > cur_bottom:
            clipped = "; early iterations below the axis"
    fig.legend(
        list(handles.values()),
        list(handles),
        loc="outside lower center",
        ncol=len(handles),
        fontsize=8,
    )
    n = "/".join(map(str, sorted(seeds)))
    title(
        fig,
        f"Convergence on gmm25: ELBO vs training iteration (mean over {n} seed(s), band: "
        f"min–max{clipped}; dotted: median iteration within {SPEED_TOL:g} nats of its own "
        "final ELBO)",
        note,
    )
    return save_figure(fig, path)


def draw(records: list[RunRecord], stem, budget: Budget, args) -> dict:
    """The figure from its runs' histories (skipped if none has one)."""
    data = convergence_data(records)
    if not data:
        return {"skipped": "no finished runs with a history"}
    return {"files": plot_convergence(data, stem, budget.note, log_z=get_target(TARGET).log_z)}


FIGURE = Figure("convergence", draw, build_specs)


def main(argv: list[str] | None = None) -> int:
    """Train (or resume) the figure's runs and draw it."""
    return figure_main(FIGURE, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    raise SystemExit(main())
