"""Script plumbing shared by the ``reproduce/`` scripts: budgets, the sweep command line, the
figures folder and writing outputs atomically. (Statistics and table text are library code:
:mod:`ads_bench.analysis`.)

Budgets (README, *Reproducing the paper*). ``smoke`` is for tests (seconds); ``quick`` runs the
whole of Table 1 on a 2-core CPU in at most 30 minutes (few iterations and seeds: every output says
so); ``paper`` (also ``full``) is exactly the paper's protocol (25 000 iterations, batch 300,
5 seeds, N = 2000).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ads_bench.atomic_files import atomic_write_json, atomic_write_text
from ads_bench.sweep.records import RunRecord
from ads_bench.sweep.runner import run_sweep
from ads_bench.sweep.specs import RunSpec

REPO = Path(__file__).resolve().parents[1]
PAPER_FIGURES = REPO / "paper_figures"  # the committed figures (README: which budget made them)
BUILTIN = ["fixed", "fixed-learnvar", "bounded", "adaptive", "adaptive-vargrad", "adaptive-tlm"]
BASELINES = ["pis", "dis", "dds"]
TABLE1_METHODS = BUILTIN + BASELINES
TABLE1_TARGETS = ["gmm25", "gmm40", "funnel", "manywell"]
TABLE1_STEPS = [5, 10, 20]


@dataclass(frozen=True)
class Budget:
    """Iterations, batch, seeds and evaluation size of one budget."""

    name: str
    iterations: int
    batch_size: int
    seeds: tuple[int, ...]
    eval_n: int
    overrides: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    #: train each config's seeds as one seed ensemble with the compiled update (``train.compile``,
    #: objectives other than ``kl``): measured faster end to end only for long runs (README,
    #: *Reproducing the paper*), so only the paper budget does it
    compiled_ensembles: bool = False

    def config_overrides(self, **extra: Any) -> dict[str, Any]:
        """The budget's config overrides (periodic evaluation off), then ``extra``."""
        return {
            "train.iterations": self.iterations,
            "train.batch_size": self.batch_size,
            "eval.n": self.eval_n,
            "eval.every": 0,
            **self.overrides,
            **extra,
        }


BUDGETS = {
    "smoke": Budget(
        "smoke",
        iterations=4,
        batch_size=16,
        seeds=(0,),
        eval_n=32,
        overrides={
            "sampler.hidden": 16,
            "sampler.n_freq": 8,
            "train.checkpoint_every": 0,
            # a coarse entropic W2 (the Sinkhorn loop dominated the smoke runs' time)
            "eval.sinkhorn_eps": 0.1,
        },
        note="smoke budget: a plumbing check, the numbers mean nothing",
    ),
    "quick": Budget(
        "quick",
        iterations=600,
        batch_size=128,
        seeds=(0, 1, 2),
        eval_n=500,
        overrides={"train.checkpoint_every": 200},
        note="quick budget: 600 iterations, batch 128, 3 seeds, N = 500 (paper: 25 000, 300, 5, "
        "2000); conclusions are provisional",
    ),
    "paper": Budget(
        "paper",
        iterations=25_000,
        batch_size=300,
        seeds=(0, 1, 2, 3, 4),
        eval_n=2000,
        note="paper budget: the paper's protocol (25 000 iterations, batch 300, 5 seeds, N = 2000)",
        compiled_ensembles=True,
    ),
    "full": Budget(  # the paper budget's older name (same configs, so the same runs)
        "full",
        iterations=25_000,
        batch_size=300,
        seeds=(0, 1, 2, 3, 4),
        eval_n=2000,
        note="full budget (= paper): 25 000 iterations, batch 300, 5 seeds, N = 2000",
        compiled_ensembles=True,
    ),
}


def add_sweep_arguments(p: argparse.ArgumentParser, default_out: str = "results") -> None:
    """The sweep options every script shares: budget, output folder, workers, executor, seeds."""
    p.add_argument("--budget", choices=sorted(BUDGETS), default="quick")
    p.add_argument("--out", default=default_out, help="output folder (runs/ and the tables)")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--executor", choices=["local", "ray"], default="local")
    p.add_argument("--address", help="Ray cluster address (default: start a local instance)")
    p.add_argument("--seeds", type=int, nargs="+", help="override the budget's seeds")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def add_figures_argument(p: argparse.ArgumentParser) -> None:
    """``--figures-dir``; see :func:`figures_dir` for its default."""
    p.add_argument(
        "--figures-dir",
        help="where the PNG/PDF files go (default: OUT/figures); '--figures-dir paper_figures' "
        "replaces the committed figures, so use it only at the budget the README lists",
    )


def figures_dir(args: argparse.Namespace) -> Path:
    """The figures folder: ``--figures-dir`` if given, else ``OUT/figures``, so a run at another
    budget never replaces the committed ``paper_figures/``; smoke figures may never go there."""
    if args.figures_dir is None:
        return Path(args.out) / "figures"
    path = Path(args.figures_dir)
    if args.budget == "smoke" and path.resolve() == PAPER_FIGURES.resolve():
        raise SystemExit(
            f"error: the smoke budget's figures mean nothing; not writing them into {path} "
            "(omit --figures-dir to write them under --out)"
        )
    return path


def budget_of(args: argparse.Namespace) -> Budget:
    """The ``--budget``, with ``--seeds`` (if given) replacing its seeds and said in its note."""
    b = BUDGETS[args.budget]
    if args.seeds:
        note = f"{b.note} [seeds overridden: {', '.join(map(str, args.seeds))}]"
        b = dataclasses.replace(b, seeds=tuple(args.seeds), note=note)
    return b


def compiled_spec(spec: RunSpec) -> RunSpec:
    """``spec`` with ``train.compile`` on, unless its objective is ``kl`` (whose gradient runs
    through the rollout, which seed ensembles do not compile) or it is on already."""
    t = spec.config().train
    if t.compile or t.objective == "kl":
        return spec
    overrides = {**dict(spec.overrides), "train.compile": True}
    return dataclasses.replace(spec, overrides=overrides)


def sweep(
    specs: Sequence[RunSpec], args: argparse.Namespace, ensembles: bool | None = None
) -> list[RunRecord]:
    """Run (or resume) ``specs`` into ``args.out`` and return their records (with the specs as
    given); prints the summary. With ``ensembles`` (default: the budget's ``compiled_ensembles``)
    each config's seeds run as one compiled seed ensemble."""
    if ensembles is None:
        ensembles = BUDGETS[args.budget].compiled_ensembles
    run = [compiled_spec(s) for s in specs] if ensembles else list(specs)
    result = run_sweep(
        run,
        args.out,
        workers=args.workers,
        executor=args.executor,
        address=args.address,
        progress=not args.quiet,
        seed_ensembles=ensembles,
    )
    print(result.summary(), file=sys.stderr)
    return [dataclasses.replace(r, spec=s) for r, s in zip(result.records, specs, strict=True)]


# ---------------------------------------------------------------------------------- writing


def atomic_write(path: Path, text: str) -> None:
    """``text`` to ``path`` atomically (:func:`ads_bench.atomic_files.atomic_write_text`), parents
    made."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)


def write_json(path: Path, data: Any) -> None:
    """``data`` as indented JSON (NaN/inf kept) to ``path`` atomically, parents made."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, data)


def write_tables(out: Path, name: str, text: dict[str, str], data: Any) -> None:
    """A table's renderings ``text`` (``{"md", "csv", "tex"}``) to ``OUT/<name>.<ext>`` and ``data``
    to ``OUT/<name>.json``, each atomically."""
    for ext in ("md", "csv", "tex"):
        atomic_write(Path(out) / f"{name}.{ext}", text[ext])
    write_json(Path(out) / f"{name}.json", data)
