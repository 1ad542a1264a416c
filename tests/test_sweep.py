"""The sweep runner: grids, the result store (cache, stale, failed, resume after a kill), executors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest
from _helpers import alive, children, wait_for

from ads_bench.sweep.records import load_records
from ads_bench.sweep.runner import run_sweep
from ads_bench.sweep.specs import RunSpec, expand_grid

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "train.iterations": 20,
    "train.batch_size": 16,
    "eval.n": 64,
    "eval.every": 0,
    "sampler.hidden": 16,
}


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(seeds=(0, 1, 2), **overrides) -> list[RunSpec]:
    return expand_grid(["gmm9"], ["fixed"], [3], list(seeds), {**TINY, **overrides})


def mtimes(result) -> dict[str, int]:
    return {r.key: (Path(r.path) / "result.json").stat().st_mtime_ns for r in result.records}


def test_expand_grid_is_the_product_in_order():
    specs = expand_grid(["gmm9", "gmm25"], ["fixed", "adaptive"], [3, 5], [0, 1, 2], {"a.b": 1})
    assert len(specs) == 2 * 2 * 2 * 3
    order = [(s.target, s.steps, s.method, s.seed) for s in specs]
    assert order[:7] == [
        ("gmm9", 3, "fixed", 0),
        ("gmm9", 3, "fixed", 1),
        ("gmm9", 3, "fixed", 2),
        ("gmm9", 3, "adaptive", 0),
        ("gmm9", 3, "adaptive", 1),
        ("gmm9", 3, "adaptive", 2),
        ("gmm9", 5, "fixed", 0),
    ]
    assert order[12] == ("gmm25", 3, "fixed", 0)
    assert order == sorted(order, key=lambda o: (o[0] != "gmm9", o[1], o[2] != "fixed", o[3]))
    assert all(s.overrides == (("a.b", 1),) and s.tag == "" for s in specs)
    assert expand_grid([], ["fixed"], [3], [0]) == []
    assert expand_grid("gmm9", "fixed", 3, 0) == [RunSpec("gmm9", "fixed", 3, 0)]


def test_run_spec_is_hashable_and_its_key_follows_the_config():
    a = RunSpec("gmm9", "fixed", 3, 0, {"train.lr_gen": 1e-3, "sampler.hidden": 16})
    b = RunSpec("gmm9", "fixed", 3, 0, (("sampler.hidden", 16), ("train.lr_gen", 1e-3)))
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a.overrides == (("sampler.hidden", 16), ("train.lr_gen", 1e-3))
    assert a.key == b.key == a.config().key() and len(a.key) == 16
    assert a.config().sampler.steps == 3 and a.config().sampler.hidden == 16
    # The tag is a label only; a preset default given explicitly resolves to the same config.
    assert RunSpec("gmm9", "fixed", 3, 0, a.overrides, tag="row").key == a.key
    assert RunSpec("gmm9", "fixed", 3, 0, {**dict(a.overrides), "train.lr_dest": 1e-3}).key == a.key
    changed = [
        RunSpec("gmm9", "fixed", 3, 0, {"train.lr_gen": 2e-3, "sampler.hidden": 16}),
        RunSpec("gmm9", "fixed", 3, 0, {"train.lr_gen": 1e-3, "sampler.hidden": 17}),
        RunSpec("gmm9", "fixed", 3, 0, {**dict(a.overrides), "train.batch_size": 7}),
        RunSpec("gmm9", "fixed", 4, 0, a.overrides),
        RunSpec("gmm9", "fixed", 3, 1, a.overrides),
        RunSpec("gmm9", "adaptive", 3, 0, a.overrides),
        RunSpec("gmm25", "fixed", 3, 0, a.overrides),
    ]
    keys = {s.key for s in changed}
    assert len(keys) == len(changed) and a.key not in keys
    with pytest.raises(ValueError, match="RunSpec's own fields"):
        RunSpec("gmm9", "fixed", 3, 0, {"sampler.steps": 5})
    with pytest.raises(ValueError, match="RunSpec's own fields"):
        RunSpec("gmm9", "fixed", 3, 0, {"seed": 5})


def test_arguments_and_bad_grids_fail_before_anything_runs(tmp_path):
    specs = tiny(seeds=[0])
    with pytest.raises(ValueError, match="unknown executor"):
        run_sweep(specs, tmp_path, executor="slurm")
    with pytest.raises(ValueError, match="workers"):
        run_sweep(specs, tmp_path, workers=0)
    bad = [*specs, RunSpec("gmm9", "fixed", 0, 1, (("eval.every", 0),))]
    with pytest.raises(ValueError, match=r"fixed/gmm9/T=0/seed=1.*sampler.steps must be >= 1"):
        run_sweep(bad, tmp_path)
    with pytest.raises(ValueError, match=r"nope/gmm9/T=3/seed=0.*unknown method"):
        run_sweep([*specs, RunSpec("gmm9", "nope", 3, 0)], tmp_path)
    with pytest.raises(ValueError, match=r"fixed/gmm52/T=3/seed=0.*unknown target"):
        run_sweep([*specs, RunSpec("gmm52", "fixed", 3, 0)], tmp_path)
    assert not (tmp_path / "runs").exists()  # the good spec did not run either
    empty = run_sweep([], tmp_path)
    assert empty.records == [] and empty.ran == 0 and empty.cached == 0 and empty.ok


def test_sweep_runs_once_then_serves_the_cache(tmp_path, capsys):
    specs = tiny()
    specs.append(replace(specs[0], tag="duplicate"))  # same config, other label
    first = run_sweep(specs, tmp_path, progress=False)
    assert [r.status for r in first.records] == ["done"] * 4
    assert (first.ran, first.cached, first.failed) == (3, 0, [])
    assert first.records[3].key == first.records[0].key and first.records[3].spec.tag == "duplicate"
    assert first.records[3].metrics == first.records[0].metrics
    assert len({r.key for r in first.records}) == 3
    for r in first.records:
        run_dir = Path(r.path)
        assert run_dir == tmp_path / "runs" / r.key
        assert {"config.json", "checkpoint.pt", "history.csv", "result.json"} <= {
            p.name for p in run_dir.iterdir()
        }
        assert (
            json.loads((run_dir / "result.json").read_text())["config"] == r.spec.config().as_dict()
        )
        assert r.timing["iterations"] == 20 and r.seconds > 0 and r.error is None
    assert capsys.readouterr().err == ""  # progress=False prints nothing
    before = mtimes(first)

    again = run_sweep(specs, tmp_path, progress=True)
    assert [r.status for r in again.records] == ["cached"] * 4
    assert (again.ran, again.cached, again.failed) == (0, 3, [])
    assert mtimes(again) == before
    assert [r.metrics for r in again.records] == [r.metrics for r in first.records]
    assert all(r.seconds is None for r in again.records)
    err = capsys.readouterr().err
    assert "[sweep] 3 runs: 3 cached, 0 to run" in err

    # load_records reads the same state without running; an unknown spec is "missing".
    extra = tiny(seeds=[7])
    loaded = load_records(tmp_path, [*specs, *extra])
    assert [r.status for r in loaded] == ["done"] * 4 + ["missing"]
    assert loaded[0].metrics == first.records[0].metrics and loaded[4].metrics is None
    assert not (tmp_path / "runs" / extra[0].key).exists()


def test_changed_or_tampered_config_is_rerun(tmp_path):
    base = tiny(seeds=[0])
    first = run_sweep(base, tmp_path, progress=False)
    assert (first.ran, first.cached) == (1, 0)
    old = first.records[0]

    changed = tiny(seeds=[0], **{"train.lr_gen": 5e-3, "eval.steps": 2})
    second = run_sweep(changed, tmp_path, progress=False)
    assert (second.ran, second.cached, second.records[0].status) == (1, 0, "done")
    assert second.records[0].key != old.key
    assert second.records[0].metrics != old.metrics
    assert old.metrics_eval_steps is None and "elbo" in second.records[0].metrics_eval_steps
    assert load_records(tmp_path, changed)[0].metrics_eval_steps == (
        second.records[0].metrics_eval_steps
    )

    # A result.json whose stored config differs from the spec's config is stale.
    result_path = Path(old.path) / "result.json"
    stored = json.loads(result_path.read_text())
    stored["config"]["train"]["lr_gen"] = 0.5
    stored["metrics"] = {"elbo": 123.0}
    result_path.write_text(json.dumps(stored))
    (Path(old.path) / "stale-marker").write_text("x")
    assert [r.status for r in load_records(tmp_path, base)] == ["missing"]
    third = run_sweep(base, tmp_path, progress=False)
    assert (third.ran, third.cached, third.records[0].status) == (1, 0, "done")
    assert third.records[0].metrics == old.metrics  # retrained from scratch, same seed
    assert json.loads(result_path.read_text())["config"] == base[0].config().as_dict()
    assert not (Path(old.path) / "stale-marker").exists()  # the stale folder was replaced
    assert run_sweep(base, tmp_path, progress=False).cached == 1


def test_result_stored_before_a_field_existed_is_still_served(tmp_path):
    # A run finished before sampler.r_m existed stored a config without it; at its neutral
    # default the resolved config, the key and hence the cached result are the same run.
    first = run_sweep(tiny(seeds=[0]), tmp_path, progress=False)
    path = Path(first.records[0].path)
    for name in ("result.json", "config.json"):
        data = json.loads((path / name).read_text())
        cfg = data["config"] if name == "result.json" else data
        del cfg["sampler"]["r_m"]
        (path / name).write_text(json.dumps(data))
    again = run_sweep(tiny(seeds=[0]), tmp_path, progress=False)
    assert (again.ran, again.cached) == (0, 1)
    assert again.records[0].metrics == first.records[0].metrics
    # A non-default value of the new field is another run.
    other = run_sweep(tiny(seeds=[0], **{"sampler.r_m": 2.0}), tmp_path, progress=False)
    assert (other.ran, other.cached) == (1, 0) and other.records[0].key != first.records[0].key


def test_failed_run_is_recorded_and_retried(tmp_path, monkeypatch, capsys):
    flag = tmp_path / "fail"
    flag.write_text("1")
    (tmp_path / "flaky_sweep_target.py").write_text(
        textwrap.dedent(f"""
        from pathlib import Path
        from ads_bench.targets import gmm9

        def make():
            if Path({str(flag)!r}).exists():
                raise RuntimeError("flaky target is down")
            return gmm9()
        """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    specs = tiny(seeds=[0, 1])
    specs.insert(1, RunSpec("flaky_sweep_target:make", "fixed", 3, 0, TINY, tag="flaky"))
    out = tmp_path / "out"

    first = run_sweep(specs, out, progress=True)
    assert [r.status for r in first.records] == ["done", "failed", "done"]
    assert (first.ran, first.cached, not first.ok) == (3, 0, True)
    bad = first.records[1]
    assert first.failed == [bad]
    assert bad.error == "RuntimeError: flaky target is down" and bad.metrics is None
    error = json.loads((Path(bad.path) / "error.json").read_text())
    assert error["error"] == bad.error and error["config"] == specs[1].config().as_dict()
    assert "raise RuntimeError" in error["traceback"]
    assert not (Path(bad.path) / "result.json").exists()
    summary = first.summary()
    assert "1 failed" in summary and "2 done" in summary
    assert "FAILED fixed/flaky_sweep_target:make/T=3/seed=0 [flaky]" in summary
    assert "RuntimeError: flaky target is down" in summary
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("[sweep] 3 runs: 0 cached, 3 to run (in-process)")
    assert err[1].startswith("[sweep 1/3] done fixed/gmm9/T=3/seed=0 (")
    assert err[2].startswith("[sweep 2/3] FAILED (RuntimeError: flaky target is down) fixed/flaky")
    assert (
        "(RuntimeError: flaky target is down) fixed/flaky_sweep_target:make/T=3/seed=0 [flaky] ("
        in err[2]
    )
    assert "| 0 cached, 1 failed, eta " in err[2]
    assert err[3].startswith("[sweep 3/3] done fixed/gmm9/T=3/seed=1 (")
    assert len(err) == 4
    loaded = load_records(out, specs)
    assert [r.status for r in loaded] == ["done", "failed", "done"]
    assert loaded[1].error == bad.error

    still = run_sweep(specs, out, progress=False)  # retried (and failing again)
    assert [r.status for r in still.records] == ["cached", "failed", "cached"]
    assert (still.ran, still.cached) == (1, 2)

    flag.unlink()
    fixed = run_sweep(specs, out, progress=False)
    assert [r.status for r in fixed.records] == ["cached", "done", "cached"]
    assert (fixed.ran, fixed.cached, fixed.failed) == (1, 2, [])
    assert not (Path(bad.path) / "error.json").exists()
    assert (Path(bad.path) / "result.json").exists()


def _script(body: str) -> str:
    return textwrap.dedent(f"""
        import faulthandler, signal, sys, torch
        faulthandler.register(signal.SIGUSR1, all_threads=True)  # stacks on demand, if it hangs
        # Ctrl-C at a terminal: a shell without job control starts background jobs with SIGINT
        # ignored, and Python then keeps it ignored; the tests must not depend on how they were run.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        torch.set_num_threads(1)
        from ads_bench.sweep.runner import run_sweep
        from ads_bench.sweep.specs import expand_grid
        if __name__ == "__main__":
            {body}
        """)


def _run_dirs(out: Path, name: str) -> set[str]:
    return {p.parent.name for p in (out / "runs").glob(f"*/{name}")}


def _wait_for(cond, proc, timeout=90.0):
    wait_for(cond, proc, timeout, what="the sweep subprocess")


def test_killed_sweep_resumes(tmp_path):
    grid = {**TINY, "train.iterations": 500, "train.checkpoint_every": 50}
    specs = tiny(seeds=[0, 1, 2, 3], **grid)
    out = tmp_path / "out"
    code = _script(f"run_sweep(expand_grid(['gmm9'], ['fixed'], [3], [0, 1, 2, 3], {grid!r}), "
                   f"{str(out)!r}, workers=1, progress=False)")  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        # Wait for a finished run and a checkpoint of the next, unfinished one; then kill -9.
        _wait_for(
            lambda: (
                _run_dirs(out, "result.json")
                and _run_dirs(out, "checkpoint.pt") - _run_dirs(out, "result.json")
            ),
            proc,
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    finished = _run_dirs(out, "result.json")
    interrupted = _run_dirs(out, "checkpoint.pt") - finished
    assert 1 <= len(finished) < 4 and len(interrupted) == 1
    before = {k: (out / "runs" / k / "result.json").stat().st_mtime_ns for k in finished}

    again = run_sweep(specs, out, progress=False)
    status = {r.key: r.status for r in again.records}
    assert {k: status[k] for k in finished} == dict.fromkeys(finished, "cached")
    assert [s for k, s in status.items() if k not in finished] == ["done"] * (4 - len(finished))
    assert (again.ran, again.cached, again.ok) == (4 - len(finished), len(finished), True)
    assert {k: (out / "runs" / k / "result.json").stat().st_mtime_ns for k in finished} == before
    resumed = {r.key: r.timing["resumed"] for r in again.records if r.status == "done"}
    assert resumed.pop(interrupted.pop()) is True  # continued from its checkpoint
    assert not any(resumed.values())


def test_process_pool_matches_in_process(tmp_path):
    specs = tiny(seeds=[0, 1]) + expand_grid(["gmm9"], ["adaptive"], [3], [0], TINY)
    pool = run_sweep(specs, tmp_path / "pool", workers=2, progress=False)
    assert [r.status for r in pool.records] == ["done"] * 3 and pool.ran == 3
    inline = run_sweep(specs[:1] + specs[2:], tmp_path / "inline", workers=1, progress=False)
    # Training is seeded and both sides use one torch thread, so the metrics agree exactly.
    assert inline.records[0].metrics == pool.records[0].metrics
    assert inline.records[1].metrics == pool.records[2].metrics
    assert pool.records[0].metrics != pool.records[1].metrics  # other seed, other result
    assert run_sweep(specs, tmp_path / "pool", workers=2, progress=False).cached == 3


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_interrupt_stops_the_pool_promptly(tmp_path):
    grid = {**TINY, "train.iterations": 20_000, "train.checkpoint_every": 100}
    out = tmp_path / "out"
    code = _script(f"run_sweep(expand_grid(['gmm9'], ['fixed'], [3], [0, 1, 2], {grid!r}), "
                   f"{str(out)!r}, workers=2, progress=True)")  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    workers: list[int] = []
    try:
        _wait_for(lambda: len(_run_dirs(out, "checkpoint.pt")) == 2, proc)  # both workers train
        workers = children(proc.pid)
        proc.send_signal(signal.SIGINT)
        start = time.monotonic()
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)  # every thread's stack to stderr, then fail with it
            time.sleep(1.0)
            for pid in [proc.pid, *workers]:  # workers hold the pipes open: they go too
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
            _, err = proc.communicate(timeout=30)
            pytest.fail(f"the interrupted sweep did not stop within 30 s; its stacks:\n{err}")
        stopped = time.monotonic() - start
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        time.sleep(0.2)
        left = [pid for pid in workers if alive(pid)]
        for pid in left:  # never leave orphans training on a shared machine
            os.kill(pid, signal.SIGKILL)
    assert len(workers) >= 2  # the two pool workers (plus multiprocessing's resource tracker)
    assert left == [], "pool workers outlived the interrupted sweep"
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    assert "interrupted: 3 runs unfinished" in err
    assert stopped < 10, f"took {stopped:.1f} s to stop"
    assert _run_dirs(out, "result.json") == set()


def test_ray_executor(tmp_path):
    pytest.importorskip("ray", reason="executor='ray' needs Ray (pip install ray)")
    specs = tiny(seeds=[0, 1])
    result = run_sweep(specs, tmp_path, workers=2, executor="ray", progress=False)
    assert [r.status for r in result.records] == ["done", "done"], result.summary()
    assert (result.ran, result.cached, result.failed) == (2, 0, [])
    assert all((Path(r.path) / "result.json").exists() for r in result.records)
    inline = run_sweep(specs, tmp_path / "inline", progress=False)
    assert [r.metrics for r in inline.records] == [r.metrics for r in result.records]
    cached = run_sweep(specs, tmp_path, progress=False)  # the same store, read locally
    assert [r.status for r in cached.records] == ["cached", "cached"]
