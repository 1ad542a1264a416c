"""One command for GPU users: check the CUDA kernels and measure them.

    python -m ads_bench.gpu_check [--out results/gpu_check.json] [--quick] [--skip-tests]

On a machine with an NVIDIA GPU and ads_bench built with CUDA kernels, in one process:

1. runs the CUDA cases of the test suite (``pytest tests -k cuda``, from a source checkout);
2. times forward + backward of every benchmark group of the kernels (op x B x T x D, the shapes of
   ``tests/benchmarks``): fused, reference and ``torch.compile``d reference, synchronising the device
   inside every timed call, as the benchmarks do;
3. measures device-to-device copy bandwidth and each fused kernel's achieved share of it, from the
   bytes it must move (:func:`fused_bytes`), beside the time those bytes take at H100 SXM bandwidth;
4. times the end-to-end training step (adaptive on gmm25, batch 300) at T = 10 and T = 100, with
   fused and with reference ops and with ``train.compile`` (``torch.compile`` of rollout + objective).
   CUDA graphs do not apply: every training step reads its loss on the host (the non-finite check),
   which also makes each step's wall time its device time;
5. writes one JSON record: device, driver, torch and CUDA versions, build_info, the command and all
   of the above.

Without a CUDA device it prints one line saying so to stderr and exits 2 (3 when the device exists but
ads_bench was built without CUDA kernels). ``--quick`` cuts repetitions and iterations for a first look.
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
from ads_bench.ops import build_info, gaussian_logprob, reference, trajectory_balance
from ads_bench.ops._extension import registered_kernels

__all__ = ["H100_SXM_BYTES_PER_S", "KERNEL_SHAPES", "fused_bytes", "main", "run"]

#: HBM3 bandwidth of an H100 SXM (NVIDIA's data sheet): the paper roofline's reference.
H100_SXM_BYTES_PER_S = 3.35e12
#: The benchmark groups' (B, T, D), as in tests/benchmarks (a test keeps the two equal).
KERNEL_SHAPES: tuple[tuple[int, int, int], ...] = (
    (300, 10, 2),
    (300, 100, 32),
    (4096, 100, 32),
    (65536, 20, 2),
)
KERNEL_OPS = ("gaussian_logprob", "trajectory_balance")
KERNEL_IMPLS = ("fused", "reference", "compiled-reference")
TRAIN_STEPS = (10, 100)
TRAIN_VARIANTS = ("fused", "reference", "fused+compile")


def fused_bytes(op: str, shape: Sequence[int], dtype_bytes: int = 4) -> int:
    """Bytes the fused op must move for one forward + backward call, as the benchmarks make it.

    Each input of the forward and of the backward op is read once and each output written once;
    intermediates that stay on chip cost nothing. Values are ``dtype_bytes`` wide (float32: 4, the
    benchmarks' dtype), the bool ``step_mask`` one byte. With ``N = B T D`` and ``R = B T``:

    - ``gaussian_logprob``: forward reads x, mean, log_var (3N) and writes [B, T] (R); backward reads
      the upstream gradient (R) and x, mean, log_var (3N) and writes three gradients (3N):
      ``(9 N + 2 R) * dtype_bytes``.
    - ``trajectory_balance`` with ``S = B (T+1) D`` states and ``P = N`` per parameter tensor: forward
      reads states, four parameter tensors, log_reward, log_z (S + 4P + B + 1) and writes loss and
      log_w (1 + B); backward reads grad_loss, grad_log_w, states, four parameters, log_w, log_z
      (S + 4P + 2B + 2) and writes the gradients of states, the parameters, log_reward, log_z
      (S + 4P + B + 1); each pass reads step_mask (T bytes):
      ``(3 S + 12 P + 5 B + 5) * dtype_bytes + 2 T``.
    """
    b, t, d = (int(v) for v in shape)
    n, rows = b * t * d, b * t
    if op == "gaussian_logprob":
        return (9 * n + 2 * rows) * dtype_bytes
    if op == "trajectory_balance":
        states = b * (t + 1) * d
        return (3 * states + 12 * n + 5 * b + 5) * dtype_bytes + 2 * t
    raise ValueError(f"fused_bytes: unknown op {op!r}; expected one of {KERNEL_OPS}")


def roofline_seconds(nbytes: float, bytes_per_s: float = H100_SXM_BYTES_PER_S) -> float:
    """The time ``nbytes`` take at ``bytes_per_s`` (a lower bound; launch latency comes on top)."""
    return nbytes / bytes_per_s


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


def _kernel_call(op: str, impl: str, shape: Sequence[int], device: torch.device):
    """A forward + backward call exactly as in tests/benchmarks (inputs, seed, masked step 0)."""
    b, t, d = shape
    gen = torch.Generator().manual_seed(0)
    if op == "gaussian_logprob":
        leaves = [torch.randn(b, t, d, generator=gen) for _ in range(3)]
        if impl == "compiled-reference":
            fn = torch.compile(reference.gaussian_logprob, dynamic=False)
        else:

            def fn(x, mean, log_var):
                return gaussian_logprob(x, mean, log_var, impl=impl)

        def forward(*ins):
            return fn(*ins).sum()

        extra: tuple = ()
    else:
        leaves = [
            torch.randn(b, t + 1, d, generator=gen),
            torch.randn(b, t, d, generator=gen),
            0.5 * torch.randn(b, t, d, generator=gen),
            torch.randn(b, t, d, generator=gen),
            0.5 * torch.randn(b, t, d, generator=gen),
            torch.randn(b, generator=gen),
            torch.zeros(()),
        ]
        extra = ((torch.arange(t) > 0).to(device),)
        if impl == "compiled-reference":
            fn = torch.compile(reference.trajectory_balance, dynamic=False)
        else:

            def fn(*args):
                *tensors, log_z, step_mask = args
                return trajectory_balance(*tensors, log_z, step_mask=step_mask, impl=impl)

        def forward(*ins):
            return fn(*ins)[0]

    leaves = [x.to(device).requires_grad_(True) for x in leaves]

    def call():
        for x in leaves:
            x.grad = None
        forward(*leaves, *extra).backward()

    return call


def time_kernels(
    device: torch.device,
    shapes: Sequence[Sequence[int]] = KERNEL_SHAPES,
    impls: Sequence[str] = KERNEL_IMPLS,
    reps: int = 20,
    copy_bytes_per_s: float | None = None,
) -> list[dict]:
    """One row per (op, shape): median ms per impl, speed-ups over the reference, the fused op's
    bytes, achieved bandwidth, share of the copy bandwidth and H100 roofline time."""
    rows = []
    for op in KERNEL_OPS:
        for shape in shapes:
            row: dict = {"op": op, "shape": "x".join(map(str, shape))}
            for impl in impls:
                call = _kernel_call(op, impl, shape, device)
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
            print(f"gpu_check: {op} {row['shape']}: " + ", ".join(
                f"{k} {v:.4g}" for k, v in row.items() if k.endswith("_ms")), file=sys.stderr)  # fmt: skip
    return rows


def copy_bandwidth(device: torch.device, nbytes: int = 1 << 28, reps: int = 20) -> dict:
    """Device-to-device copy bandwidth: ``dst.copy_(src)`` of ``nbytes``, counted as read + write."""
    src = torch.empty(nbytes // 4, dtype=torch.float32, device=device).fill_(1.0)
    dst = torch.empty_like(src)
    dst.copy_(src)  # warm-up
    seconds = median_seconds(lambda: dst.copy_(src), device, reps)
    return {"bytes": 4 * src.numel(), "median_ms": 1e3 * seconds,
            "bytes_per_s": 2 * 4 * src.numel() / seconds}  # fmt: skip


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
        row: dict = {"steps": t, "method": method, "target": target, "batch": batch,
                     "iterations": iterations}  # fmt: skip
        for variant in variants:
            compiled = variant.endswith("+compile")
            over = {
                "sampler.steps": t, "train.iterations": iterations, "train.batch_size": batch,
                "train.impl": variant.split("+")[0], "train.compile": compiled,
                "train.device": device.type, "eval.every": 0, "eval.n": 16,
                "eval.sample_metrics": False,
            }  # fmt: skip
            if compiled:
                warm = {**over, "train.iterations": 3}
                train(make_config(method, target, overrides=warm), progress=False)
            _sync(device)
            result = train(make_config(method, target, overrides=over), progress=False)
            _sync(device)
            row[f"{variant}_ms_per_iteration"] = result.timing["ms_per_iteration"]
            row[f"{variant}_ran_fused"] = result.env["fused_kernels"]
            print(f"gpu_check: training T={t} {variant}: "
                  f"{result.timing['ms_per_iteration']:.3f} ms/it", file=sys.stderr)  # fmt: skip
        ref = row.get("reference_ms_per_iteration")
        for variant in variants:
            if ref and variant != "reference":
                row[f"{variant}_speedup"] = ref / row[f"{variant}_ms_per_iteration"]
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------- tests and the record


def find_tests_dir() -> Path | None:
    """The test suite of the source checkout this package runs from (or of the working directory)."""
    for root in (Path(__file__).resolve().parents[1], Path.cwd()):
        tests = root / "tests"
        if (tests / "conftest.py").exists() and (tests / "test_ops_gaussian.py").exists():
            return tests
    return None


def run_cuda_tests(tests: Path | None) -> dict:
    """``pytest TESTS -k cuda``: the CUDA cases of every op test and benchmark smoke test."""
    if tests is None:
        return {"ran": False, "reason": "no tests/ folder: run from a source checkout"}
    cmd = [sys.executable, "-m", "pytest", str(tests), "-q", "-k", "cuda", "-p", "no:cacheprovider"]
    proc = subprocess.run(cmd, cwd=tests.parent, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()]
    summary = lines[-1] if lines else ""
    print(f"gpu_check: CUDA tests: {summary}", file=sys.stderr)
    if proc.returncode != 0:
        print(proc.stdout[-4000:], proc.stderr[-2000:], sep="\n", file=sys.stderr)
    return {"ran": True, "command": " ".join(cmd), "returncode": proc.returncode,
            "passed": proc.returncode == 0, "summary": summary}  # fmt: skip


def _driver_versions() -> dict:
    out: dict = {"driver": None, "driver_cuda_api": None}
    try:
        smi = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
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
    tests: Path | None = None,
    run_tests: bool = True,
    shapes: Sequence[Sequence[int]] = KERNEL_SHAPES,
    impls: Sequence[str] = KERNEL_IMPLS,
    train_steps: Sequence[int] = TRAIN_STEPS,
    train_variants: Sequence[str] = TRAIN_VARIANTS,
    train_batch: int = 300,
    copy_bytes: int | None = None,
) -> dict:
    """Every measurement of the check on ``device``; the JSON record without the command."""
    record: dict = {"quick": quick, **environment(device)}
    record["tests"] = run_cuda_tests(tests) if run_tests else {"ran": False, "reason": "skipped"}
    copy = copy_bandwidth(
        device, copy_bytes or (1 << 26 if quick else 1 << 28), reps=5 if quick else 20
    )
    record["copy_bandwidth"] = copy
    print(f"gpu_check: device-to-device copy {copy['bytes_per_s'] / 1e9:.1f} GB/s", file=sys.stderr)
    record["roofline"] = {
        "bytes_per_s": H100_SXM_BYTES_PER_S,
        "device": "H100 SXM (HBM3, data sheet)",
        "formula": "ads_bench.gpu_check.fused_bytes: each input read once, each output written once",
    }
    record["kernels_fwd_bwd"] = time_kernels(
        device, shapes, impls, reps=5 if quick else 20, copy_bytes_per_s=copy["bytes_per_s"]
    )
    record["training"] = time_training(
        device, train_steps, train_variants, iterations=20 if quick else 200, batch=train_batch
    )
    return record


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
    parser = argparse.ArgumentParser(
        prog="python -m ads_bench.gpu_check", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", default="results/gpu_check.json", help="the JSON record")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and iterations")
    parser.add_argument("--skip-tests", action="store_true", help="do not run pytest -k cuda")
    args = parser.parse_args(argv)
    reason = no_cuda_reason()
    if reason is not None:
        code, message = reason
        print(message, file=sys.stderr)
        return code
    device = torch.device("cuda", torch.cuda.current_device())
    args_given = sys.argv[1:] if argv is None else argv
    command = " ".join([sys.executable, "-m", "ads_bench.gpu_check", *args_given])
    measured = run(device, quick=args.quick, tests=find_tests_dir(), run_tests=not args.skip_tests)
    record = {"command": command, **measured}
    write_record(record, args.out)
    print(f"gpu_check: wrote {args.out}", file=sys.stderr)
    tests = record["tests"]
    return 1 if tests.get("ran") and not tests.get("passed") else 0


if __name__ == "__main__":
    raise SystemExit(main())
