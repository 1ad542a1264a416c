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
2 → 4 → 5 seeds). A candidate's score in a rung is its mean rank over cells and metrics (Δlog Z ELBO,
W2, minus mode coverage; a failed run ranks last), so no single target decides; a candidate with a
diverged run (:func:`diverged`) ranks after every candidate without one. :data:`SCHEDULES` holds
each budget's rungs: the paper budget's (issue 18) end at the paper's 25 000 iterations on seeds 0–4,
with batch 300 and N = 2000 throughout, so a divergence at ~17 000 iterations decides the selection,
and from 5 000 iterations on each configuration's seeds train as one compiled seed ensemble.

Report (seeds 5–9 only). The winner of each family runs on the report cells — the selection cells
plus gmm40 at T ∈ {5, 10}, a target the selection never saw (paper budget: and funnel) — at the last
rung's iterations, with
periodic evaluation for the log-weight variance over training. The verdict for "learning the
destruction process beats fixed destruction at few steps" is computed from those seeds only: per
cell the paired difference fixed-learnvar − adaptive (positive = adaptive better) of the ELBO gap,
EUBO gap, W2 and mode coverage (sign flipped so positive is better), mean and 95 % Student-t interval,
and *pass* (interval above 0), *fail* (below 0), *not shown* (straddles 0) or *n/a* (no such metric
for the target). The diagnostics say why a family wins or loses: collapse counts, log-weight
variance over training, and how far the learned destruction moved from its base kernel (mean shift
in base standard deviations, log-variance correction), with a heatmap of the learned log-variance
correction over (x, t).

``--confirm-cells`` reruns the adaptive and fixed-learnvar winners on those cells at the full budget
(25 000 iterations, batch 300, N = 2000; ``--confirm-budget`` to change it) on seeds 5–9 and reports
the same verdict and diagnostics for them; a run whose ELBO gap exceeds :data:`DIVERGED_GAP` is
counted as diverged.

Every stage goes through the resumable sweep runner, so a killed study resumes without redoing
finished runs. Writes ``OUT/adaptive_study.{md,json}`` and ``FIGURES/adaptive_study_*.{png,pdf}``,
``FIGURES`` being ``--figures-dir`` (default ``OUT/figures``; ``--figures-dir paper_figures``
replaces the committed figures, which only the quick budget should do).
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import claims
import torch
from _common import (
    BUDGETS,
    add_figures_argument,
    add_sweep_arguments,
    atomic_write,
    figures_dir,
    fmt,
    md_table,
    mean_ci,
    sweep,
    write_json,
)

from ads_bench.methods import ADAPTIVE_STUDY_BASE
from ads_bench.rollout import forward_rollout
from ads_bench.store import RunDir, StoreError
from ads_bench.sweep.specs import RunSpec

CELLS = [("gmm25", 5), ("gmm25", 10), ("manywell", 5), ("manywell", 10)]
REPORT_CELLS = [*CELLS, ("gmm40", 5), ("gmm40", 10)]
SELECT_SEEDS, REPORT_SEEDS = (0, 1, 2, 3, 4), (5, 6, 7, 8, 9)
LR_GEN = 1e-3
MIXTURE_MODES = {"gmm25": 25, "gmm40": 40}
METRICS = (("delta_logz_elbo", 1.0), ("eubo_gap", 1.0), ("w2", 1.0), ("modes", -1.0))
REPORT_EVALS = 6  # periodic evaluations of a report run (log-weight variance over training)
#: A finished run whose ELBO gap exceeds this many nats has diverged: its samples sit where the
#: target has essentially no mass (finite numbers, so training did not stop on its own).
DIVERGED_GAP = 1e3

_COMMON = {"train.objective": "tb", "train.lr_gen": LR_GEN, "train.separate_optimizers": True,
           "train.exploration_std": 0.0, "sampler.learn_var": True}  # fmt: skip
#: family -> the study's starting point, every field a search axis touches written out
BASES: dict[str, dict] = {
    "adaptive": dict(ADAPTIVE_STUDY_BASE),  # the paper's described setup (ads_bench.methods)
    "bounded": {**_COMMON, "sampler.destruction": "bounded", "sampler.r_b": 1.0,
                "train.lr_dest": LR_GEN, "train.target_rate": None, "train.replay_ratio": 0.0,
                "train.replay_prioritized": True, "sampler.backbone": "separate"},
    "fixed-learnvar": {**_COMMON, "sampler.destruction": "fixed", "train.replay_ratio": 0.0,
                       "train.replay_prioritized": True},
}  # fmt: skip

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
_PAPER = Schedule(((1000, 2), (5000, 3), (25_000, 5)), 8,
                  (*REPORT_CELLS, ("funnel", 5), ("funnel", 10)), compile_from=5000)  # fmt: skip
SCHEDULES = {"smoke": Schedule(((2, 1), (6, 2)), 2),
             "quick": Schedule(((200, 2), (600, 4), (1800, 5)), 15),
             "paper": _PAPER, "full": _PAPER}  # fmt: skip


def candidates(family: str, n: int, seed: int = 0) -> list[dict]:
    """The base (no overrides) and up to ``n`` distinct random points of the family's space."""
    axes = SPACES[family]
    grid = [dict(itertools.chain.from_iterable(v.items() for v in combo))
            for combo in itertools.product(*axes.values())]  # fmt: skip
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
    over = budget.config_overrides(**{"train.iterations": iterations, **(extra or {})})
    specs = []
    for i, cand in enumerate(cands):
        for target, steps in cells:
            for seed in seeds:
                specs.append(RunSpec(target, family, steps, seed,
                                     {**over, **BASES[family], **cand},
                                     tag=f"{stage}:{family}:{i}"))  # fmt: skip
    return specs


def diverged(rec) -> bool:
    """Whether a run diverged: stopped by the divergence guard or a non-finite value (status
    ``diverged``), or finished with an ELBO gap above :data:`DIVERGED_GAP` or none at all."""
    if rec is None:
        return False
    if rec.status == "diverged":
        return True
    if not rec.ok:
        return False  # failed (an error, not an outcome of training)
    gap = _metric(rec, "delta_logz_elbo")
    return gap is None or gap > DIVERGED_GAP


def _metric(rec, key: str) -> float | None:
    if rec is None or not rec.ok or rec.metrics is None or rec.metrics.get(key) is None:
        return None
    v = float(rec.metrics[key])
    return v if math.isfinite(v) else None


def scores(records, n_cands: int) -> list[float]:
    """Mean rank (lower is better) of each candidate over cells x {ELBO gap, W2, -modes}."""
    by = {}
    for r in records:
        idx = int(r.spec.tag.rsplit(":", 1)[1])
        by.setdefault((idx, r.spec.target, r.spec.steps), []).append(r)
    ranks = [[] for _ in range(n_cands)]
    for target, steps in CELLS:
        for key, sign in (("delta_logz_elbo", 1.0), ("w2", 1.0), ("modes", -1.0)):
            vals = []
            for i in range(n_cands):
                xs = [_metric(r, key) for r in by.get((i, target, steps), [])]
                xs = [x for x in xs if x is not None]
                vals.append(sign * sum(xs) / len(xs) if xs else None)
            if all(v is None for v in vals):
                continue
            order = sorted(range(n_cands), key=lambda i: (vals[i] is None, vals[i] or 0.0))
            for rank, i in enumerate(order):
                ranks[i].append(rank if vals[i] is not None else n_cands)
    return [sum(r) / len(r) if r else float(n_cands) for r in ranks]


def _ensembles(schedule: Schedule, iterations: int) -> bool:
    return schedule.compile_from is not None and iterations >= schedule.compile_from


def screen(family: str, budget, args, log: list, spent: list) -> dict:
    """Successive halving of one family on seeds 0–4; returns the winner's overrides.

    After each rung the best third (at least ``--keep``) go on; a candidate with a diverged run
    (:func:`diverged`) in the rung ranks after every candidate without one, whatever its score."""
    sched = SCHEDULES[budget.name]
    cands = candidates(family, sched.candidates if args.candidates is None else args.candidates,
                       args.seed)  # fmt: skip
    alive = list(range(len(cands)))
    for rung, (iterations, n_seeds) in enumerate(sched.rungs):
        seeds = SELECT_SEEDS[:n_seeds]
        live = [cands[i] for i in alive]
        recs = sweep(_specs(family, live, iterations, seeds, budget, f"r{rung}"), args,
                     ensembles=_ensembles(sched, iterations))  # fmt: skip
        spent.extend(recs)
        sc = scores(recs, len(live))
        mine = [[r for r in recs if r.spec.tag.endswith(f":{j}")] for j in range(len(live))]
        bad = [sum(diverged(r) for r in m) for m in mine]
        order = sorted(range(len(live)), key=lambda j: (bad[j] > 0, sc[j]))
        log.append({"family": family, "rung": rung, "iterations": iterations, "seeds": list(seeds),
                    "candidates": [{"overrides": live[j], "score": sc[j], "diverged": bad[j],
                                    "failed": sum(r.status == "failed" for r in mine[j])}
                                   for j in order]})  # fmt: skip
        last = rung == len(sched.rungs) - 1
        keep = 1 if last else max(args.keep, math.ceil(len(live) / 3))
        alive = [alive[j] for j in order[:keep]]
    return {
        "overrides": cands[alive[0]],
        "settings": {**BASES[family], **cands[alive[0]]},
        "iterations": sched.rungs[-1][0],
    }


# ---------------------------------------------------------------------------------- verdict


def _by_family(records) -> dict:
    return {(r.spec.tag.split(":")[1], r.spec.target, r.spec.steps, r.spec.seed): r
            for r in records}  # fmt: skip


def verdict(records, cells=REPORT_CELLS, seeds=REPORT_SEEDS) -> list[dict]:
    """Per cell and metric: fixed-learnvar − adaptive on the report seeds (positive = adaptive
    better; modes sign-flipped), mean and 95 % CI, pass / fail / not shown / n/a, over the seeds on
    which neither run diverged; ``diverged_adaptive`` / ``diverged_fixed-learnvar`` count the
    cell's diverged runs."""
    rows = []
    by = _by_family(records)
    for target, steps in cells:
        runs = {f: [by.get((f, target, steps, seed)) for seed in seeds]
                for f in ("adaptive", "fixed-learnvar")}  # fmt: skip
        lost = {f"diverged_{f}": sum(map(diverged, rs)) for f, rs in runs.items()}
        for key, sign in METRICS:
            diffs = []
            for ra, rf in zip(runs["adaptive"], runs["fixed-learnvar"], strict=True):
                if diverged(ra) or diverged(rf):
                    continue  # a diverged run is counted, never averaged
                va, vf = _metric(ra, key), _metric(rf, key)
                if va is not None and vf is not None:
                    diffs.append(sign * (vf - va))
            m, lo, hi = mean_ci(diffs)
            if key == "modes" and target not in MIXTURE_MODES:
                result = "n/a"
            elif diffs and lo is not None and lo > 0:
                result = "pass"
            elif diffs and hi is not None and hi < 0:
                result = "fail"
            else:
                result = "not shown"
            rows.append({"target": target, "steps": steps, "metric": key, "n": len(diffs),
                         "mean": m, "ci_low": lo, "ci_high": hi, "result": result,
                         **lost})  # fmt: skip
    return rows


def summary_line(rows: list[dict]) -> str:
    counts = {k: sum(r["result"] == k for r in rows) for k in ("pass", "fail", "not shown")}
    shown = sum(counts.values())
    if counts["pass"] and not counts["fail"]:
        word = "supported"
    elif counts["fail"] > counts["pass"]:
        word = "not reproduced"  # worse more often than better, wherever a difference is shown
    elif counts["fail"]:
        word = "mixed: better as often as worse"
    else:
        word = "not shown at this budget"
    return (f"Learning the destruction process beats fixed destruction at few steps — **{word}** "
            f"on the report seeds: {counts['pass']} pass, {counts['fail']} fail, "
            f"{counts['not shown']} not shown of {shown} (cell, metric) comparisons.")  # fmt: skip


# ---------------------------------------------------------------------------------- diagnostics


@torch.no_grad()
def destruction_shift(model, n: int = 256, seed: int = 0) -> dict:
    """How far the learned destruction kernel is from its base on the sampler's own trajectories.

    ``mean_shift``: mean over trajectories, random steps and coordinates of
    ``|mean_φ(x_{i+1}) - c_i x_{i+1}| / sqrt(v_i)`` (base standard deviations); ``logvar_shift``: mean
    ``|log σ²_φ - log v_i|``; ``logvar_min``/``logvar_max``: extremes of ``log σ²_φ - log v_i``.
    Deterministic steps are excluded. All 0 for fixed destruction."""
    gen = torch.Generator().manual_seed(seed)
    traj = forward_rollout(model, n, generator=gen, log_probs=False)
    states = traj.states
    dest = model.destruction
    mean, log_var = dest(states[:, 1:], None)
    base_mean = dest.coef.to(states.dtype)[None, :, None] * states[:, 1:]
    base_lv = dest.log_var_base.to(states.dtype)[None, :, None]
    keep = model.step_mask
    dm = ((mean - base_mean).abs() / torch.exp(0.5 * base_lv))[:, keep]
    dv = (log_var - base_lv)[:, keep]
    return {"mean_shift": float(dm.mean()), "logvar_shift": float(dv.abs().mean()),
            "logvar_min": float(dv.min()), "logvar_max": float(dv.max())}  # fmt: skip


def _load(run_dir):
    return RunDir(run_dir).load_model()


def diagnostics(records, cells=REPORT_CELLS) -> dict:
    """Collapse counts, log-weight variance over training and destruction shift per family x cell."""
    from figures import read_history

    groups: dict = {}
    for r in records:
        groups.setdefault((r.spec.tag.split(":")[1], r.spec.target, r.spec.steps), []).append(r)
    out = []
    for (family, target, steps), recs in sorted(groups.items()):
        if (target, steps) not in cells:
            continue
        ok = [r for r in recs if r.ok]
        row = {"family": family, "target": target, "steps": steps, "runs": len(recs),
               "failed": len(recs) - len(ok), "diverged": sum(map(diverged, recs))}  # fmt: skip
        k = MIXTURE_MODES.get(target)
        modes = [m for m in (_metric(r, "modes") for r in ok) if m is not None]
        if k is not None and modes:
            row.update({"modes_of": k, "modes_mean": statistics.fmean(modes),
                        "single_mode": sum(m <= 1 for m in modes),
                        "under_half": sum(m < k / 2 for m in modes)})  # fmt: skip
        curves: dict[int, list[float]] = {}
        for r in ok:
            for h in read_history(r.path):
                if h.get("logw_var") is not None:
                    curves.setdefault(h["iteration"], []).append(h["logw_var"])
        row["logw_var_curve"] = [[it, statistics.fmean(v)] for it, v in sorted(curves.items())]
        shifts = []
        learned = BASES[family]["sampler.destruction"] != "fixed"  # fixed: no shift to measure
        for r in ok if learned else []:
            try:
                shifts.append(destruction_shift(_load(r.path)[1]))
            except StoreError:  # no final checkpoint (or a damaged one): no shift to measure
                continue
        if shifts:
            row["shift"] = {key: statistics.fmean(s[key] for s in shifts) for key in shifts[0]}
        out.append(row)
    return {"rows": out}


def draw_figures(records, diag: dict, fig_dir: Path, note: str) -> list[str]:
    """``adaptive_study_logw_var`` (log-weight variance over training per family, one panel per
    cell) and ``adaptive_study_destruction_variance`` (the adaptive winner on gmm25, first report
    seed, each trained T)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from figures import destruction_correction, plot_destruction_variance, save_figure

    files = []
    fig_dir.mkdir(parents=True, exist_ok=True)
    cells = list(dict.fromkeys((r["target"], r["steps"]) for r in diag["rows"]))
    if cells:
        fig, axes = plt.subplots(1, len(cells), figsize=(3.2 * len(cells), 3.2), squeeze=False,
                                 layout="constrained")  # fmt: skip
        for ax, (target, steps) in zip(axes[0], cells, strict=True):
            for row in diag["rows"]:
                if (row["target"], row["steps"]) == (target, steps) and row["logw_var_curve"]:
                    its, vals = zip(*row["logw_var_curve"], strict=True)
                    ax.plot(its, vals, marker="o", ms=3, label=row["family"])
            ax.set_yscale("log")
            ax.set_title(f"{target}, T = {steps}", fontsize=9)
            ax.set_xlabel("iteration")
        axes[0, 0].set_ylabel("Var[log w] (N eval samples)")
        axes[0, 0].legend(fontsize=7)
        fig.suptitle(f"Log-weight variance over training, mean over report seeds — {note}",
                     fontsize=9)  # fmt: skip
        files += save_figure(fig, fig_dir / "adaptive_study_logw_var")
        plt.close(fig)
    by = _by_family(records)
    for target, steps in [c for c in REPORT_CELLS if c[0] == "gmm25"]:
        rec = by.get(("adaptive", target, steps, REPORT_SEEDS[0]))
        if rec is None or not rec.ok:
            continue
        try:
            model = _load(rec.path)[1]
        except StoreError:
            continue
        files += plot_destruction_variance(
            destruction_correction(model), fig_dir / f"adaptive_study_destruction_variance_T{steps}",
            note, f" — study winner, {target}, T = {steps}, seed {REPORT_SEEDS[0]}",
        )  # fmt: skip
        plt.close("all")
    return files


# ---------------------------------------------------------------------------------- output


def _settings(w: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(w["overrides"].items())) or "study base as is"


def _label(value: dict) -> str:
    return ", ".join(f"{k.split('.')[-1]}={v}" for k, v in value.items())


def axis_evidence(log: list[dict], family: str) -> list[dict]:
    """Per axis value of ``family``'s space: how many candidates had it, their mean first-rung score
    (mean rank, lower is better) and the furthest rung any of them reached."""
    entries = [e for e in log if e["family"] == family]
    if not entries:
        return []
    reached: dict[str, int] = {}
    for e in entries:
        for c in e["candidates"]:
            key = repr(sorted(c["overrides"].items()))
            reached[key] = max(reached.get(key, -1), e["rung"])
    rows = []
    for axis, values in SPACES[family].items():
        for value in values:
            hits = [c for c in entries[0]["candidates"]
                    if all({**BASES[family], **c["overrides"]}.get(k, object()) == v
                           for k, v in value.items())]  # fmt: skip
            rows.append({"axis": axis, "value": _label(value), "candidates": len(hits),
                         "mean_score": statistics.fmean(c["score"] for c in hits) if hits else None,
                         "furthest_rung": max((reached[repr(sorted(c["overrides"].items()))]
                                               for c in hits), default=None)})  # fmt: skip
    return rows


def compute(records) -> dict:
    """Total CPU-worker time of the study's distinct runs (training + evaluation, from each run's
    own timing, so cached runs count what they cost when they ran)."""
    seen = {}
    for r in records:
        if r.ok and r.timing:
            seen[r.key] = float(r.timing.get("train_seconds") or 0.0) + float(
                r.timing.get("eval_seconds") or 0.0
            )
    return {"runs": len(seen), "worker_hours": sum(seen.values()) / 3600.0}


def _diag_table(diag: dict) -> str:
    drows = []
    for r in diag["rows"]:
        sh = r.get("shift")
        curve = r["logw_var_curve"]
        drows.append([
            r["family"], r["target"], str(r["steps"]), f"{r['runs'] - r['failed']}/{r['runs']}",
            str(r["diverged"]),
            f"{fmt(r['modes_mean'])}/{r['modes_of']}" if "modes_of" in r else "—",
            str(r["single_mode"]) if "modes_of" in r else "—",
            str(r["under_half"]) if "modes_of" in r else "—",
            f"{fmt(curve[0][1])} → {fmt(curve[-1][1])}" if curve else "—",
            fmt(sh["mean_shift"]) if sh else "0 (fixed)",
            f"{fmt(sh['logvar_shift'])} [{fmt(sh['logvar_min'])}, {fmt(sh['logvar_max'])}]"
            if sh else "0 (fixed)",
        ])  # fmt: skip
    return md_table(["family", "target", "T", "ok runs", "diverged", "modes (mean)", "≤ 1 mode",
                        "< K/2 modes", "Var[log w] first → last", "mean shift (base stds)",
                        "mean abs log-var shift [min, max]"], drows)  # fmt: skip


def render(log, winners, rows, diag, confirm, note, wall, cost) -> str:
    cells = ", ".join(f"{t} T={s}" for t, s in CELLS)
    md = [
        f"# Adaptive-destruction study — {note}",
        "",
        f"{cost['runs']} distinct runs, {cost['worker_hours']:.2f} worker-hours of training and "
        f"evaluation in total. This invocation: {wall / 60:.1f} min wall (cached runs cost "
        f"nothing). Selection on seeds {list(SELECT_SEEDS)} over {cells}; verdict on seeds "
        f"{list(REPORT_SEEDS)} over those cells and gmm40 (never used for selection).",
        "",
    ]
    md += ["## Chosen settings", "", "Study bases (`reproduce/adaptive_study.py: BASES`) and the "
           "overrides the screening chose on them:", ""]  # fmt: skip
    md.append(md_table(["family", "base", "chosen overrides", "report iterations"],
                       [[f, ", ".join(f"{k}={v}" for k, v in sorted(BASES[f].items())),
                         _settings(w), str(w["iterations"])]
                        for f, w in winners.items()]))  # fmt: skip
    md += ["", "## Verdict: fixed-learnvar − adaptive on the report seeds (positive = adaptive "
           "better)", "", summary_line(rows), ""]  # fmt: skip
    md.append(claims.verdict_table(rows))
    if confirm:
        md += ["", f"## Full-budget confirmation ({confirm['note']})", "",
               summary_line(confirm["verdict"]), ""]  # fmt: skip
        md.append(claims.verdict_table(confirm["verdict"]))
        md += ["", f"Diverged = ELBO gap above {DIVERGED_GAP:g} nats (finite, so training went on); "
               "a diverged run dominates a mean, so read the counts first.", ""]  # fmt: skip
        md.append(_diag_table(confirm["diagnostics"]))
    md += [
        "",
        "## Diagnostics on the report seeds",
        "",
        "Collapse: runs covering at most one mode, and fewer than half the modes (a mode is covered "
        "when it gets at least a tenth of its share N/K). Shift of the learned destruction from its "
        "base kernel on the sampler's own trajectories: mean absolute mean shift in base standard "
        "deviations, mean absolute log-variance shift and its range. Var[log w] at the first and "
        f"last evaluation. Diverged: ELBO gap above {DIVERGED_GAP:g} nats.",
        "",
    ]
    md.append(_diag_table(diag))
    md += ["", "## Evidence per setting", "",
           "For every value of every axis: the candidates that had it (base values count), their "
           "mean score in the first rung (mean rank over cells and metrics, lower is better) and the "
           "furthest rung one of them reached (the last rung is the final).", ""]  # fmt: skip
    for family in winners:
        ev = axis_evidence(log, family)
        if not ev:
            continue
        md += [f"### {family}", ""]
        md.append(md_table(["axis", "value", "candidates", "mean first-rung score",
                            "furthest rung"],
                           [[r["axis"], r["value"], str(r["candidates"]), fmt(r["mean_score"]),
                             "—" if r["furthest_rung"] is None else str(r["furthest_rung"])]
                            for r in ev]))  # fmt: skip
        md.append("")
    md += ["## Screening rungs", ""]
    for entry in log:
        md += [f"### {entry['family']}, rung {entry['rung']} ({entry['iterations']} iterations, "
               f"seeds {entry['seeds']})", ""]  # fmt: skip
        md.append(md_table(["rank", "score (mean rank)", "failed runs", "overrides on the base"],
                           [[str(i + 1), f"{c['score']:.2f}", str(c["failed"]),
                             ", ".join(f"{k}={v}" for k, v in sorted(c["overrides"].items()))
                             or "base"]
                            for i, c in enumerate(entry["candidates"])]))  # fmt: skip
        md.append("")
    return "\n".join(md)


def _cells(text: list[str] | None) -> list[tuple[str, int]]:
    out = []
    for item in text or []:
        target, _, steps = item.partition(":")
        if not steps.isdigit():
            raise SystemExit(f"--confirm-cells expects target:T (e.g. gmm25:5), got {item!r}")
        out.append((target, int(steps)))
    return out


def main(argv: list[str] | None = None) -> int:
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
    p.add_argument("--confirm-budget", choices=sorted(BUDGETS), default="full",
                   help="budget of the --confirm-cells runs (default: full)")  # fmt: skip
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
        report += _specs(family, [w["overrides"]], w["iterations"], REPORT_SEEDS, budget, "report",
                         sched.report_cells, every)  # fmt: skip
    records = sweep(report, args, ensembles=_ensembles(sched, sched.rungs[-1][0]))
    spent.extend(records)
    rows = verdict(records, sched.report_cells)
    diag = diagnostics(records, sched.report_cells)
    note = f"{budget.name} budget ({sched})"
    confirm = None
    if confirm_cells:
        full = BUDGETS[args.confirm_budget]
        specs = []
        for family in ("adaptive", "fixed-learnvar"):
            specs += _specs(family, [winners[family]["overrides"]], full.iterations,
                            REPORT_SEEDS, full, "confirm", confirm_cells)  # fmt: skip
        crecs = sweep(specs, args)
        spent.extend(crecs)
        confirm = {"cells": confirm_cells, "verdict": verdict(crecs, confirm_cells),
                   "diagnostics": diagnostics(crecs, confirm_cells),
                   "note": f"{full.iterations} iterations, batch {full.batch_size}, N = "
                           f"{full.eval_n}, seeds {list(REPORT_SEEDS)}"}  # fmt: skip
    out = Path(args.out)
    figures = draw_figures(records, diag, fig_dir, note)
    wall = time.perf_counter() - start
    cost = compute(spent)
    atomic_write(out / "adaptive_study.md",
                 render(log, winners, rows, diag, confirm, note, wall, cost))  # fmt: skip
    write_json(out / "adaptive_study.json", {"budget": budget.name, "wall_seconds": wall,
                                             "compute": cost,
                                             "winners": winners, "rungs": log, "verdict": rows,
                                             "summary": summary_line(rows), "diagnostics": diag,
                                             "confirm": confirm, "figures": figures,
                                             "evidence": {f: axis_evidence(log, f)
                                                          for f in winners}})  # fmt: skip
    print((out / "adaptive_study.md").read_text(encoding="utf-8"))
    if (out / "table1.json").exists():  # the claims output carries the tuned verdict too
        claims.main(["--out", str(out)])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
