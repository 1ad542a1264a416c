"""``python -m ads_bench.gpu_check``: its exit without a GPU, its byte model and, on the CPU, the code
paths that measure (the numbers themselves need a GPU; these tests keep the code from rotting)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

from ads_bench import gpu_check

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
    bench = _load(ROOT / "tests" / "benchmarks" / f"test_bench_{name}.py")
    assert [tuple(s) for s in bench.SHAPES] == list(gpu_check.KERNEL_SHAPES)
    assert tuple(bench.IMPLS) == gpu_check.KERNEL_IMPLS


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
@pytest.mark.parametrize("op", gpu_check.KERNEL_OPS)
def test_fused_bytes_are_the_fused_ops_inputs_and_outputs(op, shape):
    call = gpu_check._kernel_call(op, "fused", shape, torch.device("cpu"))
    with _CountBytes() as counted:
        call()
    assert counted.ops == [f"{op}.default", f"{op}_backward.default"]
    assert gpu_check.fused_bytes(op, shape) == counted.nbytes


def test_fused_bytes_closed_forms():
    # gaussian_logprob 300x10x2: (9 * 6000 + 2 * 3000) float32 values.
    assert gpu_check.fused_bytes("gaussian_logprob", (300, 10, 2)) == 240_000
    # trajectory_balance 300x10x2: 3 * 6600 + 12 * 6000 + 5 * 300 + 5 values and two 10-byte masks.
    assert gpu_check.fused_bytes("trajectory_balance", (300, 10, 2)) == 93_305 * 4 + 20
    assert gpu_check.roofline_seconds(3.35e12) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown op"):
        gpu_check.fused_bytes("nope", (1, 1, 1))


def test_measurements_run_on_the_cpu(tmp_path):
    record = gpu_check.run(
        torch.device("cpu"), quick=True, run_tests=False, shapes=[(4, 3, 2)],
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


def test_finds_the_checkouts_tests(monkeypatch, tmp_path):
    # The checkout the package runs from (an editable install), else the working directory's.
    package_root = Path(gpu_check.__file__).resolve().parents[1]
    own = package_root / "tests" if (package_root / "tests" / "conftest.py").exists() else None
    monkeypatch.chdir(tmp_path)
    assert gpu_check.find_tests_dir() == own
    monkeypatch.chdir(ROOT)
    assert gpu_check.find_tests_dir() == (own or ROOT / "tests")
