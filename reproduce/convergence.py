"""How far from converged is a budget? ELBO gap along 25 000 iterations at batch 300.

    python reproduce/convergence.py [--methods fixed-learnvar adaptive] [--targets gmm25 manywell]
                                    [--steps 10] [--iterations 25000] [--every 1000] [--seeds 0]
                                    [--budgets 600 1000 2000 5000 10000] [--out results/convergence]

Trains each (method, target) at the paper's batch size (300) for ``--iterations`` through the
resumable sweep runner (``OUT/runs/``; a killed study resumes from its checkpoints), evaluating every
``--every`` iterations (N = 2000 samples, the periodic evaluation of ``history.csv``). For each
budget ``b`` it reports the ELBO gap Δlog Z (ELBO) at ``b`` (the evaluation at the largest evaluated
iteration ≤ b), at the end, and their difference — the distance from convergence that a run stopped
at ``b`` carries — and the same for the EUBO gap. Writes ``OUT/convergence.{json,md}`` atomically.

One seed by default (the budgets' question is about training length, not seed spread); the run's
history is the evidence, and it is kept in ``OUT/runs/<key>/history.csv``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from _common import write_json

from ads_bench.analysis.tables import md_table
from ads_bench.atomic_files import atomic_write_text
from ads_bench.store import RunDir
from ads_bench.sweep.runner import run_sweep
from ads_bench.sweep.specs import RunSpec

METRICS = (("delta_logz_elbo", "ELBO gap"), ("eubo_gap", "EUBO gap"))


def _at(history: list[dict], key: str, budget: int) -> tuple[int, float] | None:
    """The last evaluation at an iteration <= ``budget`` with a finite ``key``."""
    rows = [r for r in history if r.get("iteration") is not None and r["iteration"] <= budget
            and r.get(key) is not None and math.isfinite(r[key])]  # fmt: skip
    if not rows:
        return None
    last = max(rows, key=lambda r: r["iteration"])
    return int(last["iteration"]), float(last[key])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", default=["fixed-learnvar", "adaptive"])
    p.add_argument("--targets", nargs="+", default=["gmm25", "manywell"])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--iterations", type=int, default=25_000)
    p.add_argument("--every", type=int, default=1000)
    p.add_argument("--batch", type=int, default=300)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--budgets", type=int, nargs="+", default=[600, 1000, 2000, 5000, 10_000])
    p.add_argument("--eval-n", type=int, default=2000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default="results/convergence")
    args = p.parse_args(argv)

    over = {"train.iterations": args.iterations, "train.batch_size": args.batch,
            "eval.every": args.every, "eval.n": args.eval_n,
            "train.checkpoint_every": args.every}  # fmt: skip
    specs = [RunSpec(t, m, args.steps, s, over, tag="convergence")
             for m in args.methods for t in args.targets for s in args.seeds]  # fmt: skip
    result = run_sweep(specs, args.out, workers=args.workers)
    print(result.summary(), file=sys.stderr)
    rows = []
    for rec in result.records:
        history = RunDir(rec.path).read_history() if rec.path else []
        end = args.iterations
        for key, label in METRICS:
            final = _at(history, key, end)
            for b in args.budgets:
                at = _at(history, key, b)
                rows.append({
                    "method": rec.spec.method, "target": rec.spec.target, "steps": rec.spec.steps,
                    "seed": rec.spec.seed, "metric": label, "budget": b,
                    "iteration": at[0] if at else None, "value": at[1] if at else None,
                    "final_iteration": final[0] if final else None,
                    "final": final[1] if final else None,
                    "excess": (at[1] - final[1]) if at and final else None,
                    "status": rec.status, "seconds": (rec.timing or {}).get("train_seconds"),
                })  # fmt: skip
    out = Path(args.out)
    write_json(out / "convergence.json", {"args": vars(args), "rows": rows})
    body = [[r["method"], r["target"], str(r["seed"]), r["metric"], str(r["budget"]),
             f"{r['value']:.3f}" if r["value"] is not None else "—",
             f"{r['final']:.3f} (it {r['final_iteration']})" if r["final"] is not None else "—",
             f"{r['excess']:+.3f}" if r["excess"] is not None else "—"] for r in rows]  # fmt: skip
    md = (f"# Distance from convergence (T = {args.steps}, batch {args.batch}, "
          f"{args.iterations} iterations, N = {args.eval_n})\n\n"
          + md_table(["method", "target", "seed", "metric", "budget", "at budget", "at the end",
                      "excess"], body) + "\n")  # fmt: skip
    atomic_write_text(out / "convergence.md", md)
    print(md)
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
