"""reproduce/peer_speed.py without peer checkouts: our rows are timed, both peers marked skipped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_peer_speed_skips_missing_peers(tmp_path):
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    # One pair and one of our rows keep it short (the compiled and ensemble rows are the same
    # train() calls train_speed.py's smoke test runs); no peer path, so both peers are skipped.
    cmd = [sys.executable, str(ROOT / "reproduce" / "peer_speed.py"), "--steps", "3",
           "--iterations", "2", "--batch", "16", "--seeds", "2", "--threads", "1",
           "--target", "gmm9", "--pairs", "vsm", "--rows", "eager",
           "--backend", "eager", "--out", str(tmp_path)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((tmp_path / "peer_speed.json").read_text())
    (line,) = data["lines"]
    assert (line["steps"], line["method"]) == (3, "fixed")
    assert line["eager"]["config"]["sampler"]["langevin"] is True
    assert "compiled" not in line and "ensemble" not in line  # not asked for: --rows
    eager = line["eager"]
    assert (eager["compiled"], eager["seeds"]) == (False, 1)
    assert eager["ms_per_seed_iteration"] == pytest.approx(eager["ms_per_iteration"])
    assert line["peer"]["status"] == "skipped"
    assert {k: (v["status"], v["commit"]) for k, v in data["peers"].items()} == {
        "gfn-diffusion": ("skipped", None), "vsm": ("skipped", None)}  # fmt: skip
    assert "skipped (--vsm not given)" in proc.stdout and "vsm: skipped" in proc.stderr
