"""Command line of the training loop: ``python -m ads_bench``.

    python -m ads_bench --target gmm25 --method adaptive --steps 10 --iterations 2000 \\
        --seed 0 --out runs/adaptive [--set train.lr_dest=1e-4 --set sampler.r_a=2] [--dry-run]

``--target`` is a registered name or a ``module:attr`` import path of a user target; ``--method`` a
preset of :mod:`ads_bench.methods` (or an entry point of ``ads_bench.methods``, e.g. a baseline).
``--set section.field=value`` overrides any config field after the preset; the result is checked
whole (:meth:`ads_bench.config.Config.validate`) before anything runs. ``--eval-steps K`` also
evaluates the trained networks on a K-step grid (the step-reduction control). ``--dry-run`` prints the
resolved configuration and exits. Writes ``OUT/result.json``, ``OUT/history.csv``, ``OUT/config.json``
and a checkpoint; re-running with the same configuration and ``--out`` resumes an unfinished run.

Every user error — a bad config value, target or ``--out``, a target whose ``log_prob`` fails its
probe, a run stopped by a non-finite loss — ends as one line ``error: ...`` on stderr and exit code 2;
only bugs print a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ads_bench.config_overrides import parse_override
from ads_bench.methods import make_config, method_names
from ads_bench.targets import TARGETS, get_target


class _Parser(argparse.ArgumentParser):
    """An argument error is one line too (argparse would print the usage text before it)."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m ads_bench", description=__doc__.splitlines()[0])
    p.add_argument("--target", default="gmm25", help=f"one of {sorted(TARGETS)} or module:attr")
    p.add_argument("--method", default="adaptive", help=f"one of {method_names()} or module:attr")
    p.add_argument("--steps", type=int, help="number of steps T (sampler.steps)")
    p.add_argument("--iterations", type=int, help="training iterations (train.iterations)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--seeds", metavar="LIST",
        help="train these seeds as one batched ensemble (e.g. 0-4, 0,2,7), into OUT/seed-<s>/",
    )  # fmt: skip
    p.add_argument(
        "--eval-steps", type=int, metavar="K",
        help="also evaluate the trained networks with K steps (eval.steps; step-reduction control)",
    )  # fmt: skip
    p.add_argument("--out", help="output folder (result.json, history.csv, checkpoint)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", dest="overrides")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    return p


#: Errors of what the user gave (a config value, a target, a method): one line, exit code 2.
_INPUT_ERRORS = (ValueError, TypeError, KeyError, ImportError, AttributeError)


def _error(exc: BaseException | str) -> int:
    """Print ``error: <message>`` as one line on stderr; the exit code of a user error."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    print(f"error: {text}", file=sys.stderr)
    return 2


def _resolve(args: argparse.Namespace):
    """The validated config of the command line (user errors raise, see :data:`_INPUT_ERRORS`)."""
    overrides = dict(parse_override(o) for o in args.overrides)
    if args.steps is not None:
        overrides["sampler.steps"] = args.steps
    if args.iterations is not None:
        overrides["train.iterations"] = args.iterations
    if args.eval_steps is not None:
        overrides["eval.steps"] = args.eval_steps
    cfg = make_config(args.method, args.target, seed=args.seed, overrides=overrides).validate()
    get_target(args.target)  # an unknown name or a bad import path fails here, clearly
    return cfg


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code: 0, or 2 with one ``error:`` line on stderr for every
    user error (a bad config value, target, ``--out``, or a run that became non-finite). Anything
    else is a bug and keeps its traceback."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or an argument error, already printed (2)
        return exc.code if isinstance(exc.code, int) else 2
    from ads_bench.store import RunDir, StoreError
    from ads_bench.targets import TargetError
    from ads_bench.training import NonFiniteError, train

    try:
        cfg = _resolve(args)
        seeds = None
        if args.seeds is not None:
            from ads_bench.ensemble.loop import check_ensemble_config, parse_seeds

            seeds = parse_seeds(args.seeds)
            check_ensemble_config(cfg)
    except (TargetError, *_INPUT_ERRORS) as exc:
        return _error(exc)
    if args.out is not None and Path(args.out).exists() and not Path(args.out).is_dir():
        return _error(f"--out {args.out} exists and is not a folder")
    if args.dry_run:
        print(json.dumps(cfg.as_dict(), indent=2))
        return 0
    try:
        if args.out is not None:
            try:
                RunDir(args.out).create()
            except StoreError as exc:
                return _error(f"--out {args.out}: {exc}")
        if seeds is not None:
            return _report_ensemble(
                train(cfg, out_dir=args.out, progress=not args.quiet, seeds=seeds), seeds, args.out
            )
        result = train(cfg, out_dir=args.out, progress=not args.quiet)
    except (TargetError, StoreError, NonFiniteError) as exc:
        return _error(exc)
    if result.cached:
        print(
            f"already finished: {Path(args.out) / 'result.json'} (nothing retrained or rewritten; "
            "use another --out, or delete the folder, to train again)",
            file=sys.stderr,
        )
    print(json.dumps(_report(result), indent=2))
    return 0


def _report(result) -> dict:
    report = {"metrics": {k: v for k, v in result.metrics.items() if v is not None},
              "timing": result.timing}  # fmt: skip
    if result.metrics_eval_steps is not None:
        report["metrics_eval_steps"] = {
            k: v for k, v in result.metrics_eval_steps.items() if v is not None
        }
    return report


def _report_ensemble(results, seeds: list[int], out: str | None) -> int:
    """Print every seed's report as one JSON object; each diverged seed is one ``error:`` line
    (exit code 2 if any)."""
    report, failed = {}, 0
    for seed, result in zip(seeds, results, strict=True):
        if result.error is not None:
            failed += 1
            print(f"error: seed {seed}: {result.error}", file=sys.stderr)
            report[str(seed)] = {"error": result.error}
        else:
            if result.cached:
                where = f" ({result.out_dir})" if out is not None else ""
                print(f"already finished: seed {seed}{where}", file=sys.stderr)
            report[str(seed)] = _report(result)
    print(json.dumps({"seeds": report}, indent=2))
    return 2 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
