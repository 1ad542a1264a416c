"""Every reproduce/ script runs once at a smoke budget and writes what it promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, str(ROOT / "reproduce" / script), *args],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_targets_demo(tmp_path):
    proc = _run(
        "targets_demo.py", "--n", "200", "--targets", "gmm9", "manywell", "--out", str(tmp_path)
    )
    data = json.loads((tmp_path / "targets_demo.json").read_text())
    assert [r["target"] for r in data["results"]] == ["gmm9", "manywell"]
    assert all(r["elbo_le_logz_le_eubo"] for r in data["results"])
    assert data["env"]["build_info"]["extension"] and "| gmm9 |" in proc.stdout


def test_train_speed(tmp_path):
    proc = _run("train_speed.py", "--steps", "3", "--iterations", "3", "--batch", "16",
                "--target", "gmm9", "--out", str(tmp_path))  # fmt: skip
    rows = json.loads((tmp_path / "train_speed.json").read_text())["rows"]
    assert rows[0]["fused_ran_fused"] is True and rows[0]["reference_ran_fused"] is False
    assert rows[0]["speedup"] > 0 and "speed-up" in proc.stdout


def test_kernel_speedups_table(tmp_path):
    def entry(impl, median):
        info = {"op": "gaussian_logprob", "shape": [300, 10, 2], "impl": impl, "device": "cpu"}
        return {"extra_info": info, "stats": {"median": median}}

    bench = {"machine_info": {"cpu": {"brand_raw": "test"}},
             "benchmarks": [entry("fused", 1e-4), entry("reference", 3e-4)]}  # fmt: skip
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(bench))
    proc = _run("kernel_speedups.py", str(path), "--out", str(tmp_path / "table.md"))
    row = (
        "| gaussian_logprob | 300x10x2 | cpu | 0.1 | 3 | 0.3 |"  # fused ms, speed-up, reference ms
    )
    assert row in proc.stdout and row in (tmp_path / "table.md").read_text()
