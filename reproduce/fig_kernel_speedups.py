"""The kernel speed-ups figure (README, *Ops*, *Benchmarks*): fused-vs-reference speed-ups.

    python -m pytest tests/benchmarks --benchmark-enable --benchmark-json=results/bench.json
    python reproduce/fig_kernel_speedups.py [--bench results/bench.json] [--out results]

Bars of the ratio of median times (reference / fused) per (op, shape) of a pytest-benchmark JSON
(``--bench``, default ``OUT/bench.json``; :func:`kernel_speedups.speedup_rows`). Trains nothing, so
its title names the benchmark file and machine and says it is independent of the budget; skipped,
with the command that makes the JSON, when the file does not exist. Writes
``FIGURES/kernel_speedups.{png,pdf}`` and its entry of ``OUT/figures.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from _common import Budget
from _plotting import Figure, figure_main, save_figure, title
from kernel_speedups import speedup_rows
from matplotlib import pyplot as plt

from ads_bench.sweep.records import RunRecord

BENCH_COMMAND = "python -m pytest tests/benchmarks --benchmark-enable --benchmark-json={path}"


def plot_kernel_speedups(bench: dict, path, note: str) -> list[str]:
    """Bars of the fused-vs-reference speed-up per (op, shape) of a pytest-benchmark JSON dict."""
    rows = speedup_rows(bench)
    if not rows:
        raise ValueError("no ads_bench benchmark entries (was --benchmark-enable set?)")
    impls = sorted(
        {k[: -len(" speed-up")] for r in rows for k in r if k.endswith(" speed-up")},
        key=lambda impl: (impl != "fused", impl),
    )
    if not impls:
        raise ValueError("no speed-ups: the benchmark has no 'reference' entries to compare with")
    devices = {r["device"] for r in rows}
    labels = [
        f"{r['op']}\n{r['shape']}" + (f" ({r['device']})" if len(devices) > 1 else "") for r in rows
    ]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(rows) + 2), 4.2), layout="constrained")
    width = 0.8 / len(impls)
    pos = np.arange(len(rows))
    for k, impl in enumerate(impls):
        vals = [r.get(f"{impl} speed-up", np.nan) for r in rows]
        bars = ax.bar(pos + (k - (len(impls) - 1) / 2) * width, vals, width, label=impl)
        ax.bar_label(
            bars,
            labels=[f"{v:.2g}×" if np.isfinite(v) else "" for v in vals],
            fontsize=6,
            padding=1,
        )
    ax.axhline(1.0, color="k", ls="--", lw=0.8)
    ax.set_xticks(pos)
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_ylabel("speed-up over reference (median time ratio)")
    ax.legend(fontsize=7)
    title(fig, "Kernel speed-ups (> 1: faster than the PyTorch reference)", note)
    return save_figure(fig, path)


def draw(records: list[RunRecord], stem, budget: Budget, args) -> dict:
    """The figure from ``--bench`` (default ``OUT/bench.json``), or skipped with the command that
    makes that file."""
    bench_path = Path(args.bench) if args.bench else Path(args.out) / "bench.json"
    if not bench_path.exists():
        command = BENCH_COMMAND.format(path=bench_path)
        msg = f"kernel_speedups: skipped, {bench_path} does not exist; make it with\n    {command}"
        print(msg, flush=True)
        return {"skipped": f"{bench_path} does not exist; run: {command}"}
    bench = json.loads(bench_path.read_text(encoding="utf-8"))
    cpu = bench.get("machine_info", {}).get("cpu", {}).get("brand_raw", "?")
    note = (
        f"pytest-benchmark medians from {bench_path}, {cpu}; not a training result, "
        f"independent of the {budget.name} budget"
    )
    return {"files": plot_kernel_speedups(bench, stem, note), "bench": str(bench_path)}


FIGURE = Figure("kernel_speedups", draw)


def main(argv: list[str] | None = None) -> int:
    """Draw the figure (it trains nothing)."""
    return figure_main(FIGURE, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    raise SystemExit(main())
