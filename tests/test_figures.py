"""reproduce/figures.py: every figure is drawn end to end at the smoke budget (into ``OUT/figures``,
leaving the committed ``paper_figures/`` byte for byte as it was), and the plotting code of the kernel
speed-ups figure works on a synthetic benchmark dict (a test of the code, not a result)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from _helpers import paper_figures_digest

from ads_bench.sampler import Sampler

ROOT = Path(__file__).resolve().parents[1]

RUN_FIGURES = ["convergence", "steps", "samples", "destruction_variance"]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """``figures.py --budget smoke`` with the default figures folder (``OUT/figures``)."""
    out = tmp_path_factory.mktemp("figures")
    before = paper_figures_digest()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "reproduce" / "figures.py"), "--budget", "smoke",
         "--out", str(out), "--workers", "2"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return SimpleNamespace(out=out, proc=proc, before=before, after=paper_figures_digest())


def test_every_figure_is_written_under_out(smoke):
    fig = smoke.out / "figures"
    for name in RUN_FIGURES:
        for ext in ("png", "pdf"):
            file = fig / f"{name}.{ext}"
            assert file.exists() and file.stat().st_size > 1000, file
    assert not [p for p in fig.iterdir() if p.name.startswith(".")], "a temporary file was left"


def test_smoke_figures_leave_paper_figures_unchanged(smoke):
    assert smoke.before, "paper_figures/ holds no files to compare"
    assert smoke.after == smoke.before
    manifest = json.loads((smoke.out / "figures.json").read_text())
    assert manifest["figures_dir"] == str(smoke.out / "figures")


def test_figures_dir_defaults_under_out_and_refuses_smoke_in_paper_figures():
    from _common import figures_dir

    def args(budget, where):
        return argparse.Namespace(budget=budget, out="OUT", figures_dir=where)

    assert figures_dir(args("quick", None)) == Path("OUT", "figures")
    paper = str(ROOT / "paper_figures")
    assert figures_dir(args("quick", paper)) == Path(paper)  # only when asked for by name
    with pytest.raises(SystemExit, match="smoke budget"):
        figures_dir(args("smoke", paper))


def test_kernel_speedups_is_skipped_with_the_command(smoke):
    out, proc = smoke.out, smoke.proc
    assert not (out / "figures" / "kernel_speedups.png").exists()
    command = (
        "python -m pytest tests/benchmarks --benchmark-enable "
        f"--benchmark-json={out / 'bench.json'}"
    )
    assert command in proc.stdout


def test_manifest_lists_figures_and_runs(smoke):
    out = smoke.out
    manifest = json.loads((out / "figures.json").read_text())
    assert manifest["budget"] == "smoke"
    figures = manifest["figures"]
    for name in RUN_FIGURES:
        entry = figures[name]
        assert sorted(entry["files"]) == sorted(
            str(out / "figures" / f"{name}.{ext}") for ext in ("png", "pdf")
        )
        assert entry["runs"] and entry["used_runs"] and not entry["failed_runs"]
        assert all((out / "runs" / key / "result.json").exists() for key in entry["runs"])
        assert "smoke budget" in entry["note"]
    assert "skipped" in figures["kernel_speedups"] and not figures["kernel_speedups"].get("files")
    # samples and destruction_variance reuse Table 1's run configurations (shared cache)
    assert set(figures["destruction_variance"]["runs"]) <= set(figures["steps"]["runs"])


def test_budget_grids():
    from _common import BUDGETS
    from figures import build_specs

    quick = BUDGETS["quick"]
    specs = build_specs(quick, ["convergence", "steps", "samples"])
    assert sorted({s.steps for s in specs["steps"]}) == [5, 10, 20, 50, 100]
    assert sorted({s.steps for s in specs["convergence"]}) == [5, 10, 20]
    every = {dict(s.overrides)["eval.every"] for s in specs["convergence"]}
    assert every == {max(1, quick.iterations // 10)}
    assert {s.seed for s in specs["steps"]} == set(quick.seeds)
    assert {(s.target, s.method, s.steps, s.seed) for s in specs["samples"]} == {
        (t, m, 5, 0) for t in ("gmm25", "gmm40") for m in ("fixed", "adaptive")
    }


def test_kernel_speedups_plot_from_synthetic_benchmark(tmp_path):
    from fig_kernel_speedups import plot_kernel_speedups

    def entry(op, shape, impl, median):
        info = {"op": op, "shape": shape, "impl": impl, "device": "cpu"}
        return {"extra_info": info, "stats": {"median": median}}

    bench = {"benchmarks": [
        entry("gaussian_logprob", [300, 10, 2], "fused", 1e-4),
        entry("gaussian_logprob", [300, 10, 2], "reference", 3e-4),
        entry("trajectory_balance", [300, 10, 2], "fused", 2e-4),
        entry("trajectory_balance", [300, 10, 2], "reference", 5e-4),
    ]}  # fmt: skip
    files = plot_kernel_speedups(bench, tmp_path / "speedups", "synthetic numbers (a code test)")
    assert files == [str(tmp_path / "speedups.png"), str(tmp_path / "speedups.pdf")]
    assert all(Path(f).stat().st_size > 1000 for f in files)
    with pytest.raises(ValueError, match="no ads_bench benchmark entries"):
        plot_kernel_speedups({"benchmarks": []}, tmp_path / "empty", "none")


def test_destruction_correction_masks_the_pinned_step():
    from ads_bench.analysis.destruction import destruction_correction

    torch.manual_seed(0)
    model = Sampler(2, 4, t_scale=5.0, destruction="adaptive", hidden=8, n_freq=4)
    data = destruction_correction(model, half=15.0, n=11)
    assert data["corr"].shape == (11, 4, 2)
    assert np.isnan(data["corr"][:, 0]).all()  # step 0 lands on the pinned x_0 = 0
    assert np.allclose(data["corr"][:, 1:], 0.0)  # zero-initialised heads: exactly the bridge
    assert np.allclose(data["t"], [0.25, 0.5, 0.75, 1.0])
    assert data["x"][0] == -15.0 and data["x"][-1] == 15.0
