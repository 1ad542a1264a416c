"""The paper's figures (README, *Reproducing the paper*), written to ``FIGURES/<name>.{png,pdf}``.

    python reproduce/figures.py                          # quick budget (provisional numbers)
    python reproduce/figures.py --figures-dir paper_figures   # replace the committed figures
    python reproduce/figures.py --budget full            # paper scale (25 000 iterations, 5 seeds)
    python reproduce/figures.py --only samples destruction_variance
    python -m pytest tests/benchmarks --benchmark-enable --benchmark-json=results/bench.json
                                                         # the input of the kernel_speedups figure

The "all figures" command: each figure is its own script, which its docstring describes and which
runs alone with the same options (``python reproduce/fig_<name>.py``):

- ``convergence`` (:mod:`fig_convergence`): ELBO against training iteration on gmm25, per T;
- ``steps`` (:mod:`fig_steps`): Δlog Z (ELBO) and W2 against T in {5, 10, 20, 50, 100};
- ``samples`` (:mod:`fig_samples`): 2-D samples over target contours, gmm25 and gmm40 at T = 5;
- ``destruction_variance`` (:mod:`fig_destruction_variance`): the learned destruction log-variance
  correction over (x, t);
- ``kernel_speedups`` (:mod:`fig_kernel_speedups`): fused-vs-reference speed-ups from a
  pytest-benchmark JSON (``--bench``, default ``OUT/bench.json``; skipped when it does not exist).

Each title carries the budget note (kernel_speedups, which trains nothing, names its benchmark file
and machine instead). The figures' runs go through the resumable sweep runner into ``OUT/runs/`` in
ONE sweep (:func:`_plotting.run_figures`), so the workers stay busy; ``steps``, ``samples`` and
``destruction_variance`` use exactly Table 1's configuration and share its cached runs. The smoke
budget (a plumbing check) shortens the T lists to {5, 10}. ``OUT/figures.json`` lists each figure
produced or skipped, its files and the keys of its source runs (``OUT/runs/<key>/``).

The figures go to ``--figures-dir`` (default ``OUT/figures/``); the committed ``paper_figures/`` is
written only when asked for by name, so a smoke or full run never silently replaces the figures the
README's budget made (the smoke budget is refused there outright).
"""

from __future__ import annotations

from collections.abc import Sequence

import fig_convergence
import fig_destruction_variance
import fig_kernel_speedups
import fig_samples
import fig_steps
from _common import Budget
from _plotting import figure_parser, run_figures

from ads_bench.sweep.specs import RunSpec

#: every figure, in drawing order (and the order of their runs in the one sweep)
ALL = [
    fig_convergence.FIGURE,
    fig_steps.FIGURE,
    fig_samples.FIGURE,
    fig_destruction_variance.FIGURE,
    fig_kernel_speedups.FIGURE,
]
FIGURES = [f.name for f in ALL]


def build_specs(budget: Budget, names: Sequence[str]) -> dict[str, list[RunSpec]]:
    """The runs of each selected figure (``kernel_speedups`` needs none)."""
    by_name = {f.name: f for f in ALL}
    return {n: by_name[n].specs(budget) for n in names if by_name[n].specs is not None}


def main(argv: list[str] | None = None) -> int:
    """Draw every figure (or ``--only`` some) from one sweep of their runs."""
    args = figure_parser(__doc__.splitlines()[0], FIGURES).parse_args(argv)
    names = list(dict.fromkeys(args.only or FIGURES))
    by_name = {f.name: f for f in ALL}
    return run_figures([by_name[n] for n in names], args)


if __name__ == "__main__":
    raise SystemExit(main())
