"""Shared by the figure scripts (``reproduce/fig_*.py``, ``figures.py``, the study and GAN-latent
figures): the matplotlib set-up, titles with the budget note, atomic PNG + PDF writing, the
methods' colours, and :func:`run_figures`, the command line every figure script runs.

A figure is a :class:`Figure`: its name, the runs it needs at a budget, and how it draws them.
:func:`run_figures` trains (or resumes) every selected figure's runs in ONE sweep, so the workers
stay busy, draws each figure into ``FIGURES/<name>.{png,pdf}`` and records it in
``OUT/figures.json`` (which figures were produced or skipped, their files and source runs).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import textwrap
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import torch
from _common import (
    Budget,
    add_figures_argument,
    add_sweep_arguments,
    budget_of,
    figures_dir,
    sweep,
    write_json,
)

from ads_bench.analysis.runs import failed_runs, run_keys
from ads_bench.atomic_files import atomic_write_bytes
from ads_bench.sweep.records import RunRecord
from ads_bench.sweep.specs import RunSpec

try:  # optional styling
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
except ImportError:  # pragma: no cover - seaborn is optional
    pass

#: half-width of the square window of each target's 2-D plots
WINDOW = {"gmm25": 15.0, "gmm40": 50.0, "gmm9": 10.0}
COLORS = {"fixed": "#4C72B0", "fixed-learnvar": "#DD8452", "adaptive": "#C44E52"}
#: the figures' method order (others after these, alphabetically)
METHOD_ORDER = ["fixed", "fixed-learnvar", "adaptive"]


def title(fig, text: str, note: str) -> None:
    """Figure title and, below it, the budget note (wrapped to the figure's width)."""
    width = max(40, int(13 * fig.get_figwidth()))
    fig.suptitle(textwrap.fill(text, width) + "\n" + textwrap.fill(f"[{note}]", width), fontsize=9)


def save_figure(fig, path: str | os.PathLike) -> list[str]:
    """Write ``path`` as ``.png`` and ``.pdf``, each rendered in memory and written atomically
    (:func:`ads_bench.store.atomic_write_bytes`); closes the figure and returns the two paths."""
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


def method_order(methods) -> list[str]:
    """The distinct ``methods`` in :data:`METHOD_ORDER`, unknown ones after them alphabetically."""
    known = METHOD_ORDER
    return sorted(set(methods), key=lambda m: (known.index(m) if m in known else len(known), m))


def color(method: str) -> str | None:
    """The method's colour in every figure (``None``: matplotlib's next)."""
    return COLORS.get(method)


# ---------------------------------------------------------------------------------- the runner


@dataclass(frozen=True)
class Figure:
    """One figure: ``specs(budget)`` its runs (``None``: it trains nothing) and
    ``draw(records, stem, budget, args)`` -> ``{"files": [...], "used": [records], ...}`` (``used``
    defaults to the finished records; other keys go into its ``figures.json`` entry) or
    ``{"skipped": reason}``."""

    name: str
    draw: Callable[[list[RunRecord], Path, Budget, argparse.Namespace], dict]
    specs: Callable[[Budget], list[RunSpec]] | None = None


def figure_parser(
    description: str, choices: Sequence[str] | None = None
) -> argparse.ArgumentParser:
    """The figure scripts' options: the sweep's, ``--figures-dir``, ``--bench``, ``--strict`` and,
    for a script of several figures (``choices``), ``--only``."""
    p = argparse.ArgumentParser(description=description)
    add_sweep_arguments(p)
    add_figures_argument(p)
    p.add_argument(
        "--bench", help="pytest-benchmark JSON for kernel_speedups (default: OUT/bench.json)"
    )
    if choices is not None:
        p.add_argument("--only", nargs="+", choices=list(choices), help="draw only these figures")
    p.add_argument("--strict", action="store_true", help="exit 1 if any run failed")
    return p


def _draw(fig: Figure, records: list[RunRecord], stem: Path, budget: Budget, args) -> dict:
    """One figure's ``figures.json`` entry (``files`` absent when skipped)."""
    entry: dict[str, Any] = {"runs": run_keys(records), "failed_runs": failed_runs(records)}
    result = fig.draw(records, stem, budget, args)
    if "skipped" in result:
        return {**entry, **result}
    files = result.pop("files")
    used = result.pop("used", [r for r in records if r.ok])
    return {**entry, **result, "used_runs": run_keys(used), "files": files}


def run_figures(figures: Sequence[Figure], args: argparse.Namespace) -> int:
    """Train every figure's runs in one sweep, draw each, update ``OUT/figures.json``; the exit
    code (1 if a figure raised, or with ``--strict`` if a run failed)."""
    budget = budget_of(args)
    fig_dir = figures_dir(args)
    names = [f.name for f in figures]
    specs = {f.name: f.specs(budget) for f in figures if f.specs is not None}
    all_specs = [s for name in names for s in specs.get(name, [])]
    distinct = len({s.key for s in all_specs})
    print(
        f"[figures] {', '.join(names)}: {len(all_specs)} run specs, {distinct} distinct runs; "
        f"{budget.note}",
        flush=True,
    )
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
    manifest_path = Path(args.out) / "figures.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        drawn = manifest.get("figures", {}) if isinstance(manifest, dict) else {}
    except (OSError, ValueError):
        drawn = {}
    errors = 0
    for fig in figures:
        name = fig.name
        print(f"[figures] drawing {name} ...", flush=True)
        try:
            entry = _draw(fig, by_name[name], fig_dir / name, budget, args)
        except Exception as exc:
            traceback.print_exc()
            errors += 1
            entry = {"runs": run_keys(by_name[name]), "error": f"{type(exc).__name__}: {exc}"}
        entry = {"budget": budget.name, "note": budget.note, **entry}
        drawn[name] = entry
        if entry.get("files"):
            print(f"[figures] wrote {', '.join(entry['files'])}", flush=True)
        elif "skipped" in entry:
            print(f"[figures] skipped {name}: {entry['skipped']}", flush=True)
        for line in entry.get("failed_runs", []):
            print(f"[figures]   failed run: {line}", flush=True)
    manifest = {
        "budget": budget.name,
        "note": budget.note,
        "figures_dir": str(fig_dir),
        "sweep_wall_seconds": wall,
        "figures": drawn,
    }
    write_json(manifest_path, manifest)
    produced = [n for n in names if drawn[n].get("files")]
    skipped = [n for n in names if "skipped" in drawn[n]]
    print(
        f"[figures] produced {produced}, skipped {skipped}; wrote {manifest_path} "
        f"(sweep wall time {wall / 60:.1f} min)"
    )
    failed = sum(len(drawn[n].get("failed_runs", [])) for n in names)
    if errors:
        print(f"[figures] {errors} figure(s) raised (traceback above)")
    return 1 if errors or (failed and args.strict) else 0


def figure_main(fig: Figure, description: str, argv: list[str] | None = None) -> int:
    """``python reproduce/fig_<name>.py``: :func:`run_figures` for the one figure."""
    return run_figures([fig], figure_parser(description).parse_args(argv))
