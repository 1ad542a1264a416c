"""``python -m ads_bench.gpu_check``: its exit without a GPU, its byte model, its benchmark cases (the
one definition the benchmarks use too), and, on the CPU, the code paths that check and measure, also
from a copy of the package without the test suite (the numbers themselves need a GPU; these tests
keep the code from rotting)."""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

import ads_bench
from ads_bench import gpu_check
from ads_bench.ops import benchmark_cases, reference, selfcheck

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "ads_bench.gpu_check", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_without_a_cuda_device_it_exits_2_with_one_clear_line(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # no device, even on a GPU machine
    proc = _cli("--quick", "--out", str(tmp_path / "gpu.json"), cwd=tmp_path, env=env)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("gpu_check: no CUDA device visible (torch.cuda.is_available() is")
    assert "run this on a machine with an NVIDIA GPU" in lines[0]
    assert proc.stdout == "" and not (tmp_path / "gpu.json").exists()


def test_help(tmp_path):
    proc = _cli("--help", cwd=tmp_path)
    assert proc.returncode == 0 and "--quick" in proc.stdout and "--out" in proc.stdout


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["gaussian_logprob", "trajectory_balance"])
def test_kernel_groups_are_the_benchmarks(name):
    # One definition: the benchmarks and gpu_check both take their cases from benchmark_cases.
    bench = _load(ROOT / "tests" / "benchmarks" / f"test_bench_{name}.py")
    assert bench.SHAPES is benchmark_cases.SHAPES and bench.IMPLS is benchmark_cases.IMPLS
    assert bench.fwd_bwd_call is benchmark_cases.fwd_bwd_call and bench.OP in benchmark_cases.OPS
    for fn in (gpu_check.run, gpu_check.time_kernels):
        params = inspect.signature(fn).parameters
        assert params["shapes"].default is benchmark_cases.SHAPES
        assert params["impls"].default is benchmark_cases.IMPLS
    assert gpu_check.fwd_bwd_call is benchmark_cases.fwd_bwd_call
    assert [tuple(s) for s in benchmark_cases.SHAPES] == [
        (300, 10, 2),
        (300, 100, 32),
        (4096, 100, 32),
        (65536, 20, 2),
    ]
    assert benchmark_cases.IMPLS == ("fused", "reference", "compiled-reference")


class _CountBytes(TorchDispatchMode):
    """Bytes of every tensor going into and out of the ads_bench ops (each read/written once)."""

    def __init__(self):
        super().__init__()
        self.nbytes = 0
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func.namespace == "ads_bench":
            self.ops.append(func.__name__)
            leaves = pytree.tree_leaves((args, kwargs or {}, out))
            self.nbytes += sum(t.numel() * t.element_size() for t in leaves
                               if isinstance(t, torch.Tensor))  # fmt: skip
        return out


@pytest.mark.parametrize("shape", [(300, 10, 2), (7, 5, 3), (1, 1, 1)])
@pytest.mark.parametrize("op", benchmark_cases.OPS)
def test_fused_bytes_are_the_fused_ops_inputs_and_outputs(op, shape):
    call = benchmark_cases.fwd_bwd_call(op, "fused", shape, torch.device("cpu"))
    with _CountBytes() as counted:
        call()
    assert counted.ops == [f"{op}.default", f"{op}_backward.default"]
    assert benchmark_cases.fused_bytes(op, shape) == counted.nbytes


def test_fused_bytes_closed_forms():
    # gaussian_logprob 300x10x2: (9 * 6000 + 2 * 3000) float32 values.
    assert benchmark_cases.fused_bytes("gaussian_logprob", (300, 10, 2)) == 240_000
    # trajectory_balance 300x10x2: 3 * 6600 + 12 * 6000 + 5 * 300 + 5 values and two 10-byte masks.
    assert benchmark_cases.fused_bytes("trajectory_balance", (300, 10, 2)) == 93_305 * 4 + 20
    assert benchmark_cases.roofline_seconds(3.35e12) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown op"):
        benchmark_cases.fused_bytes("nope", (1, 1, 1))


def test_measurements_run_on_the_cpu(tmp_path):
    record = gpu_check.run(
        torch.device("cpu"), quick=True, run_checks=False, shapes=[(4, 3, 2)],
        impls=("fused", "reference"), train_steps=(2,), train_variants=("fused", "reference"),
        train_batch=8, copy_bytes=1 << 20,
    )  # fmt: skip
    assert record["copy_bandwidth"]["bytes_per_s"] > 0
    rows = record["kernels_fwd_bwd"]
    assert [(r["op"], r["shape"]) for r in rows] == [
        ("gaussian_logprob", "4x3x2"), ("trajectory_balance", "4x3x2")
    ]  # fmt: skip
    for r in rows:
        assert r["fused_ms"] > 0 and r["reference_ms"] > 0 and r["fused_speedup"] > 0
        assert 0 < r["fused_share_of_copy"] and r["h100_roofline_us"] > 0
    (train,) = record["training"]
    assert train["steps"] == 2 and train["fused_ran_fused"] and not train["reference_ran_fused"]
    assert train["fused_speedup"] > 0
    assert record["build_info"] == gpu_check.build_info()
    path = tmp_path / "gpu.json"
    gpu_check.write_record({"command": "test", **record}, path)
    assert json.loads(path.read_text())["kernels_fwd_bwd"][0]["op"] == "gaussian_logprob"


_RUN_FROM_A_COPY = """
import json, sys
import torch
import ads_bench
from ads_bench import gpu_check
record = gpu_check.run(
    torch.device("cpu"), quick=True, shapes=[(4, 3, 2)], impls=("fused", "reference"),
    train_steps=(2,), train_variants=("fused",), train_batch=8, copy_bytes=1 << 20,
)
tests_loaded = sorted(m for m in sys.modules if m == "tests" or m.startswith(("tests.", "conftest")))
print(json.dumps({"file": ads_bench.__file__, "checks": record["checks"], "tests": tests_loaded,
                  "kernels": [r["op"] for r in record["kernels_fwd_bwd"]]}))
"""


def test_checks_and_measures_without_the_tests_folder(tmp_path):
    # An installed package has no tests/: copy just the package (with its built extension) and run
    # the check from there, on the CPU; the correctness checks are library code and all pass.
    shutil.copytree(
        Path(ads_bench.__file__).parent,
        tmp_path / "ads_bench",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    assert not (tmp_path / "tests").exists()
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", _RUN_FROM_A_COPY],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(out["file"]).resolve().is_relative_to(tmp_path.resolve())
    assert out["tests"] == [] and out["kernels"] == list(benchmark_cases.OPS)
    checks = out["checks"]
    assert checks["ran"] and checks["passed"] and checks["failures"] == {}, checks
    names = list(selfcheck.cases(torch.device("cpu"), quick=True))
    assert checks["checks"] == len(names)
    for what in (
        "gaussian_logprob",
        "trajectory_balance",
        "float32",
        "float64",
        "non-contiguous",
        "vargrad",
        "masked",
        "opcheck",
    ):
        assert any(what in name for name in names), what
    assert "gpu_check: fused vs reference on cpu" in proc.stderr


def test_checks_cover_the_full_set_and_fail_loudly(monkeypatch):
    full = selfcheck.cases(torch.device("cpu"))
    assert len(full) > len(selfcheck.cases(torch.device("cpu"), quick=True))
    assert {s for s in selfcheck.TB_SHAPES if s[0] == 0 or s[1] == 0 or s[2] == 1}
    # A reference that is off by a little: the checks that use it fail and say where and what.
    real = reference.gaussian_logprob
    monkeypatch.setattr(reference, "gaussian_logprob", lambda *a: real(*a) + 1e-2)
    record = selfcheck.check_ops(torch.device("cpu"), quick=True)
    assert record["ran"] and not record["passed"]
    failed = record["failures"]
    assert "gaussian_logprob (300, 10, 2) float32" in failed
    assert "gaussian_logprob (0, 5, 3) float64" not in failed  # nothing to be off by: empty
    assert failed["gaussian_logprob (300, 10, 2) float64"].startswith("AssertionError: value:")
