"""Issue 11's study: what it takes for ``adaptive`` to train, screened by successive halving.

    python reproduce/adaptive_study.py                    # quick budget (about an hour on 2 cores)
    python reproduce/adaptive_study.py --budget smoke     # plumbing check (tests)
    python reproduce/adaptive_study.py --confirm-cells gmm25:5   # + the winners at full budget
    python reproduce/adaptive_study.py --budget paper --out results/adaptive_study_paper  # issue 18

Families. ``adaptive`` (the paper's method) and, with the same screening budget so the comparison is
fair, ``bounded`` and ``fixed-learnvar``. Each family starts from a pinned *study base*
(:data:`BASES`: the settings the paper describes, written out field by field so the study does not
drift when a preset is changed from its evidence) and has a search space of config overrides
(:data:`SPACES`): for ``adaptive`` the φ/θ learning-rate ratio, the destruction variance range
(``r_a`` 1, 2, 4 or unbounded with a numerical clamp), bounded vs unbounded mean correction
(``r_m``), the target network and its rate, the replay ratio and its prioritisation (replayed
batches are off-policy backward trajectories from the buffer), the exploration schedule and a shared
vs separate backbone; the comparators get every axis that exists for them (learning rates,
exploration, replay and, for ``bounded``, the target network and the backbone). Candidates are the
base plus ``--candidates`` distinct configurations drawn (seeded) from the space.

Screening (selection seeds 0–4 only). All candidates are trained on every selection cell (gmm25 and
manywell at T ∈ {5, 10}); successive halving keeps the best third (at least ``--keep``) after each
rung, with 3× the iterations and more seeds at the next rung (quick: 200 → 600 → 1800 iterations on
2 → 4 → 5 seeds). A candidate's score in a rung is its mean rank over cells and metrics (Δlog Z
ELBO, W2, minus mode coverage; a failed run ranks last), so no single target decides; a candidate
with a diverged run (:func:`diverged`) ranks after every candidate without one. :data:`SCHEDULES`
holds each budget's rungs: the paper budget's (issue 18) end at the paper's 25 000 iterations on
seeds 0–4, with batch 300 and N = 2000 throughout, so a divergence at ~17 000 iterations decides the
selection, and from 5 000 iterations on each configuration's seeds train as one compiled seed
ensemble.

Report (seeds 5–9 only). The winner of each family runs on the report cells — the selection cells
plus gmm40 at T ∈ {5, 10}, a target the selection never saw (paper budget: and funnel) — at the last
rung's iterations, with periodic evaluation for the log-weight variance over training. The verdict
for "learning the destruction process beats fixed destruction at few steps" is computed from those
seeds only: per cell the paired difference fixed-learnvar − adaptive (positive = adaptive better) of
the ELBO gap, EUBO gap, W2 and mode coverage (sign flipped so positive is better), mean and 95 %
Student-t interval, and *pass* (interval above 0), *fail* (below 0), *not shown* (straddles 0) or
*n/a* (no such metric for the target). The diagnostics say why a family wins or loses: collapse
counts, log-weight variance over training, and how far the learned destruction moved from its base
kernel (mean shift in base standard deviations, log-variance correction), with a heatmap of the
learned log-variance correction over (x, t).

``--confirm-cells`` reruns the adaptive and fixed-learnvar winners on those cells at the full budget
(25 000 iterations, batch 300, N = 2000; ``--confirm-budget`` to change it) on seeds 5–9 and reports
the same verdict and diagnostics for them; a run whose ELBO gap exceeds
:data:`ads_bench.analysis.runs.DIVERGED_GAP` is counted as diverged.

Successive halving's score and order are :mod:`ads_bench.analysis.halving`; the verdict and
diagnostics :mod:`_study_verdict`; ``adaptive_study.md`` and the figures :mod:`_study_report`.
Every stage goes through the resumable sweep runner, so a killed study resumes without redoing
finished runs. Writes ``OUT/adaptive_study.{md,json}`` and ``FIGURES/adaptive_study_*.{png,pdf}``,
``FIGURES`` being ``--figures-dir`` (default ``OUT/figures``; ``--figures-dir paper_figures``
replaces the committed figures, which only the quick budget should do).
"""

from __future__ import annotations

import argparse
import itertools
import random
import time
from dataclasses import dataclass
from pathlib import Path

import claims
from _common import (
    BUDGETS,
    add_figures_argument,
    add_sweep_arguments,
    atomic_write,
    figures_dir,
    sweep,
    write_json,
)
from _study_report import axis_evidence, draw_figures, render
from _study_verdict import REPORT_SEEDS, compute, diagnostics, summary_line, verdict

from ads_bench.analysis.halving import mean_ranks, rung_order, survivors
from ads_bench.analysis.runs import diverged
from ads_bench.methods import ADAPTIVE_STUDY_BASE
from ads_bench.sweep.specs import RunSpec

CELLS = [("gmm25", 5), ("gmm25", 10), ("manywell", 5), ("manywell", 10)]
REPORT_CELLS = [*CELLS, ("gmm40", 5), ("gmm40", 10)]
SELECT_SEEDS = (0, 1, 2, 3, 4)  # the selection's seeds; the report's are REPORT_SEEDS (5-9)
LR_GEN = 1e-3
REPORT_EVALS = 6  # periodic evaluations of a report run (log-weight variance over training)

_COMMON = {
    "train.objective": "tb",
    "train.lr_gen": LR_GEN,
    "train.separate_optimizers": True,
    "train.exploration_std": 0.0,
    "sampler.learn_var": True,
}
#: family -> the study's starting point, every field a search axis touches written out
BASES: dict[str, dict] = {
    "adaptive": dict(ADAPTIVE_STUDY_BASE),  # the paper's described setup (ads_bench.methods)
    "bounded": {
        **_COMMON,
        "sampler.destruction": "bounded",
        "sampler.r_b": 1.0,
        "train.lr_dest": LR_GEN,
        "train.target_rate": None,
        "train.replay_ratio": 0.0,
        "train.replay_prioritized": True,
        "sampler.backbone": "separate",
    },
    "fixed-learnvar": {
        **_COMMON,
        "sampler.destruction": "fixed",
        "train.replay_ratio": 0.0,
        "train.replay_prioritized": True,
    },
}

_REPLAY = [
    {"train.replay_ratio": 0.0},
    {"train.replay_ratio": 0.5, "train.replay_prioritized": False},
    {"train.replay_ratio": 0.5, "train.replay_prioritized": True},
]
_EXPLORATION = [{"train.exploration_std": e} for e in (0.0, 0.1, 0.5)]
_LR_RATIO = [{"train.lr_dest": r * LR_GEN} for r in (0.01, 0.1, 1.0)]
_TARGET_NET = [{"train.target_rate": r} for r in (None, 0.01, 0.1)]
#: every parameter that shapes the destruction at a stated rate: the shared trunk at lr_gen, trained
#: by both processes; or trained by the generation alone; or a separate trunk at lr_dest
_BACKBONE = [
    {"sampler.backbone": "shared", "train.lr_trunk": LR_GEN},
    {"sampler.backbone": "shared-detached"},
    {"sampler.backbone": "separate"},
]

#: family -> axis -> values (each value is a dict of config overrides); screened in this order, so
#: the claim's comparator is done before ``bounded`` when a long study is stopped
SPACES: dict[str, dict[str, list[dict]]] = {
    "adaptive": {
        "lr_ratio": _LR_RATIO,
        "var_range": [{"sampler.r_a": r} for r in (1.0, 2.0, 4.0, None)],
        "mean_bound": [{"sampler.r_m": r} for r in (None, 1.0, 10.0)],
        "target_net": _TARGET_NET,
        "replay": _REPLAY,
        "exploration": _EXPLORATION,
        "backbone": _BACKBONE,
    },
    "fixed-learnvar": {
        "lr_gen": [{"train.lr_gen": lr} for lr in (3e-4, 1e-3, 3e-3)],
        "replay": _REPLAY,
        "exploration": _EXPLORATION,
    },
    "bounded": {
        "lr_ratio": _LR_RATIO,
        "target_net": _TARGET_NET,
        "replay": _REPLAY,
        "exploration": _EXPLORATION,
        "backbone": _BACKBONE,
    },
}


@dataclass(frozen=True)
class Schedule:
    """One budget's study: successive-halving ``rungs`` as (iterations, number of selection seeds),
    ``candidates`` random points per family besides the base, the ``report_cells`` of the held-out
    verdict, and the run length from which each configuration's seeds train as one compiled seed
    ensemble (``compile_from``; None: never), measured faster only for long runs."""

    rungs: tuple[tuple[int, int], ...]
    candidates: int
    report_cells: tuple[tuple[str, int], ...] = tuple(REPORT_CELLS)
    compile_from: int | None = None

    def __str__(self) -> str:
        rungs = " → ".join(f"{it} its × {n} seeds" for it, n in self.rungs)
        return f"{1 + self.candidates} candidates per family, rungs {rungs}"


#: the paper-scale study (issue 18): its final rung is the paper's 25 000 iterations, so a
#: divergence at ~17 000 decides the selection; its verdict adds funnel (Table 1's fourth target)
_PAPER = Schedule(
    ((1000, 2), (5000, 3), (25_000, 5)),
    8,
    (*REPORT_CELLS, ("funnel", 5), ("funnel", 10)),
    compile_from=5000,
)
SCHEDULES = {
    "smoke": Schedule(((2, 1), (6, 2)), 2),
    "quick": Schedule(((200, 2), (600, 4), (1800, 5)), 15),
    "paper": _PAPER,
    "full": _PAPER,
}


def candidates(family: str, n: int, seed: int = 0) -> list[dict]:
    """The base (no overrides) and up to ``n`` distinct random points of the family's space."""
    axes = SPACES[family]
    grid = [
        dict(itertools.chain.from_iterable(v.items() for v in combo))
        for combo in itertools.product(*axes.values())
    ]
    rng = random.Random(f"{family}:{seed}")
    picked = rng.sample(grid, min(n, len(grid)))
    base = BASES[family]
    out = [{}]
    for c in picked:
        c = {k: v for k, v in c.items() if base.get(k, object()) != v}  # only real changes
        if c and c not in out:
            out.append(c)
    return out


def _specs(family, cands, iterations, seeds, budget, stage, cells=CELLS, extra=None) -> list:
    """Every (candidate, cell, seed) run of ``family`` at ``iterations`` on ``budget``, tagged
    ``"<stage>:<family>:<candidate index>"`` (the tag is not part of the config)."""
    over = budget.config_overrides(**{"train.iterations": iterations, **(extra or {})})
    specs = []
    for i, cand in enumerate(cands):
        for target, steps in cells:
            for seed in seeds:
                config = {**over, **BASES[family], **cand}
                specs.append(
                    RunSpec(target, family, steps, seed, config, tag=f"{stage}:{family}:{i}")
                )
    return specs


def _candidate(rec) -> int:
    """The candidate index of a screening record (the last field of its tag)."""
    return int(rec.spec.tag.rsplit(":", 1)[1])


#: the families whose destruction is learned (their diagnostics measure its shift from the base)
LEARNED = frozenset(f for f, base in BASES.items() if base["sampler.destruction"] != "fixed")


def _ensembles(schedule: Schedule, iterations: int) -> bool:
    """Whether runs of ``iterations`` train as compiled seed ensembles under ``schedule``."""
    return schedule.compile_from is not None and iterations >= schedule.compile_from


def screen(family: str, budget, args, log: list, spent: list) -> dict:
    """Successive halving of one family on seeds 0–4; returns the winner's overrides.

    After each rung the best third (at least ``--keep``) go on; a candidate with a diverged run
    (:func:`diverged`) in the rung ranks after every candidate without one, whatever its score."""
    sched = SCHEDULES[budget.name]
    cands = candidates(
        family, sched.candidates if args.candidates is None else args.candidates, args.seed
    )
    alive = list(range(len(cands)))
    for rung, (iterations, n_seeds) in enumerate(sched.rungs):
        seeds = SELECT_SEEDS[:n_seeds]
        live = [cands[i] for i in alive]
        specs = _specs(family, live, iterations, seeds, budget, f"r{rung}")
        recs = sweep(specs, args, ensembles=_ensembles(sched, iterations))
        spent.extend(recs)
        sc = mean_ranks(recs, len(live), CELLS, _candidate)
        mine = [[r for r in recs if r.spec.tag.endswith(f":{j}")] for j in range(len(live))]
        bad = [sum(diverged(r) for r in m) for m in mine]
        order = rung_order(sc, bad)
        ranked = [
            {
                "overrides": live[j],
                "score": sc[j],
                "diverged": bad[j],
                "failed": sum(r.status == "failed" for r in mine[j]),
            }
            for j in order
        ]
        log.append(
            {
                "family": family,
                "rung": rung,
                "iterations": iterations,
                "seeds": list(seeds),
                "candidates": ranked,
            }
        )
        keep = survivors(len(live), args.keep, last=rung == len(sched.rungs) - 1)
        alive = [alive[j] for j in order[:keep]]
    return {
        "overrides": cands[alive[0]],
        "settings": {**BASES[family], **cands[alive[0]]},
        "iterations": sched.rungs[-1][0],
    }


def _cells(text: list[str] | None) -> list[tuple[str, int]]:
    """``--confirm-cells`` (``target:T`` items) as (target, T) pairs."""
    out = []
    for item in text or []:
        target, _, steps = item.partition(":")
        if not steps.isdigit():
            raise SystemExit(f"--confirm-cells expects target:T (e.g. gmm25:5), got {item!r}")
        out.append((target, int(steps)))
    return out


def main(argv: list[str] | None = None) -> int:
    """Screen every family, run the winners on the report cells (and ``--confirm-cells``), write
    ``adaptive_study.{md,json}`` and the figures, and refresh ``claims.md`` if Table 1 is there."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sweep_arguments(p)
    p.add_argument("--candidates", type=int, help="random candidates per family (budget default)")
    p.add_argument("--keep", type=int, default=2, help="minimum survivors per rung")
    p.add_argument("--seed", type=int, default=0, help="seed of the candidate draw")
    add_figures_argument(p)
    p.add_argument(
        "--confirm-cells",
        nargs="+",
        metavar="TARGET:T",
        help="also run the adaptive and fixed-learnvar winners there at full budget",
    )
    p.add_argument(
        "--confirm-budget",
        choices=sorted(BUDGETS),
        default="full",
        help="budget of the --confirm-cells runs (default: full)",
    )
    args = p.parse_args(argv)
    if args.seeds:
        p.error("--seeds is fixed by the study: selection on 0-4, report on 5-9")
    confirm_cells = _cells(args.confirm_cells)
    fig_dir = figures_dir(args)
    budget = BUDGETS[args.budget]
    start = time.perf_counter()
    log: list = []
    spent: list = []  # every record of this study, for its total compute
    sched = SCHEDULES[budget.name]
    winners = {family: screen(family, budget, args, log, spent) for family in SPACES}
    report = []
    for family, w in winners.items():
        every = {"eval.every": max(1, w["iterations"] // REPORT_EVALS)}
        its, cells = w["iterations"], sched.report_cells
        report += _specs(
            family, [w["overrides"]], its, REPORT_SEEDS, budget, "report", cells, every
        )
    records = sweep(report, args, ensembles=_ensembles(sched, sched.rungs[-1][0]))
    spent.extend(records)
    rows = verdict(records, sched.report_cells)
    diag = diagnostics(records, sched.report_cells, LEARNED)
    note = f"{budget.name} budget ({sched})"
    confirm = None
    if confirm_cells:
        full = BUDGETS[args.confirm_budget]
        specs = []
        for family in ("adaptive", "fixed-learnvar"):
            cand = [winners[family]["overrides"]]
            specs += _specs(
                family, cand, full.iterations, REPORT_SEEDS, full, "confirm", confirm_cells
            )
        crecs = sweep(specs, args)
        spent.extend(crecs)
        confirm = {
            "cells": confirm_cells,
            "verdict": verdict(crecs, confirm_cells),
            "diagnostics": diagnostics(crecs, confirm_cells, LEARNED),
            "note": f"{full.iterations} iterations, batch {full.batch_size}, N = "
            f"{full.eval_n}, seeds {list(REPORT_SEEDS)}",
        }
    out = Path(args.out)
    figures = draw_figures(records, diag, fig_dir, note, REPORT_CELLS)
    wall = time.perf_counter() - start
    cost = compute(spent)
    design = {"bases": BASES, "spaces": SPACES, "cells": CELLS, "select_seeds": SELECT_SEEDS}
    text = render(log, winners, rows, diag, confirm, note, wall, cost, **design)
    atomic_write(out / "adaptive_study.md", text)
    write_json(
        out / "adaptive_study.json",
        {
            "budget": budget.name,
            "wall_seconds": wall,
            "compute": cost,
            "winners": winners,
            "rungs": log,
            "verdict": rows,
            "summary": summary_line(rows),
            "diagnostics": diag,
            "confirm": confirm,
            "figures": figures,
            "evidence": {f: axis_evidence(log, f, SPACES[f], BASES[f]) for f in winners},
        },
    )
    print((out / "adaptive_study.md").read_text(encoding="utf-8"))
    if (out / "table1.json").exists():  # the claims output carries the tuned verdict too
        claims.main(["--out", str(out)])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
