"""End-to-end training speed: ms per iteration of a method with fused vs reference ops, in one run.

    python reproduce/train_speed.py [--method adaptive] [--target gmm25] [--steps 10 100]
                                    [--iterations 200] [--batch 300] [--out results]

For each T, trains the method three times from the same seed — ``train.impl=fused``,
``train.impl=reference`` and fused with ``train.compile`` (warmed up first, so compilation is not
timed) — in one process, and reports ``ms_per_iteration`` (training only: rollout, loss, backward,
optimiser step; evaluation excluded) and the speed-ups over the reference. Writes
``OUT/train_speed.json`` (atomically) with the resolved configs and environment.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

from ads_bench.methods import make_config
from ads_bench.ops import build_info
from ads_bench.store import atomic_write_json
from ads_bench.training import train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="adaptive")
    parser.add_argument("--target", default="gmm25")
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--batch", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results")
    args = parser.parse_args(argv)

    rows = []
    for steps in args.steps:
        row = {"steps": steps}
        for impl in ("fused", "reference", "compiled"):
            over = {
                "sampler.steps": steps, "train.iterations": args.iterations,
                "train.batch_size": args.batch, "train.impl": "auto" if impl == "compiled" else impl,
                "train.compile": impl == "compiled",
                "eval.every": 0, "eval.n": 16, "eval.sample_metrics": False,
            }  # fmt: skip
            if impl == "compiled":  # compile outside the timed iterations: warm up first
                train(make_config(args.method, args.target, seed=args.seed,
                                  overrides={**over, "train.iterations": 3}), progress=False)  # fmt: skip
            cfg = make_config(args.method, args.target, seed=args.seed, overrides=over)
            result = train(cfg, progress=False)
            row[f"{impl}_ms_per_iteration"] = result.timing["ms_per_iteration"]
            row[f"{impl}_ran_fused"] = result.env["fused_kernels"]
            print(
                f"T={steps} {impl}: {result.timing['ms_per_iteration']:.2f} ms/it", file=sys.stderr
            )
        row["speedup"] = row["reference_ms_per_iteration"] / row["fused_ms_per_iteration"]
        row["compiled_speedup"] = (
            row["reference_ms_per_iteration"] / row["compiled_ms_per_iteration"]
        )
        rows.append(row)

    print(f"\n{args.method} on {args.target}, batch {args.batch}, {args.iterations} iterations, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")  # fmt: skip
    print(
        "| T | reference ms/it | fused ms/it | speed-up | fused + torch.compile ms/it | speed-up |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['steps']} | {r['reference_ms_per_iteration']:.2f} | "
              f"{r['fused_ms_per_iteration']:.2f} | {r['speedup']:.2f}× | "
              f"{r['compiled_ms_per_iteration']:.2f} | {r['compiled_speedup']:.2f}× |")  # fmt: skip
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "train_speed.json")
    payload = {
        "args": vars(args),
        "rows": rows,
        "torch": torch.__version__,
        "build_info": build_info(),
    }
    atomic_write_json(path, payload)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
