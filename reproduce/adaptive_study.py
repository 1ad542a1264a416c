"""Issue 11's study: what it takes for ``adaptive`` to train, screened by successive halving.

    python reproduce/adaptive_study.py                    # quick budget (hours on 2 cores)
    python reproduce/adaptive_study.py --budget smoke     # plumbing check (tests)

Each *family* (``adaptive``, and, with the same screening budget so the comparison is fair,
``bounded`` and ``fixed-learnvar``) has a search space of config overrides. Its candidates are the
preset itself plus ``--candidates`` distinct configurations drawn (seeded) from the space. All
candidates are trained on every cell (gmm25 and manywell at T ∈ {5, 10}); successive halving keeps
the best third (at least ``--keep``) after each rung, with 3× the iterations and more seeds at the
next rung (quick: 200 → 600 → 1800 iterations on 2 → 4 → 5 seeds; estimated about an hour per
family on this machine, not yet run). The score of a candidate in a rung is its mean rank over cells and metrics (Δlog Z ELBO,
W2, minus mode coverage; a failed run ranks last), so no single target decides.

Selection uses seeds 0–4 only. The winners of each family are then run on seeds 5–9 (the *report*
stage, at the last rung's iterations), and the verdict — "learning the destruction process beats
fixed destruction at few steps" — is computed only from those seeds: per cell the paired difference
(fixed-learnvar − adaptive, positive = adaptive better) of the ELBO gap, EUBO gap, W2 and mode
coverage (sign flipped so positive is better), mean and 95 % Student-t interval, and *pass* (interval
above 0), *fail* (below 0) or *not shown*. Every stage goes through the resumable sweep runner, so a
killed study resumes without redoing finished runs. Writes ``OUT/adaptive_study.{md,json}``.
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BUDGETS,
    add_sweep_arguments,
    atomic_write,
    fmt,
    md_table,
    mean_ci,
    sweep,
    write_json,
)

from ads_bench.sweep import RunSpec

CELLS = [("gmm25", 5), ("gmm25", 10), ("manywell", 5), ("manywell", 10)]
SELECT_SEEDS, REPORT_SEEDS = (0, 1, 2, 3, 4), (5, 6, 7, 8, 9)
LR_GEN = 1e-3

#: family -> axis -> values (each value is a dict of config overrides)
SPACES: dict[str, dict[str, list[dict]]] = {
    "adaptive": {
        "lr_ratio": [{"train.lr_dest": r * LR_GEN} for r in (0.01, 0.1, 1.0)],
        "var_range": [{"sampler.r_a": r} for r in (1.0, 2.0, 4.0, None)],
        "target_net": [{"train.target_rate": r} for r in (None, 0.01, 0.1)],
        "replay": [
            {"train.replay_ratio": 0.0},
            {"train.replay_ratio": 0.5, "train.replay_prioritized": False},
            {"train.replay_ratio": 0.5, "train.replay_prioritized": True},
        ],
        "exploration": [{"train.exploration_std": e} for e in (0.0, 0.1, 0.5)],
        "backbone": [{"sampler.shared_backbone": b} for b in (True, False)],
    },
    "bounded": {
        "lr_gen": [{"train.lr_gen": lr, "train.lr_dest": lr} for lr in (3e-4, 1e-3, 3e-3)],
        "exploration": [{"train.exploration_std": e} for e in (0.0, 0.1, 0.5)],
    },
    "fixed-learnvar": {
        "lr_gen": [{"train.lr_gen": lr} for lr in (3e-4, 1e-3, 3e-3)],
        "exploration": [{"train.exploration_std": e} for e in (0.0, 0.1, 0.5)],
    },
}

#: budget -> (first rung iterations, rungs, candidates per family, seeds of the first rung)
SCHEDULES = {"smoke": (2, 2, 2, 1), "quick": (200, 3, 12, 2), "full": (2000, 3, 24, 3)}


def candidates(family: str, n: int, seed: int = 0) -> list[dict]:
    """The preset (no overrides) and up to ``n`` distinct random points of the family's space."""
    axes = SPACES[family]
    grid = [dict(itertools.chain.from_iterable(v.items() for v in combo))
            for combo in itertools.product(*axes.values())]  # fmt: skip
    rng = random.Random(f"{family}:{seed}")
    picked = rng.sample(grid, min(n, len(grid)))
    out = [{}]
    for c in picked:
        if c and c not in out:
            out.append(c)
    return out


def _specs(family: str, cands: list[dict], iterations: int, seeds, budget, stage: str) -> list:
    over = budget.config_overrides(**{"train.iterations": iterations})
    specs = []
    for i, cand in enumerate(cands):
        for target, steps in CELLS:
            for seed in seeds:
                specs.append(RunSpec(target, family, steps, seed, {**over, **cand},
                                     tag=f"{stage}:{family}:{i}"))  # fmt: skip
    return specs


def _metric(rec, key: str) -> float | None:
    if not rec.ok or rec.metrics is None or rec.metrics.get(key) is None:
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


def screen(family: str, budget, args, log: list) -> dict:
    """Successive halving of one family on seeds 0–4; returns the winner's overrides."""
    first, rungs, n, n_seeds = SCHEDULES[budget.name]
    cands = candidates(family, args.candidates or n, args.seed)
    iterations = first
    alive = list(range(len(cands)))
    for rung in range(rungs):
        seeds = SELECT_SEEDS[: min(len(SELECT_SEEDS), n_seeds * (rung + 1))]
        live = [cands[i] for i in alive]
        recs = sweep(_specs(family, live, iterations, seeds, budget, f"r{rung}"), args)
        sc = scores(recs, len(live))
        order = sorted(range(len(live)), key=lambda j: sc[j])
        log.append({"family": family, "rung": rung, "iterations": iterations, "seeds": list(seeds),
                    "candidates": [{"overrides": live[j], "score": sc[j],
                                    "failed": sum(not r.ok for r in recs
                                                  if r.spec.tag.endswith(f":{j}"))}
                                   for j in order]})  # fmt: skip
        keep = max(args.keep, math.ceil(len(live) / 3)) if rung < rungs - 1 else 1
        alive = [alive[j] for j in order[:keep]]
        iterations *= 3
    return {"overrides": cands[alive[0]], "iterations": iterations // 3}


def verdict(records, cells=CELLS) -> list[dict]:
    """Per cell and metric: fixed-learnvar − adaptive on the report seeds (positive = adaptive
    better; modes sign-flipped), mean and 95 % CI, pass / fail / not shown."""
    rows = []
    by = {(r.spec.tag.split(":")[1], r.spec.target, r.spec.steps, r.spec.seed): r for r in records}
    for target, steps in cells:
        for key, sign in (("delta_logz_elbo", 1.0), ("eubo_gap", 1.0), ("w2", 1.0),
                          ("modes", -1.0)):  # fmt: skip
            diffs = []
            for seed in REPORT_SEEDS:
                a = by.get(("adaptive", target, steps, seed))
                f = by.get(("fixed-learnvar", target, steps, seed))
                va = _metric(a, key) if a else None
                vf = _metric(f, key) if f else None
                if va is not None and vf is not None:
                    diffs.append(sign * (vf - va))
            m, lo, hi = mean_ci(diffs)
            result = "not shown"
            if diffs and lo is not None and lo > 0:
                result = "pass"
            elif diffs and hi is not None and hi < 0:
                result = "fail"
            rows.append({"target": target, "steps": steps, "metric": key, "n": len(diffs),
                         "mean": m, "ci_low": lo, "ci_high": hi, "result": result})  # fmt: skip
    return rows


def render(log, winners, rows, note, wall) -> str:
    md = [f"# Adaptive-destruction study — {note}", "",
          f"Wall time {wall / 60:.1f} min. Selection on seeds {list(SELECT_SEEDS)}, verdict on "
          f"seeds {list(REPORT_SEEDS)}.", ""]  # fmt: skip
    md += ["## Chosen settings", ""]
    md.append(md_table(["family", "overrides on the preset", "iterations"],
                       [[f, str(w["overrides"] or "preset as is"), str(w["iterations"])]
                        for f, w in winners.items()]))  # fmt: skip
    md += ["", "## Verdict: fixed-learnvar − adaptive on the report seeds (positive = adaptive "
           "better)", ""]  # fmt: skip
    md.append(md_table(["target", "T", "metric", "seeds", "mean", "95 % CI", "result"],
                       [[r["target"], str(r["steps"]), r["metric"], str(r["n"]), fmt(r["mean"]),
                         "—" if not r["n"] else f"[{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]",
                         r["result"]] for r in rows]))  # fmt: skip
    md += ["", "## Screening rungs", ""]
    for entry in log:
        md += [f"### {entry['family']}, rung {entry['rung']} ({entry['iterations']} iterations, "
               f"seeds {entry['seeds']})", ""]  # fmt: skip
        md.append(md_table(["rank", "score (mean rank)", "failed runs", "overrides"],
                           [[str(i + 1), f"{c['score']:.2f}", str(c["failed"]),
                             str(c["overrides"] or "preset")]
                            for i, c in enumerate(entry["candidates"])]))  # fmt: skip
        md.append("")
    return "\n".join(md)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sweep_arguments(p)
    p.add_argument("--candidates", type=int, help="random candidates per family (budget default)")
    p.add_argument("--keep", type=int, default=2, help="minimum survivors per rung")
    p.add_argument("--seed", type=int, default=0, help="seed of the candidate draw")
    args = p.parse_args(argv)
    if args.seeds:
        p.error("--seeds is fixed by the study: selection on 0-4, report on 5-9")
    budget = BUDGETS[args.budget]
    start = time.perf_counter()
    log: list = []
    winners = {family: screen(family, budget, args, log) for family in SPACES}
    report = []
    for family, w in winners.items():
        report += _specs(family, [w["overrides"]], w["iterations"], REPORT_SEEDS, budget, "report")
    records = sweep(report, args)
    rows = verdict(records)
    wall = time.perf_counter() - start
    out = Path(args.out)
    note = f"{budget.name} budget (screening schedule {SCHEDULES[budget.name]})"
    atomic_write(out / "adaptive_study.md", render(log, winners, rows, note, wall))
    write_json(out / "adaptive_study.json", {"budget": budget.name, "wall_seconds": wall,
                                             "winners": winners, "rungs": log,
                                             "verdict": rows})  # fmt: skip
    print((out / "adaptive_study.md").read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
