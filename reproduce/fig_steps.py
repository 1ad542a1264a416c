"""The steps figure (README, *Reproducing the paper*): quality against the number of steps T.

    python reproduce/fig_steps.py [--budget quick] [--out results] [--figures-dir DIR]

On gmm25, T in {5, 10, 20, 50, 100} (log axis; smoke: {5, 10}): Δlog Z (ELBO) and W2, mean ± std
over seeds, for ``fixed``, ``fixed-learnvar`` and ``adaptive``. The runs are exactly Table 1's
configuration (:func:`table1.like_table1`), so they share its cached runs. Writes
``FIGURES/steps.{png,pdf}`` and its entry of ``OUT/figures.json`` (with the plotted rows).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import matplotlib.ticker as mticker
from _common import Budget
from _plotting import Figure, color, figure_main, method_order, save_figure, title
from matplotlib import pyplot as plt
from table1 import like_table1

from ads_bench.analysis.paired import finite, mean_std
from ads_bench.sweep.records import RunRecord
from ads_bench.sweep.specs import RunSpec

TARGET = "gmm25"
METHODS = ["fixed", "fixed-learnvar", "adaptive"]
PANELS = [("delta_logz_elbo", "Δlog Z (ELBO)"), ("w2", "W2")]


def steps_of(budget: Budget) -> list[int]:
    """The T axis: {5, 10, 20, 50, 100}, or {5, 10} at the smoke budget."""
    return [5, 10] if budget.name == "smoke" else [5, 10, 20, 50, 100]


def build_specs(budget: Budget) -> list[RunSpec]:
    """Table 1's runs of the three methods on gmm25 at every T of the axis, all seeds."""
    return like_table1(budget, [TARGET], METHODS, steps_of(budget), budget.seeds, "steps")


class _PlainLogFormatter(mticker.LogFormatter):
    """Log-axis labels written plainly (``0.6``, ``2000``), not as ``6e-01`` or ``6 x 10^0``."""

    def _num_to_string(self, x, vmin, vmax):
        return f"{x:g}"


def steps_data(records: Sequence[RunRecord]) -> list[dict]:
    """One row per (method, T): ``n`` seeds and ``<metric>``, ``<metric>_std`` for both panels."""
    groups: dict[tuple, list] = defaultdict(list)
    for r in records:
        if r.ok and r.metrics:
            groups[(r.spec.method, r.spec.steps)].append(r.metrics)
    rows = []
    for (method, steps), metrics in sorted(groups.items()):
        row = {"method": method, "steps": steps, "n": len(metrics)}
        for key, _ in PANELS:
            row[key], row[key + "_std"] = mean_std(finite(m.get(key) for m in metrics))
        rows.append(row)
    return rows


def plot_steps(rows: Sequence[dict], path, note: str) -> list[str]:
    """Δlog Z (ELBO) and W2 against T (log axis), mean ± std over seeds."""
    fig, axes = plt.subplots(1, len(PANELS), figsize=(9.0, 3.6), layout="constrained")
    methods = method_order(r["method"] for r in rows)
    all_steps = sorted({r["steps"] for r in rows})
    for ax, (key, label) in zip(axes, PANELS, strict=True):
        positive = True
        for j, method in enumerate(methods):
            pts = sorted(
                (r for r in rows if r["method"] == method and r[key] is not None),
                key=lambda r: r["steps"],
            )
            if not pts:
                continue
            shift = 1.06 ** (j - (len(methods) - 1) / 2)  # side by side on the log axis
            x = [r["steps"] * shift for r in pts]
            y = [r[key] for r in pts]
            err = [r[key + "_std"] or 0.0 for r in pts]
            positive &= all(v > 0 for v in y)
            ax.errorbar(
                x, y, yerr=err, marker="o", ms=4, capsize=3, color=color(method), label=method
            )
        ax.set_xscale("log")
        ax.set_xticks(all_steps)
        ax.set_xticklabels([str(s) for s in all_steps])
        ax.xaxis.set_minor_formatter(mticker.NullFormatter())
        ax.xaxis.set_minor_locator(mticker.NullLocator())
        values = [r[key] for r in rows if r[key] is not None]
        if key == "delta_logz_elbo" and positive and values and max(values) > 10 * min(values):
            ax.set_yscale("log")  # Δlog Z spans orders of magnitude across T and methods
            ax.yaxis.set_major_formatter(_PlainLogFormatter())
            ax.yaxis.set_minor_formatter(_PlainLogFormatter(minor_thresholds=(2, 0.4)))
        ax.set_xlabel("number of steps T")
        ax.set_ylabel(label + " (lower is better)")
        ax.set_title(label)
        ax.legend(fontsize=7, loc="best")
    seeds = sorted({r["n"] for r in rows})
    title(
        fig,
        f"Quality vs number of steps on gmm25 (mean ± std over {'/'.join(map(str, seeds))} "
        "seed(s))",
        note,
    )
    return save_figure(fig, path)


def draw(records: list[RunRecord], stem, budget: Budget, args) -> dict:
    """The figure from its runs' final metrics (skipped if none finished); records its rows."""
    rows = steps_data(records)
    if not rows:
        return {"skipped": "no finished runs"}
    return {"files": plot_steps(rows, stem, budget.note), "data": rows}


FIGURE = Figure("steps", draw, build_specs)


def main(argv: list[str] | None = None) -> int:
    """Train (or resume) the figure's runs and draw it."""
    return figure_main(FIGURE, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    raise SystemExit(main())
