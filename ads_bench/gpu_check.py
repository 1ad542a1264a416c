"""One command for GPU users: check the CUDA kernels and measure them.

    python -m ads_bench.gpu_check [--out results/gpu_check.json] [--quick] [--skip-checks]

On a machine with an NVIDIA GPU and ads_bench built with CUDA kernels, in one process, with library
code only (an installed package, no source checkout or test suite needed):

1. checks the fused CUDA kernels against the library's pure-PyTorch reference on the device
   (:func:`ads_bench.ops.selfcheck.check_ops`: values and gradients, float32 and float64, the edge
   shapes, non-contiguous inputs, masked steps, ``torch.library.opcheck`` of every op);
2. times forward + backward of every benchmark case of the kernels (op x B x T x D, the one
   definition :mod:`ads_bench.ops.benchmark_cases` that ``tests/benchmarks`` also times): fused,
   reference and ``torch.compile``d reference, synchronising the device inside every timed call, as
   the benchmarks do, and reports each as a ratio to the reference;
3. measures device-to-device copy bandwidth and each fused kernel's achieved share of it, from the
   bytes it must move (:func:`~ads_bench.ops.benchmark_cases.fused_bytes`), beside the time those
   bytes take at H100 SXM bandwidth;
4. times the end-to-end training step (adaptive on gmm25, batch 300) at T = 10 and T = 100, with
   fused and with reference ops and with ``train.compile`` (``torch.compile`` of rollout + objective).
   CUDA graphs do not apply: every training step reads its loss on the host (the non-finite check),
   which also makes each step's wall time its device time;
5. writes one JSON record: device, driver, torch and CUDA versions, build_info, the command and all
   of the above.

Without a CUDA device it prints one line saying so to stderr and exits 2 (3 when the device exists but
ads_bench was built without CUDA kernels); exit 1 when a check fails. ``--quick`` cuts repetitions,
iterations and the checks' shapes for a first look. :func:`run` takes any device (the test suite runs
it on the CPU to keep the code paths working; the numbers need a GPU).
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from ads_bench.atomic_files import atomic_write_json
from ads_bench.ops import build_info
from ads_bench.ops._extension import registered_kernels
from ads_bench.ops.benchmark_cases import (
    H100_SXM_BYTES_PER_S,
    IMPLS,
    OPS,
    SHAPES,
    fused_bytes,
    fwd_bwd_call,
    roofline_seconds,
)
from ads_bench.ops.selfcheck import check_ops

__all__ = ["main", "run"]

TRAIN_STEPS = (10, 100)
TRAIN_VARIANTS = ("fused", "reference", "fused+compile")


def no_cuda_reason() -> tuple[int, str] | None:
    """(exit code, one-line message) when this machine cannot run the check, else None."""
    with warnings.catch_warnings():  # e.g. "CUDA initialization: Found no NVIDIA driver": one line
        warnings.simplefilter("ignore")
        available = torch.cuda.is_available()
    if not available:
        why = "torch.cuda.is_available() is False"
        if torch.version.cuda is None:
            why += f"; torch {torch.__version__} is a CPU-only build"
        return 2, (
            f"gpu_check: no CUDA device visible ({why}); "
            "run this on a machine with an NVIDIA GPU and a CUDA build of torch"
        )
    if not build_info()["cuda"]:
        return 3, (
            "gpu_check: ads_bench._C was built without CUDA kernels (build_info()['cuda'] is False); "
            "rebuild it with `ADS_BENCH_CUDA=1 pip install --no-build-isolation -e .`"
        )
    return None


# ------------------------------------------------------------------------------------------ timing


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(
    fn: Callable[[], object], device: torch.device, reps: int, budget_s: float = 1.0
) -> float:
    """Median wall time of ``fn()`` with the device synchronised before and inside each timed call:
    at least ``reps`` calls, more (up to 10 x reps) while the total stays under ``budget_s``."""
    times: list[float] = []
    spent = 0.0
    while len(times) < reps or (spent < budget_s and len(times) < 10 * reps):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
        spent += times[-1]
    return statistics.median(times)


def time_kernels(
    device: torch.device,
    shapes: Sequence[Sequence[int]] = SHAPES,
    impls: Sequence[str] = IMPLS,
    reps: int = 20,
    copy_bytes_per_s: float | None = None,
) -> list[dict]:
    """One row per (op, shape): median ms per impl, speed-ups over the reference, the fused op's
    bytes, achieved bandwidth, share of the copy bandwidth and H100 roofline time."""
    rows = []
    for op in OPS:
        for shape in shapes:
            row: dict = {"op": op, "shape": "x".join(map(str, shape))}
            for impl in impls:
                call = fwd_bwd_call(op, impl, shape, device)
                call()  # warm-up (and compilation)
                row[f"{impl}_ms"] = 1e3 * median_seconds(call, device, reps)
            for impl in impls:
                if impl != "reference" and "reference_ms" in row:
                    row[f"{impl}_speedup"] = row["reference_ms"] / row[f"{impl}_ms"]
            nbytes = fused_bytes(op, shape)
            row["fused_bytes"] = nbytes
            row["h100_roofline_us"] = 1e6 * roofline_seconds(nbytes)
            if "fused_ms" in row:
                achieved = nbytes / (row["fused_ms"] / 1e3)
                row["fused_GBps"] = achieved / 1e9
                if copy_bytes_per_s:
                    row["fused_share_of_copy"] = achieved / copy_bytes_per_s
            rows.append(row)
            print(
                f"gpu_check: {op} {row['shape']}: "
                + ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k.endswith("_ms")),
                file=sys.stderr,
            )
    return rows


def copy_bandwidth(device: torch.device, nbytes: int = 1 << 28, reps: int = 20) -> dict:
    """Device-to-device copy bandwidth: ``dst.copy_(src)`` of ``nbytes``, counted as read + write."""
    src = torch.empty(nbytes // 4, dtype=torch.float32, device=device).fill_(1.0)
    dst = torch.empty_like(src)
    dst.copy_(src)  # warm-up
    seconds = median_seconds(lambda: dst.copy_(src), device, reps)
    return {
        "bytes": 4 * src.numel(),
        "median_ms": 1e3 * seconds,
        "bytes_per_s": 2 * 4 * src.numel() / seconds,
    }


def time_training(
    device: torch.device,
    steps: Sequence[int] = TRAIN_STEPS,
    variants: Sequence[str] = TRAIN_VARIANTS,
    iterations: int = 200,
    batch: int = 300,
    method: str = "adaptive",
    target: str = "gmm25",
) -> list[dict]:
    """ms per training iteration (rollout, loss, backward, optimiser step; the reproduce/
    train_speed.py protocol) per T and variant; compiled variants are warmed up untimed first."""
    from ads_bench.methods import make_config
    from ads_bench.training import train

    rows = []
    for t in steps:
        row: dict = {
            "steps": t,
            "method": method,
            "target": target,
            "batch": batch,
            "iterations": iterations,
        }
        for variant in variants:
            compiled = variant.endswith("+compile")
            over = {
                "sampler.steps": t,
                "train.iterations": iterations,
                "train.batch_size": batch,
                "train.impl": variant.split("+")[0],
                "train.compile": compiled,
                "train.device": device.type,
                "eval.every": 0,
                "eval.n": 16,
                "eval.sample_metrics": False,
            }
            if compiled:
                warm = {**over, "train.iterations": 3}
                train(make_config(method, target, overrides=warm), progress=False)
            _sync(device)
            result = train(make_config(method, target, overrides=over), progress=False)
            _sync(device)
            row[f"{variant}_ms_per_iteration"] = result.timing["ms_per_iteration"]
            row[f"{variant}_ran_fused"] = result.env["fused_kernels"]
            print(
                f"gpu_check: training T={t} {variant}: "
                f"{result.timing['ms_per_iteration']:.3f} ms/it",
                file=sys.stderr,
            )
        ref = row.get("reference_ms_per_iteration")
        for variant in variants:
            if ref and variant != "reference":
                row[f"{variant}_speedup"] = ref / row[f"{variant}_ms_per_iteration"]
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------- the record


def _driver_versions() -> dict:
    out: dict = {"driver": None, "driver_cuda_api": None}
    try:
        smi = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        out["driver"] = smi.stdout.strip().splitlines()[0] if smi.returncode == 0 else None
    except (OSError, IndexError, subprocess.TimeoutExpired):
        pass
    try:
        version = ctypes.c_int()
        if ctypes.CDLL("libcuda.so.1").cuDriverGetVersion(ctypes.byref(version)) == 0:
            out["driver_cuda_api"] = f"{version.value // 1000}.{(version.value % 1000) // 10}"
    except OSError:
        pass
    return out


def environment(device: torch.device) -> dict:
    """Versions (Python, torch, CUDA, driver), the build and the device the record was made with."""
    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "build_info": build_info(),
        "kernels": registered_kernels(),
        "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env["device"] = {
            "name": props.name,
            "capability": f"{props.major}.{props.minor}",
            "memory_GB": round(props.total_memory / 1e9, 1),
            "multiprocessors": props.multi_processor_count,
        }
        env.update(_driver_versions())
    else:
        env["device"] = {"name": platform.processor() or platform.machine(), "type": device.type}
    return env


def run(
    device: torch.device,
    *,
    quick: bool = False,
    run_checks: bool = True,
    shapes: Sequence[Sequence[int]] = SHAPES,
    impls: Sequence[str] = IMPLS,
    train_steps: Sequence[int] = TRAIN_STEPS,
    train_variants: Sequence[str] = TRAIN_VARIANTS,
    train_batch: int = 300,
    copy_bytes: int | None = None,
) -> dict:
    """Every measurement of the check on ``device``; the JSON record without the command."""
    record: dict = {"quick": quick, **environment(device)}
    record["checks"] = _checks(device, quick) if run_checks else {"ran": False, "reason": "skipped"}
    copy = copy_bandwidth(
        device, copy_bytes or (1 << 26 if quick else 1 << 28), reps=5 if quick else 20
    )
    record["copy_bandwidth"] = copy
    print(f"gpu_check: device-to-device copy {copy['bytes_per_s'] / 1e9:.1f} GB/s", file=sys.stderr)
    record["roofline"] = {
        "bytes_per_s": H100_SXM_BYTES_PER_S,
        "device": "H100 SXM (HBM3, data sheet)",
        "formula": (
            "ads_bench.ops.benchmark_cases.fused_bytes: each input read once, each output written once"
        ),
    }
    record["kernels_fwd_bwd"] = time_kernels(
        device, shapes, impls, reps=5 if quick else 20, copy_bytes_per_s=copy["bytes_per_s"]
    )
    record["training"] = time_training(
        device, train_steps, train_variants, iterations=20 if quick else 200, batch=train_batch
    )
    return record


def _checks(device: torch.device, quick: bool) -> dict:
    checks = check_ops(device, quick=quick)
    print(
        f"gpu_check: fused vs reference on {device}: {checks['checks']} checks, "
        f"{len(checks['failures'])} failed",
        file=sys.stderr,
    )
    for name, why in checks["failures"].items():
        print(f"gpu_check: FAILED {name}: {why}", file=sys.stderr)
    return checks


def _finite(obj):
    """JSON has no NaN/inf: write them as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def write_record(record: dict, path: str | os.PathLike) -> None:
    """``record`` as JSON at ``path`` (NaN/inf as null), written atomically by the run store."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, _finite(record))


def main(argv: list[str] | None = None) -> int:
    """The command line: check and measure on the current CUDA device, write the record, exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m ads_bench.gpu_check", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", default="results/gpu_check.json", help="the JSON record")
    parser.add_argument(
        "--quick", action="store_true", help="fewer repetitions, iterations and checks"
    )
    parser.add_argument(
        "--skip-checks",
        action="store_true",
        help="do not check the fused kernels against the reference first",
    )
    args = parser.parse_args(argv)
    reason = no_cuda_reason()
    if reason is not None:
        code, message = reason
        print(message, file=sys.stderr)
        return code
    device = torch.device("cuda", torch.cuda.current_device())
    args_given = sys.argv[1:] if argv is None else argv
    command = " ".join([sys.executable, "-m", "ads_bench.gpu_check", *args_given])
    measured = run(device, quick=args.quick, run_checks=not args.skip_checks)
    record = {"command": command, **measured}
    write_record(record, args.out)
    print(f"gpu_check: wrote {args.out}", file=sys.stderr)
    checks = record["checks"]
    return 1 if checks.get("ran") and not checks.get("passed") else 0


if __name__ == "__main__":
    raise SystemExit(main())
