"""The paper's figures (SPEC section 7), written to ``OUT/figures/<name>.png`` and ``.pdf``.

    python reproduce/figures.py                          # quick budget (provisional numbers)
    python reproduce/figures.py --figures-dir paper_figures   # replace the committed figures
    python reproduce/figures.py --budget full            # paper scale (25 000 iterations, 5 seeds)
    python reproduce/figures.py --only samples destruction_variance
    python -m pytest tests/benchmarks --benchmark-enable --benchmark-json=results/bench.json
                                                         # the input of the kernel_speedups figure

Figures (each title carries the budget note; kernel_speedups, which trains nothing, names its
benchmark file and machine instead and says it is independent of the budget):

- ``convergence``: ELBO against training iteration on gmm25 for ``fixed``, ``fixed-learnvar`` and
  ``adaptive``, one panel per T in {5, 10, 20}; each run evaluates every ``iterations // 10``
  iterations (``history.csv``); the line is the mean over seeds, the band the min-max range, the
  dashed line the true log Z.
- ``steps``: quality against the number of steps T in {5, 10, 20, 50, 100} (log axis) on gmm25:
  Δlog Z (ELBO) and W2, mean ± std over seeds, for ``fixed``, ``fixed-learnvar``, ``adaptive``.
- ``samples``: 2000 samples of the trained generation process (rollout seed 0, first training seed)
  over contours of the target log-density, gmm25 and gmm40 at T = 5 (rows), ``fixed`` vs
  ``adaptive`` (columns).
- ``destruction_variance``: the learned log-variance correction ``log var_phi(x, t) - log var_base(t)``
  of ``adaptive`` on gmm25 at T = 10 (first seed), over x1 in [-15, 15] with x2 = 0 (vertical) and the
  destruction step's time t_{i+1} (horizontal; one column per step), one panel per coordinate of
  the diagonal variance. Step 0 (to the pinned x_0 = 0) is deterministic and is masked (hatched).
- ``kernel_speedups``: fused-vs-reference speed-ups (ratio of median times) per (op, shape) from a
  pytest-benchmark JSON (``--bench``, default ``OUT/bench.json``); skipped, with the command that
  makes the JSON, when it does not exist.

Runs go through the resumable sweep runner into ``OUT/runs/`` in ONE sweep (all figures' runs
together, so the workers stay busy). The ``steps``, ``samples`` and ``destruction_variance`` runs
use exactly Table 1's configuration (``reproduce/table1.py``), so they share its cached runs;
``convergence`` evaluates more often, so its runs are its own. The smoke budget (a plumbing check)
shortens the T lists to {5, 10}. ``OUT/figures.json`` lists each figure produced or skipped, its
files and the keys of its source runs (``OUT/runs/<key>/``).

The figures go to ``--figures-dir`` (default ``OUT/figures/``); the committed ``paper_figures/`` is
written only when asked for by name, so a smoke or full run never silently replaces the figures the
README's budget made (the smoke budget is refused there outright).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import os
import textwrap
import time
import traceback
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import torch
from _common import (
    Budget,
    add_figures_argument,
    add_sweep_arguments,
    budget_of,
    figures_dir,
    finite,
    mean_std,
    sweep,
    write_json,
)
from kernel_speedups import speedup_rows
from matplotlib.colors import CenteredNorm
from table1 import build_specs as table1_specs

from ads_bench.atomic_files import atomic_write_bytes
from ads_bench.rollout import forward_rollout
from ads_bench.store import RunDir
from ads_bench.sweep.records import RunRecord
from ads_bench.sweep.specs import RunSpec, expand_grid
from ads_bench.targets import get_target

try:  # optional styling
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
except ImportError:  # pragma: no cover - seaborn is optional
    pass

FIGURES = ["convergence", "steps", "samples", "destruction_variance", "kernel_speedups"]
TARGET = "gmm25"
CONVERGENCE_METHODS = ["fixed", "fixed-learnvar", "adaptive"]
CONVERGENCE_POINTS = 10  # periodic evaluations per convergence run
STEPS_METHODS = ["fixed", "fixed-learnvar", "adaptive"]
SAMPLE_TARGETS = ["gmm25", "gmm40"]
SAMPLE_METHODS = ["fixed", "adaptive"]
SAMPLE_STEPS = 5
SAMPLE_N = 2000
DV_STEPS = 10
#: half-width of the square window of each target's plots
WINDOW = {"gmm25": 15.0, "gmm40": 50.0, "gmm9": 10.0}
COLORS = {"fixed": "#4C72B0", "fixed-learnvar": "#DD8452", "adaptive": "#C44E52"}
BENCH_COMMAND = "python -m pytest tests/benchmarks --benchmark-enable --benchmark-json={path}"


def convergence_steps(budget: Budget) -> list[int]:
    return [5, 10] if budget.name == "smoke" else [5, 10, 20]


def quality_steps(budget: Budget) -> list[int]:
    return [5, 10] if budget.name == "smoke" else [5, 10, 20, 50, 100]


def build_specs(budget: Budget, names: Sequence[str]) -> dict[str, list[RunSpec]]:
    """The runs of each selected figure (``kernel_speedups`` needs none)."""

    def like_table1(targets, methods, steps, seeds, tag):
        # Table 1's own spec builder, so the configs (and run folders) are identical to its runs.
        specs = table1_specs(budget, targets, methods, steps)
        return [dataclasses.replace(s, tag=tag) for s in specs if s.seed in seeds]

    every = max(1, budget.iterations // CONVERGENCE_POINTS)
    first = budget.seeds[:1]
    builders = {
        "convergence": lambda: expand_grid(
            TARGET, CONVERGENCE_METHODS, convergence_steps(budget), budget.seeds,
            overrides=budget.config_overrides(**{"eval.every": every}), tag="convergence",
        ),
        "steps": lambda: like_table1(
            [TARGET], STEPS_METHODS, quality_steps(budget), budget.seeds, "steps"
        ),
        "samples": lambda: like_table1(
            SAMPLE_TARGETS, SAMPLE_METHODS, [SAMPLE_STEPS], first, "samples"
        ),
        "destruction_variance": lambda: like_table1(
            [TARGET], ["adaptive"], [DV_STEPS], first, "destruction_variance"
        ),
    }  # fmt: skip
    return {name: builders[name]() for name in names if name in builders}


# ---------------------------------------------------------------------------------- helpers


def _title(fig, title: str, note: str) -> None:
    """Figure title and, below it, the budget note (wrapped to the figure's width)."""
    width = max(40, int(13 * fig.get_figwidth()))
    text = textwrap.fill(title, width) + "\n" + textwrap.fill(f"[{note}]", width)
    fig.suptitle(text, fontsize=9)


def save_figure(fig, path: str | os.PathLike) -> list[str]:
    """Write ``path`` as ``.png`` and ``.pdf``, each rendered in memory and written atomically
    (:func:`ads_bench.atomic_files.atomic_write_bytes`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for ext in ("png", "pdf"):
        final = path.with_suffix("." + ext)
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, dpi=150)
        atomic_write_bytes(final, buf.getvalue())
        written.append(str(final))
    plt.close(fig)
    return written


def _order(methods) -> list[str]:
    known = [*CONVERGENCE_METHODS, *SAMPLE_METHODS]
    return sorted(set(methods), key=lambda m: (known.index(m) if m in known else len(known), m))


def _color(method: str):
    return COLORS.get(method)


def read_history(run_dir: str | os.PathLike) -> list[dict]:
    """``history.csv`` of a run (:meth:`RunDir.read_history`) as
    ``[{"iteration": int, "elbo": float|None, ...}]``, non-finite values as ``None``."""
    return [
        {**{k: v if v is None or math.isfinite(v) else None for k, v in row.items()},
         "iteration": int(row["iteration"])}
        for row in RunDir(run_dir).read_history()
    ]  # fmt: skip


# ---------------------------------------------------------------------------------- convergence


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
    from claims import SPEED_TOL, iterations_to_final

    steps = sorted(data)
    fig, axes = plt.subplots(
        1, len(steps), figsize=(4.0 * len(steps), 3.6), squeeze=False, sharey=True,
        layout="constrained",
    )  # fmt: skip
    lows, highs, seeds, handles = [], [], set(), {}
    for ax, t in zip(axes[0], steps, strict=True):
        for method in _order(data[t]):
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
            (handles[method],) = ax.plot(its, mean, marker="o", ms=3, color=_color(method),
                                         label=method)  # fmt: skip
            ax.fill_between(its, lo, hi, color=_color(method), alpha=0.2, lw=0)
            reached = [iterations_to_final([{"iteration": i, "elbo": v} for i, v in run], "elbo")
                       for run in data[t][method]]  # fmt: skip
            reached = [r for r in reached if r is not None]
            if reached:
                ax.axvline(float(np.median(reached)), color=_color(method), ls=":", lw=1.0)
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
    fig.legend(list(handles.values()), list(handles), loc="outside lower center",
               ncol=len(handles), fontsize=8)  # fmt: skip
    n = "/".join(map(str, sorted(seeds)))
    _title(fig, f"Convergence on gmm25: ELBO vs training iteration (mean over {n} seed(s), band: "
           f"min–max{clipped}; dotted: median iteration within {SPEED_TOL:g} nats of its own "
           "final ELBO)", note)  # fmt: skip
    return save_figure(fig, path)


# ---------------------------------------------------------------------------------- steps


class _PlainLogFormatter(mticker.LogFormatter):
    """Log-axis labels written plainly (``0.6``, ``2000``), not as ``6e-01`` or ``6 x 10^0``."""

    def _num_to_string(self, x, vmin, vmax):
        return f"{x:g}"


STEPS_PANELS = [("delta_logz_elbo", "Δlog Z (ELBO)"), ("w2", "W2")]


def steps_data(records: Sequence[RunRecord]) -> list[dict]:
    """One row per (method, T): ``n`` seeds and ``<metric>``, ``<metric>_std`` for both panels."""
    groups: dict[tuple, list] = defaultdict(list)
    for r in records:
        if r.ok and r.metrics:
            groups[(r.spec.method, r.spec.steps)].append(r.metrics)
    rows = []
    for (method, steps), metrics in sorted(groups.items()):
        row = {"method": method, "steps": steps, "n": len(metrics)}
        for key, _ in STEPS_PANELS:
            row[key], row[key + "_std"] = mean_std(finite(m.get(key) for m in metrics))
        rows.append(row)
    return rows


def plot_steps(rows: Sequence[dict], path, note: str) -> list[str]:
    """Δlog Z (ELBO) and W2 against T (log axis), mean ± std over seeds."""
    fig, axes = plt.subplots(1, len(STEPS_PANELS), figsize=(9.0, 3.6), layout="constrained")
    methods = _order(r["method"] for r in rows)
    all_steps = sorted({r["steps"] for r in rows})
    for ax, (key, label) in zip(axes, STEPS_PANELS, strict=True):
        positive = True
        for j, method in enumerate(methods):
            pts = sorted((r for r in rows if r["method"] == method and r[key] is not None),
                         key=lambda r: r["steps"])  # fmt: skip
            if not pts:
                continue
            shift = 1.06 ** (j - (len(methods) - 1) / 2)  # side by side on the log axis
            x = [r["steps"] * shift for r in pts]
            y = [r[key] for r in pts]
            err = [r[key + "_std"] or 0.0 for r in pts]
            positive &= all(v > 0 for v in y)
            ax.errorbar(x, y, yerr=err, marker="o", ms=4, capsize=3, color=_color(method),
                        label=method)  # fmt: skip
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
    _title(fig, f"Quality vs number of steps on gmm25 (mean ± std over {'/'.join(map(str, seeds))} "
           "seed(s))", note)  # fmt: skip
    return save_figure(fig, path)


# ---------------------------------------------------------------------------------- samples


def draw_samples(run_dir: str | os.PathLike, n: int = SAMPLE_N, seed: int = 0) -> np.ndarray:
    """``n`` terminal states of the trained generation process of a run, ``[n, D]``."""
    _, model, _ = RunDir(run_dir).load_model()
    with torch.no_grad():
        traj = forward_rollout(
            model, n, generator=torch.Generator().manual_seed(seed), log_probs=False
        )
    return traj.states[:, -1].double().numpy()


def _log_density_grid(target_name: str, half: float, n: int = 300):
    target = get_target(target_name)
    g = np.linspace(-half, half, n)
    xx, yy = np.meshgrid(g, g)
    pts = torch.tensor(np.stack([xx, yy], -1), dtype=torch.float64)
    with torch.no_grad():
        logp = target.to(dtype=torch.float64).log_prob(pts).numpy()
    return xx, yy, logp


def plot_samples(panels: dict[tuple[str, str], np.ndarray | None], path, note: str,
                 steps: int = SAMPLE_STEPS) -> list[str]:  # fmt: skip
    """Rows = targets, columns = methods; ``panels[(target, method)]`` = samples ``[N, 2]`` or None
    (run missing or failed)."""
    targets = list(dict.fromkeys(t for t, _ in panels))
    methods = _order(m for _, m in panels)
    fig, axes = plt.subplots(
        len(targets), len(methods), figsize=(3.6 * len(methods), 3.6 * len(targets)),
        squeeze=False, layout="constrained",
    )  # fmt: skip
    for i, target in enumerate(targets):
        half = WINDOW.get(target, 15.0)
        xx, yy, logp = _log_density_grid(target, half)
        top = float(np.max(logp))
        levels = top - np.array([12.5, 4.5, 0.5])  # ~ 5, 3 and 1 std around a mode
        for j, method in enumerate(methods):
            ax = axes[i, j]
            ax.contour(xx, yy, logp, levels=levels, colors="0.45", linewidths=0.6,
                       linestyles="solid")  # fmt: skip
            x = panels.get((target, method))
            if x is None:
                ax.text(0, 0, "run missing or failed", ha="center", va="center", fontsize=9,
                        bbox={"facecolor": "white", "edgecolor": "0.5"})  # fmt: skip
                title = f"{target}, {method}, T = {steps}"
            else:
                x = np.asarray(x)
                inside = np.all(np.abs(x) <= half, axis=1)
                ax.scatter(x[inside, 0], x[inside, 1], s=2, alpha=0.5, color=_color(method),
                           linewidths=0, rasterized=True)  # fmt: skip
                out = int((~inside).sum())
                title = f"{target}, {method}, T = {steps}"
                if out:
                    title += f" ({out}/{len(x)} outside)"
            ax.set_xlim(-half, half)
            ax.set_ylim(-half, half)
            ax.set_aspect("equal")
            ax.set_title(title, fontsize=9)
            ax.grid(False)
    n = max((len(v) for v in panels.values() if v is not None), default=0)
    _title(fig, f"Samples ({n} per panel) over target log-density contours", note)
    return save_figure(fig, path)


# ---------------------------------------------------------------------------------- destruction var


def destruction_correction(model, half: float = 15.0, n: int = 241) -> dict[str, np.ndarray]:
    """The learned log-variance correction of the destruction kernel on x1 in [-half, half] with
    every other coordinate 0: ``corr [n, T, D]`` (NaN on deterministic steps), ``x [n]``,
    ``t [T]`` (the step's input time t_{i+1}), ``times [T + 1]``, ``mask [T]``."""
    dest = model.destruction
    dtype = model.log_z.dtype
    xs = torch.linspace(-half, half, n, dtype=torch.float64)
    x = torch.zeros(n, model.steps, model.dim, dtype=dtype)
    x[..., 0] = xs[:, None].to(dtype)
    with torch.no_grad():
        _, log_var = dest(x)  # all steps at once: [n, T, D]
    corr = (log_var.double() - dest.log_var_base.double()[None, :, None]).numpy().copy()
    mask = model.step_mask.numpy().astype(bool)
    corr[:, ~mask] = np.nan
    return {"x": xs.numpy(), "t": dest.t_in.double().numpy(), "times": model.times.double().numpy(),
            "corr": corr, "mask": mask}  # fmt: skip


def plot_destruction_variance(data: dict, path, note: str, label: str = "") -> list[str]:
    """Heatmap of ``log var_phi(x, t) - log var_base(t)``, one panel per coordinate."""
    x, t, corr, mask = data["x"], data["t"], data["corr"], data["mask"]
    dims = corr.shape[-1]
    fig, axes = plt.subplots(1, dims, figsize=(4.2 * dims + 1.0, 3.8), squeeze=False,
                             sharey=True, layout="constrained")  # fmt: skip
    finite_vals = corr[np.isfinite(corr)]
    half = float(np.max(np.abs(finite_vals))) if finite_vals.size else 0.0
    norm = CenteredNorm(vcenter=0.0, halfrange=max(half, 1e-6))
    dt = np.diff(data["times"])
    t_edges = np.concatenate([t - dt / 2, [t[-1] + dt[-1] / 2]])
    dx = x[1] - x[0]
    x_edges = np.concatenate([x - dx / 2, [x[-1] + dx / 2]])
    mesh = None
    for d, ax in enumerate(axes[0]):
        mesh = ax.pcolormesh(t_edges, x_edges, np.ma.masked_invalid(corr[:, :, d]),
                             cmap="RdBu_r", norm=norm, shading="flat", rasterized=True)  # fmt: skip
        for i in np.flatnonzero(~mask):
            ax.axvspan(t_edges[i], t_edges[i + 1], facecolor="0.9", edgecolor="0.5", hatch="//",
                       lw=0)  # fmt: skip
        ax.set_xlim(t_edges[0], t_edges[-1])
        if len(t) <= 20:
            ax.set_xticks(t)
            ax.set_xticklabels([f"{v:.2g}" for v in t], rotation=90 if len(t) > 10 else 0)
        ax.set_xlabel("destruction step time $t_{i+1}$")
        ax.set_title(f"variance of coordinate $x_{d + 1}$ (hatched: step 0, deterministic)",
                     fontsize=9)  # fmt: skip
        ax.grid(False)
    axes[0, 0].set_ylabel("$x_1$ (other coordinates 0)")
    fig.colorbar(mesh, ax=axes[0].tolist(),
                 label=r"$\log \sigma^2_\phi(x, t) - \log \sigma^2_{\mathrm{base}}(t)$")  # fmt: skip
    _title(fig, f"Learned destruction log-variance correction{label}", note)
    return save_figure(fig, path)


# ---------------------------------------------------------------------------------- speed-ups


def plot_kernel_speedups(bench: dict, path, note: str) -> list[str]:
    """Bars of the fused-vs-reference speed-up per (op, shape) of a pytest-benchmark JSON dict."""
    rows = speedup_rows(bench)
    if not rows:
        raise ValueError("no ads_bench benchmark entries (was --benchmark-enable set?)")
    impls = sorted({k[: -len(" speed-up")] for r in rows for k in r if k.endswith(" speed-up")},
                   key=lambda impl: (impl != "fused", impl))  # fmt: skip
    if not impls:
        raise ValueError("no speed-ups: the benchmark has no 'reference' entries to compare with")
    devices = {r["device"] for r in rows}
    labels = [f"{r['op']}\n{r['shape']}" + (f" ({r['device']})" if len(devices) > 1 else "")
              for r in rows]  # fmt: skip
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(rows) + 2), 4.2), layout="constrained")
    width = 0.8 / len(impls)
    pos = np.arange(len(rows))
    for k, impl in enumerate(impls):
        vals = [r.get(f"{impl} speed-up", np.nan) for r in rows]
        bars = ax.bar(pos + (k - (len(impls) - 1) / 2) * width, vals, width, label=impl)
        ax.bar_label(bars, labels=[f"{v:.2g}×" if np.isfinite(v) else "" for v in vals],
                     fontsize=6, padding=1)  # fmt: skip
    ax.axhline(1.0, color="k", ls="--", lw=0.8)
    ax.set_xticks(pos)
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_ylabel("speed-up over reference (median time ratio)")
    ax.legend(fontsize=7)
    _title(fig, "Kernel speed-ups (> 1: faster than the PyTorch reference)", note)
    return save_figure(fig, path)


# ---------------------------------------------------------------------------------- main


def _keys(records: Sequence[RunRecord]) -> list[str]:
    return list(dict.fromkeys(r.key for r in records))


def _failed(records: Sequence[RunRecord]) -> list[str]:
    return list(dict.fromkeys(f"{r.spec.label} ({r.key}): {r.error}" for r in records
                              if not r.ok))  # fmt: skip


def _first_ok(records: Sequence[RunRecord], **match: Any) -> RunRecord | None:
    for r in records:
        if r.ok and all(getattr(r.spec, k) == v for k, v in match.items()):
            return r
    return None


def draw(name: str, records: list[RunRecord], stem: Path, budget: Budget,
         args: argparse.Namespace) -> dict:  # fmt: skip
    """Draw one figure; returns its ``figures.json`` entry (``files`` empty when skipped)."""
    note = budget.note
    entry: dict[str, Any] = {"runs": _keys(records), "failed_runs": _failed(records)}
    used = [r for r in records if r.ok]
    if name == "convergence":
        data = convergence_data(records)
        if not data:
            return {**entry, "skipped": "no finished runs with a history"}
        files = plot_convergence(data, stem, note, log_z=get_target(TARGET).log_z)
    elif name == "steps":
        rows = steps_data(records)
        if not rows:
            return {**entry, "skipped": "no finished runs"}
        files = plot_steps(rows, stem, note)
        entry["data"] = rows
    elif name == "samples":
        panels: dict[tuple[str, str], np.ndarray | None] = {}
        used = []
        for target in SAMPLE_TARGETS:
            for method in SAMPLE_METHODS:
                r = _first_ok(records, target=target, method=method)
                panels[(target, method)] = None if r is None else draw_samples(r.path)
                used += [r] if r is not None else []
        if not used:
            return {**entry, "skipped": "no finished runs"}
        files = plot_samples(panels, stem, note)
    elif name == "destruction_variance":
        r = _first_ok(records, method="adaptive")
        if r is None:
            return {**entry, "skipped": "the adaptive run did not finish"}
        _, model, target = RunDir(r.path).load_model()
        data = destruction_correction(model, WINDOW.get(target.name, 15.0))
        label = f": adaptive on {r.spec.target}, T = {r.spec.steps}, seed {r.spec.seed}"
        files = plot_destruction_variance(data, stem, note, label)
        used = [r]
    elif name == "kernel_speedups":
        bench_path = Path(args.bench) if args.bench else Path(args.out) / "bench.json"
        if not bench_path.exists():
            command = BENCH_COMMAND.format(path=bench_path)
            msg = (f"kernel_speedups: skipped, {bench_path} does not exist; make it with\n"
                   f"    {command}")  # fmt: skip
            print(msg, flush=True)
            return {**entry, "skipped": f"{bench_path} does not exist; run: {command}"}
        bench = json.loads(bench_path.read_text(encoding="utf-8"))
        cpu = bench.get("machine_info", {}).get("cpu", {}).get("brand_raw", "?")
        bench_note = (f"pytest-benchmark medians from {bench_path}, {cpu}; not a training result, "
                      f"independent of the {budget.name} budget")  # fmt: skip
        files = plot_kernel_speedups(bench, stem, bench_note)
        entry["bench"] = str(bench_path)
    else:  # pragma: no cover - argparse restricts the names
        raise ValueError(f"unknown figure {name!r}")
    entry["used_runs"] = _keys(used)
    return {**entry, "files": files}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sweep_arguments(p)
    add_figures_argument(p)
    p.add_argument("--bench", help="pytest-benchmark JSON for kernel_speedups "
                   "(default: OUT/bench.json)")  # fmt: skip
    p.add_argument("--only", nargs="+", choices=FIGURES, help="draw only these figures")
    p.add_argument("--strict", action="store_true", help="exit 1 if any run failed")
    args = p.parse_args(argv)
    budget = budget_of(args)
    fig_dir = figures_dir(args)
    names = list(dict.fromkeys(args.only or FIGURES))
    specs = build_specs(budget, names)
    all_specs = [s for name in names for s in specs.get(name, [])]
    distinct = len({s.key for s in all_specs})
    print(f"[figures] {', '.join(names)}: {len(all_specs)} run specs, {distinct} distinct runs; "
          f"{budget.note}", flush=True)  # fmt: skip
    for name in names:
        if name in specs:
            print(f"[figures]   {name}: {len({s.key for s in specs[name]})} runs", flush=True)
    start = time.perf_counter()
    records = sweep(all_specs, args) if all_specs else []
    wall = time.perf_counter() - start
    by_name: dict[str, list[RunRecord]] = {}
    i = 0
    for name in names:
        n = len(specs.get(name, []))
        by_name[name] = records[i : i + n]
        i += n
    torch.set_num_threads(1)  # plotting-time rollouts are small; avoid spin-waiting on a busy CPU
    out = Path(args.out)
    manifest_path = out / "figures.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        figures = manifest.get("figures", {}) if isinstance(manifest, dict) else {}
    except (OSError, ValueError):
        figures = {}
    errors = 0
    for name in names:
        print(f"[figures] drawing {name} ...", flush=True)
        try:
            entry = draw(name, by_name[name], fig_dir / name, budget, args)
        except Exception as exc:
            traceback.print_exc()
            errors += 1
            entry = {"runs": _keys(by_name[name]), "error": f"{type(exc).__name__}: {exc}"}
        entry = {"budget": budget.name, "note": budget.note, **entry}
        figures[name] = entry
        if entry.get("files"):
            print(f"[figures] wrote {', '.join(entry['files'])}", flush=True)
        elif "skipped" in entry:
            print(f"[figures] skipped {name}: {entry['skipped']}", flush=True)
        for line in entry.get("failed_runs", []):
            print(f"[figures]   failed run: {line}", flush=True)
    write_json(manifest_path, {"budget": budget.name, "note": budget.note,
                               "figures_dir": str(fig_dir), "sweep_wall_seconds": wall,
                               "figures": figures})  # fmt: skip
    produced = [n for n in names if figures[n].get("files")]
    skipped = [n for n in names if "skipped" in figures[n]]
    print(f"[figures] produced {produced}, skipped {skipped}; wrote {manifest_path} "
          f"(sweep wall time {wall / 60:.1f} min)")  # fmt: skip
    failed_runs = sum(len(figures[n].get("failed_runs", [])) for n in names)
    if errors:
        print(f"[figures] {errors} figure(s) raised (traceback above)")
    return 1 if errors or (failed_runs and args.strict) else 0


if __name__ == "__main__":
    raise SystemExit(main())
