"""Issue 16, "one config contract": every user error on the training CLI is one line and exit code 2.

A table of bad command lines, each run through ``ads_bench.cli.main`` in process (fast) and a
handful of them through a real ``python -m ads_bench`` subprocess (to show no traceback leaks).
Each asserts exit code 2, no traceback, exactly one non-empty line on stderr, ``error: ...``, naming
the offending field, file or target. Also: every preset validates, and the probe of
:func:`ads_bench.targets.check_target` accepts ``-inf`` (bounded support) but not NaN or ``+inf``.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ads_bench.cli import main
from ads_bench.config import SamplerConfig
from ads_bench.methods import make_config, method_names
from ads_bench.sampler import Sampler, default_t_scale
from ads_bench.targets import TARGETS, TargetError, check_target, get_target

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

#: A run of a fraction of a second, should a bad value slip through validation.
BASE = [
    "--target", "gmm9", "--method", "fixed", "--steps", "3", "--iterations", "2", "--quiet",
    "--set", "train.batch_size=4", "--set", "sampler.hidden=8", "--set", "sampler.n_freq=4",
    "--set", "eval.n=8",
]  # fmt: skip
CUDA = torch.cuda.is_available()


def _set(*pairs: str) -> list[str]:
    return [arg for pair in pairs for arg in ("--set", pair)]


# (id, extra arguments after BASE, substrings the one error line must contain)
CASES = [
    # names that do not exist, values that do not parse
    ("unknown-method", ["--method", "nope"], ["method", "'nope'"]),
    ("method-bad-import-path", ["--method", "no_such_module:thing"], ["no_such_module"]),
    ("unknown-target", ["--target", "nope"], ["target", "'nope'"]),
    ("target-bad-module", ["--target", "no_such_module:Thing"], ["no_such_module"]),
    ("target-bad-attribute", ["--target", "_bad_targets:Nope"], ["_bad_targets", "Nope"]),
    ("target-bad-options", ["--target", "gmm9:foo"], ["gmm9"]),
    ("target-without-dim", ["--target", "_bad_targets:NoDim"], ["NoDim", "dim"]),
    ("unknown-field", _set("sampler.nope=1"), ["sampler.nope"]),
    ("unknown-section", _set("optim.lr=1"), ["optim.lr"]),
    ("set-without-equals", ["--set", "train.lr_gen"], ["--set", "train.lr_gen"]),
    ("unparsable-float", _set("train.lr_gen=fast"), ["train.lr_gen", "fast"]),
    ("unparsable-int", _set("sampler.hidden=2.5"), ["sampler.hidden", "2.5"]),
    ("unparsable-bool", _set("sampler.learn_var=maybe"), ["sampler.learn_var"]),
    ("unparsable-flag", ["--steps", "x"], ["--steps", "'x'"]),
    ("unknown-flag", ["--stepz", "3"], ["--stepz"]),
    # sizes and counts
    ("steps-0", ["--steps", "0"], ["sampler.steps"]),
    ("batch-0", _set("train.batch_size=0"), ["train.batch_size"]),
    ("iterations-negative", ["--iterations", "-1"], ["train.iterations"]),
    ("hidden-0", _set("sampler.hidden=0"), ["sampler.hidden"]),
    ("layers-negative", _set("sampler.layers=-1"), ["sampler.layers"]),
    ("n_freq-0", _set("sampler.n_freq=0"), ["sampler.n_freq"]),
    ("checkpoint_every-negative", _set("train.checkpoint_every=-1"), ["train.checkpoint_every"]),
    ("threads-0", _set("train.threads=0"), ["train.threads"]),
    ("seed-negative", ["--seed", "-1"], ["seed"]),
    ("eval-n-1", _set("eval.n=1"), ["eval.n"]),
    ("eval-every-negative", _set("eval.every=-1"), ["eval.every"]),
    ("eval-steps-0", ["--eval-steps", "0"], ["eval.steps"]),
    # learning rates and optimisation
    ("lr-negative", _set("train.lr_gen=-1"), ["train.lr_gen"]),
    ("lr-nan", _set("train.lr_gen=nan"), ["train.lr_gen", "nan"]),
    ("lr-inf", _set("train.lr_gen=inf"), ["train.lr_gen", "inf"]),
    ("lr_dest-0", _set("train.lr_dest=0"), ["train.lr_dest"]),
    ("lr_logz-negative", _set("train.lr_logz=-1"), ["train.lr_logz"]),
    ("grad_clip-negative", _set("train.grad_clip=-1"), ["train.grad_clip"]),
    ("grad_clip-0", _set("train.grad_clip=0"), ["train.grad_clip"]),
    ("exploration_std-negative", _set("train.exploration_std=-1"), ["train.exploration_std"]),
    ("exploration_share-above-1", _set("train.exploration_share=1.5"),
     ["train.exploration_share"]),
    ("exploration_share-negative", _set("train.exploration_share=-0.1"),
     ["train.exploration_share"]),
    ("target_rate-0", _set("train.target_rate=0"), ["train.target_rate"]),
    ("target_rate-2", _set("train.target_rate=2"), ["train.target_rate"]),
    # replay
    ("replay_capacity-0", _set("train.replay_capacity=0"), ["train.replay_capacity"]),
    ("replay_k-negative", _set("train.replay_k=-1"), ["train.replay_k"]),
    ("replay_ratio-2", _set("train.replay_ratio=2"), ["train.replay_ratio"]),
    # objectives and their requirements
    ("unknown-objective", _set("train.objective=elbo"), ["train.objective", "'elbo'"]),
    ("vargrad-batch-1", ["--method", "adaptive-vargrad", *_set("train.batch_size=1")],
     ["train.batch_size", "vargrad"]),
    ("tlm-without-target_rate", ["--method", "adaptive-tlm", *_set("train.target_rate=none")],
     ["train.target_rate", "tlm"]),
    ("kl-with-replay", _set("train.objective=kl", "train.replay_ratio=0.5"),
     ["train.replay_ratio", "kl"]),
    # the processes
    ("t_scale-0", _set("sampler.t_scale=0"), ["sampler.t_scale"]),
    ("t_scale-negative", _set("sampler.t_scale=-1"), ["sampler.t_scale"]),
    ("prior_std-0", _set("sampler.prior_std=0"), ["sampler.prior_std"]),
    ("unknown-prior", _set("sampler.prior=uniform"), ["sampler.prior", "'uniform'"]),
    ("unknown-destruction", _set("sampler.destruction=banana"), ["sampler.destruction"]),
    ("r_f-0", _set("sampler.r_f=0"), ["sampler.r_f"]),
    ("r_b-0", _set("sampler.r_b=0"), ["sampler.r_b"]),
    ("r_a-0", _set("sampler.r_a=0"), ["sampler.r_a"]),
    ("r_m-0", _set("sampler.r_m=0"), ["sampler.r_m"]),
    ("beta_min-above-beta_max", _set("sampler.beta_min=5", "sampler.beta_max=1"),
     ["sampler.beta_max", "sampler.beta_min"]),
    ("beta_min-0", _set("sampler.beta_min=0"), ["sampler.beta_min"]),
    ("unknown-scheme", _set("sampler.scheme=euler"), ["sampler.scheme", "'euler'"]),
    ("scheme-bad-import-path", _set("sampler.scheme=no_such_module:scheme"),
     ["sampler.scheme", "no_such_module"]),
    ("sinkhorn_eps-0", _set("eval.sinkhorn_eps=0"), ["eval.sinkhorn_eps"]),
    # where and how it runs
    ("dtype-float16", _set("train.dtype=float16"), ["train.dtype", "float16"]),
    ("impl-banana", _set("train.impl=banana"), ["train.impl", "banana"]),
    ("device-banana", _set("train.device=banana"), ["train.device", "banana"]),
    pytest.param("device-cuda", _set("train.device=cuda"), ["train.device", "cuda"],
                 marks=pytest.mark.skipif(CUDA, reason="this machine has a CUDA device")),
    pytest.param("device-cuda-index", _set("train.device=cuda:99"), ["train.device", "cuda:99"],
                 marks=pytest.mark.skipif(not CUDA, reason="needs a CUDA device")),
    # user targets whose log_prob fails the probe
    ("target-wrong-shape", ["--target", "_bad_targets:WrongShape"],
     ["WrongShape", "shape [3]", "[3, 1]"]),
    ("target-raises", ["--target", "_bad_targets:Raises"], ["Raises", "RuntimeError", "boom"]),
    ("target-nan", ["--target", "_bad_targets:ReturnsNaN"], ["ReturnsNaN", "NaN"]),
    ("target-plus-inf", ["--target", "_bad_targets:ReturnsPosInf"], ["ReturnsPosInf", "+inf"]),
    ("target-not-a-tensor", ["--target", "_bad_targets:NotATensor"], ["NotATensor", "float"]),
    ("target-wrong-dtype", ["--target", "_bad_targets:WrongDtype"], ["WrongDtype", "float16"]),
]  # fmt: skip


def _case_id(case) -> str:
    return case.values[0] if hasattr(case, "values") else case[0]


def _one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    return lines[0]


def _in_process(argv: list[str], capsys) -> str:
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, (code, captured.err)
    return _one_error_line(captured.err)


def _start(argv: list[str]) -> subprocess.Popen:
    """``python -m ads_bench ARGV`` started in the background (each costs seconds of imports,
    so the subprocess cases run concurrently)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-m", "ads_bench", *argv], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _finish(proc: subprocess.Popen) -> str:
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 2, (proc.returncode, stderr)
    return _one_error_line(stderr)


def _assert_names(line: str, expected: list[str]) -> None:
    for text in expected:
        assert text in line, (text, line)


@pytest.mark.parametrize("case_id, extra, expected", CASES, ids=[_case_id(c) for c in CASES])
def test_bad_command_line_is_one_error_line(case_id, extra, expected, capsys):
    _assert_names(_in_process([*BASE, *extra], capsys), expected)


def test_the_table_is_large_enough():
    assert len(CASES) + 3 >= 45  # + the --out and non-finite cases below


def test_out_is_an_existing_file(tmp_path, capsys):
    out = tmp_path / "result.txt"
    out.write_text("not a folder")
    line = _in_process([*BASE, "--out", str(out)], capsys)
    _assert_names(line, ["--out", str(out)])
    assert out.read_text() == "not a folder"


def test_out_inside_a_file(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    line = _in_process([*BASE, "--out", str(blocker / "run")], capsys)
    _assert_names(line, ["--out", str(blocker / "run")])


NON_FINITE = [
    "--target", "_bad_targets:NanLater", "--iterations", "3", *_set("train.checkpoint_every=1"),
]  # fmt: skip


def _assert_non_finite(line: str, out: Path) -> None:
    assert "non-finite" in line and "iteration 1" in line, line
    assert any(q in line for q in ("loss", "log-weight", "gradient")), line
    assert str(out) in line, line  # the checkpoint kept (written after iteration 0)


def test_non_finite_training_is_one_line_naming_iteration_and_quantity(tmp_path, capsys):
    out = tmp_path / "run"
    _assert_non_finite(_in_process([*BASE, *NON_FINITE, "--out", str(out)], capsys), out)


# A real interpreter: nothing on stderr but the one line (no traceback from any layer).
SUBPROCESS_CASES = {
    "lr-negative": (_set("train.lr_gen=-1"), ["train.lr_gen"]),
    "unparsable-flag": (["--steps", "x"], ["--steps"]),
    "target-wrong-shape": (["--target", "_bad_targets:WrongShape"], ["WrongShape", "shape"]),
    "target-raises": (["--target", "_bad_targets:Raises"], ["Raises", "boom"]),
}


@pytest.fixture(scope="module")
def subprocess_runs(tmp_path_factory):
    """Every subprocess case, started at once: ``{name: (process, out folder or None)}``."""
    tmp = tmp_path_factory.mktemp("cli")
    out_file = tmp / "result.txt"
    out_file.write_text("")
    runs = {name: (_start([*BASE, *extra]), None) for name, (extra, _) in SUBPROCESS_CASES.items()}
    runs["out-file"] = (_start([*BASE, "--out", str(out_file)]), out_file)
    runs["non-finite"] = (_start([*BASE, *NON_FINITE, "--out", str(tmp / "run")]), tmp / "run")
    yield runs
    for proc, _ in runs.values():
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize("name", list(SUBPROCESS_CASES))
def test_bad_command_line_in_a_subprocess(name, subprocess_runs):
    _assert_names(_finish(subprocess_runs[name][0]), SUBPROCESS_CASES[name][1])


def test_out_is_a_file_in_a_subprocess(subprocess_runs):
    proc, out = subprocess_runs["out-file"]
    _assert_names(_finish(proc), ["--out", str(out)])


def test_non_finite_training_in_a_subprocess(subprocess_runs):
    proc, out = subprocess_runs["non-finite"]
    _assert_non_finite(_finish(proc), out)
    assert (out / "checkpoint.pt").exists()


def test_dry_run_still_prints_the_config(capsys):
    assert main([*BASE, "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert '"steps": 3' in captured.out and captured.err == ""


# ---------------------------------------------------------------- the contract itself


@pytest.mark.parametrize("method", method_names())
def test_every_preset_validates(method):
    for target in sorted(TARGETS):
        if target == "gan-latent":
            continue
        cfg = make_config(method, target)
        assert cfg.validate() is cfg


def test_every_sampler_field_is_a_sampler_keyword():
    """``Sampler.from_config`` passes the section's fields by name: the one mapping."""
    keywords = set(inspect.signature(Sampler.__init__).parameters)
    assert {f.name for f in dataclasses.fields(SamplerConfig)} <= keywords


def test_from_config_resolves_target_defaults():
    cfg = make_config("adaptive", "gmm9", overrides={"sampler.hidden": 8, "sampler.n_freq": 4})
    for name, t_scale in [("gmm9", 5.0), ("funnel", 1.0)]:
        target = get_target(name)
        assert default_t_scale(target) == t_scale
        model = Sampler.from_config(cfg.sampler, target, target_network=False, dtype=torch.float64)
        assert model.t_scale == t_scale and model.prior_std == pytest.approx(t_scale**0.5)
        assert model.dim == target.dim and model.log_z.dtype == torch.float64
    tlm = make_config("adaptive-tlm", "gmm9")
    model = Sampler.from_config(tlm.sampler, get_target("gmm9"), target_network=True)
    assert model.target_destruction is not None


def test_check_target_accepts_minus_inf_and_rejects_nan():
    import _bad_targets as bad

    check_target(get_target(bad.HalfPlane), dtype=torch.float32, device="cpu")
    check_target(get_target("funnel"), dtype=torch.float64, device="cpu")
    for cls, text in [(bad.ReturnsNaN, "NaN"), (bad.ReturnsPosInf, "+inf"), (bad.Raises, "boom")]:
        with pytest.raises(TargetError, match=re.escape(text)) as info:
            check_target(get_target(cls), dtype=torch.float32, device="cpu")
        assert "\n" not in str(info.value) and cls.__name__ in str(info.value)
