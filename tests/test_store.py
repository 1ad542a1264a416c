"""The run store: locks, atomic writes, damaged files, and what a run folder guarantees under rerun,
kill, concurrency and re-evaluation (issue 16). The kill and concurrency cases run real processes."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from _helpers import alive, children, folder_digest, wait_for

from ads_bench.atomic_files import atomic_write_text
from ads_bench.methods import make_config
from ads_bench.store import DamagedFileError, RunDir, RunLocked, StoreError
from ads_bench.sweep.runner import run_sweep
from ads_bench.sweep.specs import expand_grid
from ads_bench.training import train

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "train.iterations": 20,
    "train.batch_size": 16,
    "eval.n": 64,
    "eval.every": 0,
    "sampler.hidden": 16,
    "sampler.n_freq": 8,
}
LINUX = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_cfg(**extra):
    return make_config("fixed", "gmm9", overrides={**TINY, "sampler.steps": 3, **extra})


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


# ---------------------------------------------------------------------------------- unit
def test_atomic_write_leaves_no_temp_file_and_replaces_whole(tmp_path):
    path = tmp_path / "a.json"
    atomic_write_text(path, "one")
    atomic_write_text(path, "two")
    assert path.read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_lock_is_exclusive_and_a_dead_holders_lock_is_taken_over(tmp_path):
    run = RunDir(tmp_path / "r")
    with run.lock():
        with pytest.raises(RunLocked, match=f"running elsewhere \\(pid {os.getpid()}"):
            RunDir(tmp_path / "r").acquire()
        with run.lock():  # re-entrant for the holder
            assert run.locked
    assert not run.locked
    # A process that holds the lock and dies with kill -9: its lock goes with it.
    code = textwrap.dedent(f"""
        import sys, time
        from ads_bench.store import RunDir
        RunDir({str(tmp_path / "r")!r}).acquire()
        print("locked", flush=True)
        time.sleep(60)
        """)
    proc = subprocess.Popen([sys.executable, "-c", code], env=_env(), stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"locked"
        with pytest.raises(RunLocked, match=f"pid {proc.pid}"):
            RunDir(tmp_path / "r").acquire()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        with RunDir(tmp_path / "r").lock() as taken:
            assert taken.locked
    finally:
        proc.kill()
        proc.wait()


def test_damaged_checkpoint_is_named_and_a_pickle_payload_never_runs(tmp_path):
    run = RunDir(tmp_path).create()
    run.file("checkpoint.pt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DamagedFileError, match=r"damaged file .*checkpoint\.pt: cannot load"):
        run.load_checkpoint()

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    torch.save({"iteration": 1, "model": Payload()}, run.file("checkpoint.pt"))
    with pytest.raises(DamagedFileError, match=r"checkpoint\.pt"):
        run.load_checkpoint()
    assert not marker.exists()  # weights_only=True: the payload was refused, not executed
    moved = run.quarantine("checkpoint.pt")
    assert moved.name.startswith("checkpoint.pt.damaged-") and not run.has_checkpoint()


def test_status_of_a_folder(tmp_path):
    cfg = tiny_cfg().as_dict()
    run = RunDir(tmp_path / "r")
    assert run.status(cfg) == "missing"
    run.create().write_config(cfg)
    assert run.status(cfg) == "partial"
    other = tiny_cfg(**{"train.lr_gen": 0.5}).as_dict()
    assert run.status(other) == "stale"
    run.write_error(cfg, "RuntimeError: x", "tb")
    assert run.status(cfg) == "failed"
    run.clear_error()
    run.file("result.json").write_text('{"config": ')  # truncated
    assert run.status(cfg) == "partial"
    with pytest.raises(DamagedFileError, match=r"result\.json: not valid JSON"):
        run.read_result()
    with pytest.raises(StoreError, match="needs the run's lock"):
        run.clear()


def test_a_file_where_the_folder_should_be_is_a_clear_error(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(StoreError, match="exists and is not a folder"):
        train(tiny_cfg(), out_dir=tmp_path / "f", progress=False)


# ---------------------------------------------------------------------------------- one run
def test_rerun_of_a_finished_run_leaves_every_file_byte_identical(tmp_path):
    cfg = tiny_cfg(**{"eval.every": 5})
    first = train(cfg, out_dir=tmp_path, progress=False)
    before = folder_digest(tmp_path)
    again = train(cfg, out_dir=tmp_path, progress=False)
    assert again.cached and not first.cached
    assert again.metrics == first.metrics
    assert folder_digest(tmp_path) == before
    assert [r["iteration"] for r in again.history] == [5.0, 10.0, 15.0, 20.0]

    # The CLI, in a real process: "already done", exit 0, nothing rewritten.
    cmd = [sys.executable, "-m", "ads_bench", "--target", "gmm9", "--method", "fixed",
           "--steps", "3", "--iterations", "20", "--out", str(tmp_path), "--quiet"]  # fmt: skip
    for k, v in TINY.items():
        if k != "train.iterations":
            cmd += ["--set", f"{k}={v}"]
    cmd += ["--set", "eval.every=5"]
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "already finished" in proc.stderr
    assert json.loads(proc.stdout)["metrics"]["elbo"] == first.metrics["elbo"]
    assert folder_digest(tmp_path) == before


def test_truncated_result_is_re_evaluated_with_the_same_numbers(tmp_path):
    cfg = tiny_cfg(**{"eval.every": 10, "eval.steps": 2})
    first = train(cfg, out_dir=tmp_path, progress=False)
    history = (tmp_path / "history.csv").read_text()
    text = (tmp_path / "result.json").read_text()
    (tmp_path / "result.json").write_text(text[: len(text) // 2])
    again = train(cfg, out_dir=tmp_path, progress=False)
    assert not again.cached and again.timing["resumed"]
    assert again.metrics == first.metrics
    assert again.metrics_eval_steps == first.metrics_eval_steps
    assert (tmp_path / "history.csv").read_text() == history  # no duplicated final row


def test_evaluation_schedule_changes_neither_training_nor_final_metrics(tmp_path):
    runs = {}
    for every in (7, 1000):  # 1000 > iterations: only the final evaluation
        cfg = make_config("adaptive", "gmm9", overrides={
            **TINY, "sampler.steps": 3, "train.iterations": 30, "eval.every": every})  # fmt: skip
        runs[every] = train(cfg, out_dir=tmp_path / str(every), progress=False)
    a, b = runs[7], runs[1000]
    assert a.metrics == b.metrics
    assert a.history[-1]["loss"] == b.history[-1]["loss"]
    wa = torch.load(tmp_path / "7" / "checkpoint.pt", weights_only=True)["model"]
    wb = torch.load(tmp_path / "1000" / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert [r["iteration"] for r in a.history] == [7, 14, 21, 28, 30]


def test_threads_are_part_of_the_run_and_recorded(tmp_path):
    cfg = tiny_cfg(**{"train.threads": 2})
    assert cfg.key() != tiny_cfg().key()
    result = train(cfg, out_dir=tmp_path, progress=False)
    assert result.env["threads"] == 2 and result.config["train"]["threads"] == 2
    assert torch.get_num_threads() == 1  # the caller's setting is restored


def _cli(out: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "ads_bench", "--target", "gmm9", "--method", "fixed",
           "--steps", "3", "--out", str(out), "--quiet"]  # fmt: skip
    for k, v in TINY.items():
        cmd += ["--set", f"{k}={v}"]
    return subprocess.run([*cmd, *extra], env=_env(), capture_output=True, text=True, timeout=300)


def test_damaged_checkpoint_cli_one_line_and_sweep_recovers(tmp_path):
    specs = expand_grid(["gmm9"], ["fixed"], [3], [0], {**TINY, "train.checkpoint_every": 5})
    clean = run_sweep(specs, tmp_path / "clean", progress=False)
    out = tmp_path / "out"
    run = RunDir(out / "runs" / clean.records[0].key).create()
    run.write_config(specs[0].config().as_dict())
    run.file("checkpoint.pt").write_bytes(b"\x80\x04 not a checkpoint")

    proc = _cli(run.path, "--set", "train.checkpoint_every=5")
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert (
        lines[0].startswith("error: damaged file ") and str(run.file("checkpoint.pt")) in lines[0]
    )

    recovered = run_sweep(specs, out, progress=False)
    assert recovered.ok and recovered.failed == []
    assert "retrained from scratch" in recovered.records[0].note
    assert recovered.records[0].metrics == clean.records[0].metrics
    assert list(run.path.glob("checkpoint.pt.damaged-*"))


def test_cli_and_sweep_give_identical_metrics(tmp_path):
    proc = _cli(tmp_path / "cli", "--iterations", "30")
    assert proc.returncode == 0, proc.stderr
    cli = json.loads((tmp_path / "cli" / "result.json").read_text())
    specs = expand_grid(["gmm9"], ["fixed"], [3], [0], {**TINY, "train.iterations": 30})
    swept = run_sweep(specs, tmp_path / "sweep", workers=1, progress=False)
    assert swept.records[0].metrics == cli["metrics"]
    assert cli["env"]["threads"] == 1


# ---------------------------------------------------------------------------------- sweeps
_GRID = {**TINY, "train.iterations": 400, "train.checkpoint_every": 40}


def _sweep_script(out: Path, workers: int, report: Path | None = None) -> str:
    dump = ""
    if report is not None:
        dump = (f"json.dump({{'ran': res.ran, 'cached': res.cached, 'failed': len(res.failed), "
                f"'status': [r.status for r in res.records]}}, open({str(report)!r}, 'w'))")  # fmt: skip
    return textwrap.dedent(f"""
        import json, signal, torch
        signal.signal(signal.SIGINT, signal.default_int_handler)
        torch.set_num_threads(1)
        from ads_bench.sweep.runner import run_sweep
        from ads_bench.sweep.specs import expand_grid
        if __name__ == "__main__":
            specs = expand_grid(["gmm9"], ["fixed", "adaptive"], [3], [0, 1], {_GRID!r})
            res = run_sweep(specs, {str(out)!r}, workers={workers}, progress=True)
            {dump}
        """)


def _metrics(out: Path) -> dict[str, str]:
    return {
        p.parent.name: json.dumps(json.loads(p.read_text())["metrics"], sort_keys=True)
        for p in (out / "runs").glob("*/result.json")
    }


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("uninterrupted")
    specs = expand_grid(["gmm9"], ["fixed", "adaptive"], [3], [0, 1], _GRID)
    assert run_sweep(specs, out, workers=1, progress=False).ok
    return _metrics(out)


@LINUX
def test_kill_9_of_a_sweep_stops_its_workers_and_the_restart_is_exact(tmp_path, uninterrupted):
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", _sweep_script(out, 2)], env=_env(), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    workers: list[int] = []
    try:
        # Kill once both workers train and at least one run has a mid-way checkpoint.
        wait_for(lambda: len(list((out / "runs").glob("*/checkpoint.pt"))) >= 2, proc)
        workers = [p for p in children(proc.pid) if alive(p)]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [p for p in workers if alive(p)]
    finally:
        for p in [proc.pid, *workers]:
            if alive(p):
                os.kill(p, signal.SIGKILL)
    assert len(workers) >= 2
    assert left == [], "pool workers outlived the killed sweep by 10 s"
    assert len(_metrics(out)) < 4  # killed mid-way
    again = subprocess.run([sys.executable, "-c", _sweep_script(out, 2)], env=_env(), cwd=ROOT,
                           capture_output=True, text=True, timeout=600)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert _metrics(out) == uninterrupted  # every metric, bit for bit


@LINUX
def test_two_concurrent_sweeps_train_each_run_once(tmp_path, uninterrupted):
    out = tmp_path / "out"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _sweep_script(out, 1, tmp_path / f"report{i}.json")],
            env=_env(),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    errs = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    reports = [json.loads((tmp_path / f"report{i}.json").read_text()) for i in range(2)]
    assert sum(r["ran"] for r in reports) == 4, reports  # each run trained once between them
    assert all(r["failed"] == 0 for r in reports), reports
    assert all(set(r["status"]) <= {"done", "cached"} for r in reports)
    assert not list((out / "runs").glob("*/error.json"))
    assert _metrics(out) == uninterrupted
    assert "running elsewhere" in errs[0] + errs[1]


def test_checkpoint_pickle_is_plain_data(tmp_path):
    # What weights_only=True must accept: the training checkpoint holds tensors, numbers, strings,
    # lists, dicts and None only (so loading it never needs to run code from the file).
    train(make_config("adaptive", "gmm9", overrides={**TINY, "sampler.steps": 3}), out_dir=tmp_path,
          progress=False)  # fmt: skip
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["iteration"] == 20 and "eval_generator" not in state
    with pytest.raises(pickle.UnpicklingError):
        torch.load(
            _pickled(tmp_path / "x.pt", {"iteration": 1, "model": object()}), weights_only=True
        )


def _pickled(path: Path, obj) -> Path:
    torch.save(obj, path)
    return path
