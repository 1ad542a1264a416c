"""End-to-end training speed, in one run: ms per seed-iteration of one method, eager and compiled,
one seed and a seed ensemble, at each T.

    python reproduce/train_speed.py [--method fixed-learnvar] [--target gmm25] [--steps 10 100]
                                    [--iterations 60] [--batch 300] [--seeds 5] [--threads 2]
                                    [--out results] [--backend inductor]

Rows, each trained from seed 0 in this process (evaluation off; the timing is the training loop
only: rollout, objective, backward, clipping, optimiser step):

- ``single eager``: ``train(config)``, one seed, the fused C++ ops (``train.impl=auto``);
- ``single compiled``: the same with ``train.compile=true`` (one seed through the compiled update of
  :mod:`ads_bench.update`);
- ``ensemble eager`` / ``ensemble compiled``: ``train(config, seeds=range(--seeds))``, the seeds as
  one batched model (:mod:`ads_bench.ensemble`), eager or compiled.

A compiled row is warmed up first (a 2-iteration run of the same configuration compiles every
graph), and the warm-up's wall time is reported as ``compile_s``, so both the steady-state speed and
the cost of compiling are on record; ``compile_s`` is a first compilation only if the inductor cache
(``TORCHINDUCTOR_CACHE_DIR``) holds nothing for the configuration. ``ms_per_seed_iteration`` =
``ms_per_iteration / seeds``. Writes ``OUT/train_speed.json`` (atomically) with the configs and the
environment.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

from ads_bench import update
from ads_bench.atomic_files import atomic_write_json
from ads_bench.methods import make_config
from ads_bench.ops import build_info
from ads_bench.training import train

ROWS = (("single", False), ("single", True), ("ensemble", False), ("ensemble", True))


def _time_row(args, steps: int, kind: str, compiled: bool) -> dict:
    seeds = list(range(args.seeds)) if kind == "ensemble" else None
    over = {
        "sampler.steps": steps, "train.iterations": args.iterations,
        "train.batch_size": args.batch, "train.compile": compiled, "train.threads": args.threads,
        "train.checkpoint_every": 0, "eval.every": 0, "eval.n": 16, "eval.sample_metrics": False,
    }  # fmt: skip
    compile_s = None
    if compiled:  # compile outside the timed iterations
        warm = make_config(args.method, args.target, seed=0,
                           overrides={**over, "train.iterations": 2})  # fmt: skip
        start = time.perf_counter()
        train(warm, seeds=seeds, progress=False)
        compile_s = time.perf_counter() - start
    cfg = make_config(args.method, args.target, seed=0, overrides=over)
    result = train(cfg, seeds=seeds, progress=False)
    first = result[0] if isinstance(result, list) else result
    n = len(seeds) if seeds else 1
    ms = first.timing["ms_per_iteration"]
    return {
        "steps": steps, "kind": kind, "compiled": compiled, "seeds": n,
        "ms_per_iteration": ms, "ms_per_seed_iteration": ms / n, "compile_s": compile_s,
        "fused_kernels": first.env["fused_kernels"], "config": cfg.as_dict(),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="fixed-learnvar")
    parser.add_argument("--target", default="gmm25")
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--batch", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=5, help="ensemble size")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of every row")
    parser.add_argument("--out", default="results")
    parser.add_argument("--backend", default=update.BACKEND,
                        help="torch.compile backend of the compiled rows (tests: eager)")  # fmt: skip
    args = parser.parse_args(argv)
    update.BACKEND = args.backend
    if args.seeds < 1 or args.iterations < 1 or args.threads < 1:
        parser.error("--seeds, --iterations and --threads must be >= 1")

    rows = []
    for steps in args.steps:
        for kind, compiled in ROWS:
            row = _time_row(args, steps, kind, compiled)
            rows.append(row)
            extra = f" (warm-up/compile {row['compile_s']:.1f} s)" if compiled else ""
            print(f"T={steps} {kind} {'compiled' if compiled else 'eager'} x{row['seeds']}: "
                  f"{row['ms_per_seed_iteration']:.2f} ms per seed-iteration{extra}",
                  file=sys.stderr)  # fmt: skip
    print(f"\n{args.method} on {args.target}, batch {args.batch}, {args.iterations} iterations, "
          f"{args.threads} threads, torch {torch.__version__}, "
          f"{torch.backends.cpu.get_cpu_capability()}")  # fmt: skip
    print(
        "| T | run | seeds | ms / iteration | ms / seed-iteration | vs single eager | compile s |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        base = next(b for b in rows if b["steps"] == r["steps"] and b["kind"] == "single"
                    and not b["compiled"])  # fmt: skip
        speedup = base["ms_per_seed_iteration"] / r["ms_per_seed_iteration"]
        comp = f"{r['compile_s']:.0f}" if r["compile_s"] is not None else "—"
        print(f"| {r['steps']} | {r['kind']} {'compiled' if r['compiled'] else 'eager'} | "
              f"{r['seeds']} | {r['ms_per_iteration']:.1f} | {r['ms_per_seed_iteration']:.2f} | "
              f"{speedup:.2f}× | {comp} |")  # fmt: skip
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "train_speed.json")
    payload = {"args": vars(args), "rows": rows, "torch": torch.__version__,
               "cpu_capability": torch.backends.cpu.get_cpu_capability(),
               "build_info": build_info()}  # fmt: skip
    atomic_write_json(path, payload)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
