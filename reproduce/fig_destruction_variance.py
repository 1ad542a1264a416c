"""The destruction-variance figure (README, *Reproducing the paper*): the learned log-variance
correction of the destruction kernel over (x, t).

    python reproduce/fig_destruction_variance.py [--budget quick] [--out results]

``log var_phi(x, t) - log var_base(t)`` of ``adaptive`` on gmm25 at T = 10 (first seed), over x1 in
[-15, 15] with x2 = 0 (vertical) and the destruction step's time t_{i+1} (horizontal; one column per
step), one panel per coordinate of the diagonal variance
(:func:`ads_bench.analysis.destruction.destruction_correction`). Step 0 (to the pinned x_0 = 0) is
deterministic and is masked (hatched). The run is exactly Table 1's configuration. Writes
``FIGURES/destruction_variance.{png,pdf}`` and its entry of ``OUT/figures.json``.
"""

from __future__ import annotations

import numpy as np
from _common import Budget
from _plotting import WINDOW, Figure, figure_main, save_figure, title
from matplotlib import pyplot as plt
from matplotlib.colors import CenteredNorm
from table1 import like_table1

from ads_bench.analysis.destruction import destruction_correction
from ads_bench.analysis.runs import first_ok
from ads_bench.store import RunDir
from ads_bench.sweep.records import RunRecord
from ads_bench.sweep.specs import RunSpec

TARGET = "gmm25"
STEPS = 10


def build_specs(budget: Budget) -> list[RunSpec]:
    """Table 1's ``adaptive`` run on gmm25 at T = 10, first seed."""
    return like_table1(
        budget, [TARGET], ["adaptive"], [STEPS], budget.seeds[:1], "destruction_variance"
    )


def plot_destruction_variance(data: dict, path, note: str, label: str = "") -> list[str]:
    """Heatmap of ``log var_phi(x, t) - log var_base(t)``, one panel per coordinate."""
    x, t, corr, mask = data["x"], data["t"], data["corr"], data["mask"]
    dims = corr.shape[-1]
    fig, axes = plt.subplots(
        1, dims, figsize=(4.2 * dims + 1.0, 3.8), squeeze=False, sharey=True, layout="constrained"
    )
    finite_vals = corr[np.isfinite(corr)]
    half = float(np.max(np.abs(finite_vals))) if finite_vals.size else 0.0
    norm = CenteredNorm(vcenter=0.0, halfrange=max(half, 1e-6))
    dt = np.diff(data["times"])
    t_edges = np.concatenate([t - dt / 2, [t[-1] + dt[-1] / 2]])
    dx = x[1] - x[0]
    x_edges = np.concatenate([x - dx / 2, [x[-1] + dx / 2]])
    mesh = None
    for d, ax in enumerate(axes[0]):
        mesh = ax.pcolormesh(
            t_edges,
            x_edges,
            np.ma.masked_invalid(corr[:, :, d]),
            cmap="RdBu_r",
            norm=norm,
            shading="flat",
            rasterized=True,
        )
        for i in np.flatnonzero(~mask):
            ax.axvspan(
                t_edges[i], t_edges[i + 1], facecolor="0.9", edgecolor="0.5", hatch="//", lw=0
            )
        ax.set_xlim(t_edges[0], t_edges[-1])
        if len(t) <= 20:
            ax.set_xticks(t)
            ax.set_xticklabels([f"{v:.2g}" for v in t], rotation=90 if len(t) > 10 else 0)
        ax.set_xlabel("destruction step time $t_{i+1}$")
        ax.set_title(
            f"variance of coordinate $x_{d + 1}$ (hatched: step 0, deterministic)", fontsize=9
        )
        ax.grid(False)
    axes[0, 0].set_ylabel("$x_1$ (other coordinates 0)")
    fig.colorbar(
        mesh,
        ax=axes[0].tolist(),
        label=r"$\log \sigma^2_\phi(x, t) - \log \sigma^2_{\mathrm{base}}(t)$",
    )
    title(fig, f"Learned destruction log-variance correction{label}", note)
    return save_figure(fig, path)


def draw(records: list[RunRecord], stem, budget: Budget, args) -> dict:
    """The figure from the first finished ``adaptive`` run (skipped if it did not finish)."""
    r = first_ok(records, method="adaptive")
    if r is None:
        return {"skipped": "the adaptive run did not finish"}
    _, model, target = RunDir(r.path).load_model()
    data = destruction_correction(model, WINDOW.get(target.name, 15.0))
    label = f": adaptive on {r.spec.target}, T = {r.spec.steps}, seed {r.spec.seed}"
    return {"files": plot_destruction_variance(data, stem, budget.note, label), "used": [r]}


FIGURE = Figure("destruction_variance", draw, build_specs)


def main(argv: list[str] | None = None) -> int:
    """Train (or resume) the figure's run and draw it."""
    return figure_main(FIGURE, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    raise SystemExit(main())
