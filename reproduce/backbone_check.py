"""Does the backbone choice remove the divergence of ``adaptive`` at the paper's 25 000 iterations?

    python reproduce/backbone_check.py [--backbones separate shared-detached shared]
        [--cells gmm25:5 manywell:5] [--seeds 5 7] [--iterations 25000] [--out results/backbone_check]

Issue 18's check of its diagnosis, before any re-selection: the ``adaptive`` preset (the settings
issue 11's study chose) with ``sampler.backbone`` set to each choice (``ads_bench.sampler.BACKBONES``),
at batch 300 and N = 2000, evaluated every 1 000 iterations, on the cells and seeds where the preset
(``shared``: one trunk trained by both processes at the generation learning rate) diverged in the
issue-11 full-budget confirmation (gmm25 T = 5 seeds 5, 7, 9; manywell T = 5 seeds 5, 7). Runs go
through the resumable sweep runner (``OUT/runs/``) with the divergence guard on
(:mod:`ads_bench.guard`), so a diverged run stops early and is recorded as such. Writes
``OUT/backbone_check.{md,json}``: per run the final ELBO gap, IS gap, EUBO gap, W2 and modes, or the
iteration and reason it diverged; per (backbone, cell) the divergence count.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from _common import write_json

from ads_bench.analysis.tables import fmt, md_table
from ads_bench.atomic_files import atomic_write_text
from ads_bench.sampler import BACKBONES
from ads_bench.sweep.records import load_records
from ads_bench.sweep.runner import run_sweep
from ads_bench.sweep.specs import RunSpec

COLUMNS = (("delta_logz_elbo", "ELBO gap"), ("delta_logz_is", "IS gap"), ("eubo_gap", "EUBO gap"),
           ("w2", "W2"), ("modes", "modes"))  # fmt: skip


def _cells(items: list[str]) -> list[tuple[str, int]]:
    out = []
    for item in items:
        target, _, steps = item.partition(":")
        if not steps.isdigit():
            raise SystemExit(f"error: --cells expects target:T (e.g. gmm25:5), got {item!r}")
        out.append((target, int(steps)))
    return out


def build_specs(backbones, cells, seeds, iterations: int, every: int, batch: int, eval_n: int):
    over = {"train.iterations": iterations, "train.batch_size": batch, "eval.n": eval_n,
            "eval.every": every, "train.checkpoint_every": every}  # fmt: skip
    return [
        RunSpec(target, "adaptive", steps, seed, {**over, "sampler.backbone": b}, tag=b)
        for b in backbones for target, steps in cells for seed in seeds
    ]  # fmt: skip


def render(records, args) -> tuple[str, dict]:
    rows, counts = [], {}
    for r in records:
        cell = (r.spec.tag, r.spec.target, r.spec.steps)
        counts.setdefault(cell, [0, 0])
        counts[cell][1] += 1
        row = {"backbone": r.spec.tag, "target": r.spec.target, "steps": r.spec.steps,
               "seed": r.spec.seed, "status": r.status, "error": r.error}  # fmt: skip
        if r.status == "diverged":
            counts[cell][0] += 1
        for key, _ in COLUMNS:
            v = (r.metrics or {}).get(key)
            row[key] = v if v is None or math.isfinite(v) else None
        rows.append(row)
    table = []
    for row in rows:
        if row["status"] == "diverged":
            why = (row["error"] or "").split(": ", 1)[-1].split("; last good")[0]
            vals = [f"**{why}**"] + [""] * 4
        elif row["status"] in ("done", "cached"):
            vals = [fmt(row[k]) for k, _ in COLUMNS]
        else:
            vals = [f"{row['status']} (not finished)"] + [""] * 4
        table.append([row["backbone"], row["target"], str(row["steps"]), str(row["seed"]), *vals])
    summary = [[b, t, str(s), f"{d}/{n}"] for (b, t, s), (d, n) in counts.items()]
    md = [
        "# Backbone check: `adaptive` at the paper's scale, by backbone choice",
        "",
        f"`python reproduce/backbone_check.py --backbones {' '.join(args.backbones)} --cells "
        f"{' '.join(args.cells)} --seeds {' '.join(map(str, args.seeds))} --iterations "
        f"{args.iterations}`: batch {args.batch}, N = {args.eval_n}, evaluated and checkpointed "
        f"every {args.every}; the divergence guard (ELBO gap > 1e4 nats or log-weight std > 1e3 "
        "nats) stops a run as diverged.",
        "",
        md_table(["backbone", "target", "T", "diverged"], summary),
        "",
        md_table(["backbone", "target", "T", "seed", *[title for _, title in COLUMNS]], table),
        "",
    ]
    data = {"args": vars(args), "rows": rows,
            "diverged": [{"backbone": b, "target": t, "steps": s, "diverged": d, "runs": n}
                         for (b, t, s), (d, n) in counts.items()]}  # fmt: skip
    return "\n".join(md), data


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbones", nargs="+", default=["separate", "shared-detached"],
                   choices=BACKBONES)  # fmt: skip
    p.add_argument("--cells", nargs="+", default=["gmm25:5", "manywell:5"])
    p.add_argument("--seeds", type=int, nargs="+", default=[5, 7])
    p.add_argument("--iterations", type=int, default=25_000)
    p.add_argument("--every", type=int, default=1000)
    p.add_argument("--batch", type=int, default=300)
    p.add_argument("--eval-n", type=int, default=2000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default="results/backbone_check")
    p.add_argument("--render-only", action="store_true",
                   help="train nothing: tabulate what OUT/runs holds (unfinished runs say so)")  # fmt: skip
    args = p.parse_args(argv)
    specs = build_specs(args.backbones, _cells(args.cells), args.seeds, args.iterations,
                        args.every, args.batch, args.eval_n)  # fmt: skip
    if args.render_only:
        records = load_records(args.out, specs)
    else:
        result = run_sweep(specs, args.out, workers=args.workers)
        print(result.summary(), file=sys.stderr)
        records = result.records
    md, data = render(records, args)
    out = Path(args.out)
    atomic_write_text(out / "backbone_check.md", md)
    write_json(out / "backbone_check.json", data)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
