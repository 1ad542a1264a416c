"""The samples figure (README, *Reproducing the paper*): 2-D samples over target contours.

    python reproduce/fig_samples.py [--budget quick] [--out results] [--figures-dir DIR]

2000 samples of the trained generation process (rollout seed 0, first training seed) over contours
of the target log-density, gmm25 and gmm40 at T = 5 (rows), ``fixed`` vs ``adaptive`` (columns).
The runs are exactly Table 1's configuration (:func:`table1.like_table1`). Writes
``FIGURES/samples.{png,pdf}`` and its entry of ``OUT/figures.json``.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from _common import Budget
from _plotting import WINDOW, Figure, color, figure_main, method_order, save_figure, title
from matplotlib import pyplot as plt
from table1 import like_table1

from ads_bench.analysis.runs import first_ok
from ads_bench.rollout import forward_rollout
from ads_bench.store import RunDir
from ads_bench.sweep.records import RunRecord
from ads_bench.sweep.specs import RunSpec
from ads_bench.targets import get_target

TARGETS = ["gmm25", "gmm40"]
METHODS = ["fixed", "adaptive"]
STEPS = 5
N = 2000


def build_specs(budget: Budget) -> list[RunSpec]:
    """Table 1's runs of both methods on both targets at T = 5, first seed only."""
    return like_table1(budget, TARGETS, METHODS, [STEPS], budget.seeds[:1], "samples")


def draw_samples(run_dir: str | os.PathLike, n: int = N, seed: int = 0) -> np.ndarray:
    """``n`` terminal states of the trained generation process of a run, ``[n, D]``."""
    _, model, _ = RunDir(run_dir).load_model()
    with torch.no_grad():
        traj = forward_rollout(
            model, n, generator=torch.Generator().manual_seed(seed), log_probs=False
        )
    return traj.states[:, -1].double().numpy()


def _log_density_grid(target_name: str, half: float, n: int = 300):
    """``xx, yy, log p`` on an ``n x n`` grid over [-half, half]^2 (float64)."""
    target = get_target(target_name)
    g = np.linspace(-half, half, n)
    xx, yy = np.meshgrid(g, g)
    pts = torch.tensor(np.stack([xx, yy], -1), dtype=torch.float64)
    with torch.no_grad():
        logp = target.to(dtype=torch.float64).log_prob(pts).numpy()
    return xx, yy, logp


def plot_samples(
    panels: dict[tuple[str, str], np.ndarray | None], path, note: str, steps: int = STEPS
) -> list[str]:
    """Rows = targets, columns = methods; ``panels[(target, method)]`` = samples ``[N, 2]`` or None
    (run missing or failed)."""
    targets = list(dict.fromkeys(t for t, _ in panels))
    methods = method_order(m for _, m in panels)
    fig, axes = plt.subplots(
        len(targets),
        len(methods),
        figsize=(3.6 * len(methods), 3.6 * len(targets)),
        squeeze=False,
        layout="constrained",
    )
    for i, target in enumerate(targets):
        half = WINDOW.get(target, 15.0)
        xx, yy, logp = _log_density_grid(target, half)
        top = float(np.max(logp))
        levels = top - np.array([12.5, 4.5, 0.5])  # ~ 5, 3 and 1 std around a mode
        for j, method in enumerate(methods):
            ax = axes[i, j]
            ax.contour(
                xx, yy, logp, levels=levels, colors="0.45", linewidths=0.6, linestyles="solid"
            )
            x = panels.get((target, method))
            if x is None:
                ax.text(
                    0,
                    0,
                    "run missing or failed",
                    ha="center",
                    va="center",
                    fontsize=9,
                    bbox={"facecolor": "white", "edgecolor": "0.5"},
                )
                name = f"{target}, {method}, T = {steps}"
            else:
                x = np.asarray(x)
                inside = np.all(np.abs(x) <= half, axis=1)
                ax.scatter(
                    x[inside, 0],
                    x[inside, 1],
                    s=2,
                    alpha=0.5,
                    color=color(method),
                    linewidths=0,
                    rasterized=True,
                )
                out = int((~inside).sum())
                name = f"{target}, {method}, T = {steps}"
                if out:
                    name += f" ({out}/{len(x)} outside)"
            ax.set_xlim(-half, half)
            ax.set_ylim(-half, half)
            ax.set_aspect("equal")
            ax.set_title(name, fontsize=9)
            ax.grid(False)
    n = max((len(v) for v in panels.values() if v is not None), default=0)
    title(fig, f"Samples ({n} per panel) over target log-density contours", note)
    return save_figure(fig, path)


def draw(records: list[RunRecord], stem, budget: Budget, args) -> dict:
    """The figure from each (target, method)'s first finished run (skipped if there is none)."""
    panels: dict[tuple[str, str], np.ndarray | None] = {}
    used = []
    for target in TARGETS:
        for method in METHODS:
            r = first_ok(records, target=target, method=method)
            panels[(target, method)] = None if r is None else draw_samples(r.path)
            used += [r] if r is not None else []
    if not used:
        return {"skipped": "no finished runs"}
    return {"files": plot_samples(panels, stem, budget.note), "used": used}


FIGURE = Figure("samples", draw, build_specs)


def main(argv: list[str] | None = None) -> int:
    """Train (or resume) the figure's runs and draw it."""
    return figure_main(FIGURE, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    raise SystemExit(main())
