"""The GAN-latent experiment (README "GAN-latent conditional sampling"): models, cache, target,
user hook, CLI and the smoke run of reproduce/gan_latent.py.

Every test trains into a private cache (``ADS_BENCH_CACHE`` = a temporary folder) with the
``smoke`` preset (seconds), so the thresholds below are those of briefly trained models; the
``default`` models are checked only where they are already cached on this machine.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from ads_bench.gan import (
    conditional_metrics,
    get_preset,
    load_models,
    mean_pairwise_distance,
    prior_log_z,
    sir_latents,
)
from ads_bench.gan.cache import cache_root
from ads_bench.targets import GanLatentTarget, get_target, parse_target_options

ROOT = Path(__file__).resolve().parents[1]
SMOKE = "gan-latent:models=smoke"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A private model cache for this module (also seen by subprocesses)."""
    root = tmp_path_factory.mktemp("gan_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADS_BENCH_CACHE", str(root))
        yield root


@pytest.fixture(scope="module")
def smoke_models(cache):
    return load_models("smoke")


# ---------------------------------------------------------------------------------- the models


def test_smoke_models_classify_digits(smoke_models):
    """A few seconds of training: the classifier is far above chance on held-out digits, and the
    generator's samples are classified as digits at the rate reported (printed with -s)."""
    r = smoke_models.report
    gen = r["generator"]
    print(f"\nsmoke models: classifier held-out accuracy {r['classifier_test_accuracy']:.3f}, "
          f"generator digit rate {gen['digit_rate']:.3f}, class shares {gen['class_shares']}")  # fmt: skip
    assert r["n_train"] + r["n_test"] == 1797 and 350 <= r["n_test"] <= 370
    assert r["classifier_test_accuracy"] > 0.85
    assert 0.0 <= gen["digit_rate"] <= 1.0 and math.isclose(sum(gen["class_shares"]), 1.0,
                                                            abs_tol=1e-3)  # fmt: skip
    assert gen["digit_rate"] > 0.2
    assert sum(s > 0 for s in gen["class_shares"]) >= 5  # not collapsed onto a single digit


def _cached_default():
    cfg = get_preset("default")
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ads_bench" / "gan"
    roots = (
        [Path(os.environ["ADS_BENCH_CACHE"]) / "gan"] if os.environ.get("ADS_BENCH_CACHE") else []
    )
    for root in [*roots, home]:
        if (root / cfg.key() / "report.json").exists():
            return root
    return None


@pytest.mark.skipif(_cached_default() is None, reason="default GAN models not cached here "
                    "(python -m ads_bench.gan.train_models)")  # fmt: skip
def test_default_models_classify_digits():
    """The experiment's models, where cached: the rates the README quotes."""
    models = load_models("default", cache_dir=_cached_default(), train=False)
    r, gen = models.report, models.report["generator"]
    print(f"\ndefault models: classifier held-out accuracy {r['classifier_test_accuracy']:.3f}, "
          f"generator digit rate {gen['digit_rate']:.3f}, class shares {gen['class_shares']}")  # fmt: skip
    assert r["classifier_test_accuracy"] > 0.95
    assert gen["digit_rate"] > 0.6
    assert min(gen["class_shares"]) > 0.02  # every digit is generated


def test_cache_is_reused_keyed_and_deterministic(cache, smoke_models, tmp_path):
    again = load_models("smoke")
    assert not again.trained_now and again.path == smoke_models.path
    assert again.path.parent == cache / "gan" == cache_root()
    for a, b in zip(again.generator.state_dict().values(),
                    smoke_models.generator.state_dict().values(), strict=True):  # fmt: skip
        assert torch.equal(a, b)
    assert not [p for p in (cache / "gan").iterdir() if p.name.startswith(".")], "temp folder left"
    tiny = get_preset("smoke", gan_steps=10, c_steps=10, report_n=50, latent_dim=8)
    assert tiny.key() != get_preset("smoke").key()
    one = load_models(tiny, cache_dir=tmp_path / "a")
    two = load_models(tiny, cache_dir=tmp_path / "b")
    assert one.path.name == tiny.key() and one.trained_now and two.trained_now
    assert json.loads((one.path / "config.json").read_text()) == tiny.as_dict()
    for net in ("generator", "classifier"):
        sa, sb = getattr(one, net).state_dict(), getattr(two, net).state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa), f"{net} training is not deterministic"
    with pytest.raises(FileNotFoundError, match="train_models"):
        load_models(tiny, cache_dir=tmp_path / "empty", train=False)


def test_cache_folder_is_locked_while_training_and_repaired(tmp_path):
    """A process that finds the folder locked waits and loads what the holder trained (trained
    once); a half-written or foreign folder is cleared and retrained."""
    import threading

    from ads_bench.gan.train_models import train_into as _train_into
    from ads_bench.store import RunDir

    tiny = get_preset("smoke", gan_steps=10, c_steps=10, report_n=50, latent_dim=8)
    holder = RunDir(tmp_path / tiny.key())
    holder.acquire()
    got = {}
    waiter = threading.Thread(target=lambda: got.update(m=load_models(tiny, cache_dir=tmp_path)))
    waiter.start()
    try:
        waiter.join(1.5)
        assert waiter.is_alive(), "load_models did not wait for the lock"
        _train_into(tiny, holder.path, progress=False)
    finally:
        holder.release()
    waiter.join(60)
    assert not got["m"].trained_now and got["m"].path == holder.path

    (holder.path / "classifier.pt").write_bytes(b"half a file")
    (holder.path / "config.json").write_text(json.dumps({"another": "config"}))
    (holder.path / "stray.txt").write_text("from elsewhere")
    again = load_models(tiny, cache_dir=tmp_path)
    assert again.trained_now and not (holder.path / "stray.txt").exists()
    assert json.loads((holder.path / "config.json").read_text()) == tiny.as_dict()


# ---------------------------------------------------------------------------------- the target


def test_log_prob_matches_hand_computation_and_is_differentiable(smoke_models):
    target = get_target("gan-latent:y=7,beta=2,models=smoke").double()
    assert (target.y, target.beta, target.dim, target.num_classes) == (7, 2.0, 32, 10)
    assert target.log_z is None and not target.has_sample
    z = torch.randn(2, 3, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    gen, clf = target.generator, target.classifier
    logits = clf(gen(z.reshape(-1, 32))).reshape(2, 3, 10)
    hand = (-0.5 * z.square().sum(-1) - 16 * math.log(2 * math.pi)
            + 2.0 * torch.log_softmax(logits, -1)[..., 7])  # fmt: skip
    lp = target.log_prob(z)
    assert lp.shape == (2, 3) and lp.dtype == torch.float64
    torch.testing.assert_close(lp, hand)
    x = z[0, :1].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(target.log_prob, (x,))
    score = target.score(z)
    assert score.shape == z.shape and torch.isfinite(score).all()
    far = 50.0 * torch.ones(1, 32, dtype=torch.float64)  # far from the data: still finite
    assert torch.isfinite(target.log_prob(far)).all() and torch.isfinite(target.score(far)).all()
    assert target.log_prob(torch.zeros(0, 32, dtype=torch.float64)).shape == (0,)
    with pytest.raises(NotImplementedError):
        target.sample(4)


def test_frozen_pair_follows_the_target(smoke_models):
    target = get_target(SMOKE)
    assert (target.y, target.beta) == (3, 1.0)
    assert not any(p.requires_grad for p in target.parameters())
    target.train()
    assert not target.generator.training and not target.classifier.training
    assert target.double().module_dtype == torch.float64
    images = target.decode(torch.zeros(5, 32, dtype=torch.float64))
    assert images.shape == (5, 1, 8, 8) and images.abs().max() <= 1.0


@pytest.mark.parametrize(
    "name, match",
    [
        ("gan-latent:y=10,models=smoke", r"outside 0\.\.9"),
        ("gan-latent:y=-1", r"outside 0\.\.9"),
        ("gan-latent:y=2.5", "integer"),
        ("gan-latent:beta=0", "positive"),
        ("gan-latent:beta=-1", "positive"),
        ("gan-latent:beta=nan", "positive"),
        ("gan-latent:temperature=2", "unknown option.*temperature.*valid options: y, beta"),
        ("gan-latent:y=1,y=2", "twice"),
        ("gan-latent:y", "key=value"),
        ("gan-latent:models=large", "unknown GAN model preset 'large'"),
        ("gan-latent:generator=/nonexistent.pt", "both generator= and classifier="),
    ],
)
def test_option_errors(name, match, cache):
    with pytest.raises(ValueError, match=match):
        get_target(name)


def test_parse_target_options():
    assert parse_target_options("y=7, beta=2.5,models=smoke,flag=true,x=none,p=/a/b=c.pt") == {
        "y": 7, "beta": 2.5, "models": "smoke", "flag": True, "x": None, "p": "/a/b=c.pt"
    }  # fmt: skip
    assert parse_target_options("") == {}
    with pytest.raises(TypeError, match="beta"):
        get_target("gan-latent:beta=2", beta=3)


# ---------------------------------------------------------------------------------- user hook


class _TinyGenerator(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 6)

    def forward(self, z):
        return torch.tanh(self.lin(z))


def test_user_supplied_pair(tmp_path):
    torch.manual_seed(0)
    gen, clf = _TinyGenerator(), nn.Linear(6, 3)
    torch.save(gen, tmp_path / "g.pt")  # a whole pickled module
    batch = torch.export.Dim("batch")
    program = torch.export.export(clf, (torch.randn(4, 6),), dynamic_shapes=({0: batch},))
    torch.export.save(program, tmp_path / "c.pt2")  # a torch.export program
    (tmp_path / "c.pt").write_bytes((tmp_path / "c.pt2").read_bytes())  # found by content
    with warnings.catch_warnings():  # TorchScript is deprecated by PyTorch, still loadable
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(gen), tmp_path / "g_script.pt")
        scripted = GanLatentTarget.from_files(tmp_path / "g_script.pt", tmp_path / "c.pt",
                                              latent_dim=4, y=2, beta=0.5)  # fmt: skip
    target = GanLatentTarget.from_files(tmp_path / "g.pt", tmp_path / "c.pt", latent_dim=4, y=2,
                                        beta=0.5)  # fmt: skip
    target.train()  # an exported program has no modes: the target must not ask it to switch
    assert (target.dim, target.num_classes, target.image_shape) == (4, 3, (6,))
    z = torch.randn(7, 4)
    hand = (-0.5 * z.square().sum(-1) - 2 * math.log(2 * math.pi)
            + 0.5 * torch.log_softmax(clf(gen(z)), -1)[:, 2])  # fmt: skip
    torch.testing.assert_close(target.log_prob(z), hand)
    torch.testing.assert_close(scripted.log_prob(z), hand)
    assert not any(p.requires_grad for p in target.parameters())
    by_name = get_target(f"gan-latent:generator={tmp_path / 'g.pt'},"
                         f"classifier={tmp_path / 'c.pt'},latent_dim=4,y=2,beta=0.5")  # fmt: skip
    torch.testing.assert_close(by_name.log_prob(z), hand)
    with pytest.raises(ValueError, match=r"outside 0\.\.2"):
        GanLatentTarget.from_files(tmp_path / "g.pt", tmp_path / "c.pt", latent_dim=4, y=3)
    with pytest.raises(ValueError, match="latent_dim"):
        GanLatentTarget.from_files(tmp_path / "g.pt", tmp_path / "c.pt")
    with pytest.raises(ValueError, match="fails on latents"):
        GanLatentTarget.from_files(tmp_path / "g.pt", tmp_path / "c.pt", latent_dim=5)
    torch.save(clf.state_dict(), tmp_path / "sd.pt")
    with pytest.raises(TypeError, match="not a state_dict"):
        GanLatentTarget.from_files(tmp_path / "g.pt", tmp_path / "sd.pt", latent_dim=4)
    with pytest.raises(FileNotFoundError):
        GanLatentTarget.from_files(tmp_path / "missing.pt", tmp_path / "c.pt", latent_dim=4)
    with pytest.raises(ValueError, match="built-in models"):
        get_target(f"gan-latent:generator={tmp_path / 'g.pt'},classifier={tmp_path / 'c.pt'},"
                   "latent_dim=4,models=smoke")  # fmt: skip


# ---------------------------------------------------------------------------------- metrics


def test_metrics_closed_forms():
    assert mean_pairwise_distance(torch.tensor([[0.0, 0.0], [3.0, 4.0]])) == pytest.approx(5.0)
    assert math.isnan(mean_pairwise_distance(torch.zeros(1, 3)))
    log_probs = torch.log(torch.tensor([[0.95, 0.05], [0.6, 0.4], [0.2, 0.8]]))
    images = torch.tensor([[0.0], [1.0], [3.0]])
    m = conditional_metrics(log_probs, 0, images)
    assert m["share_y"] == pytest.approx(2 / 3) and m["confident"] == pytest.approx(1 / 3)
    assert m["mean_log_c"] == pytest.approx(float(log_probs[:, 0].mean()))
    assert m["diversity"] == pytest.approx((1 + 3 + 2) / 3)
    # A classifier that ignores its input: c(y | .) = 1/K, so log Z = β log(1/K) exactly.
    gen, clf = nn.Linear(3, 2), nn.Linear(2, 4)
    nn.init.zeros_(clf.weight)
    nn.init.zeros_(clf.bias)
    target = GanLatentTarget(gen, clf, latent_dim=3, y=1, beta=2.0)
    mc = prior_log_z(target, 1000, torch.Generator().manual_seed(0))
    assert mc["log_z"] == pytest.approx(2 * math.log(0.25)) and mc["ess"] == pytest.approx(1.0)
    assert mc["prior_elbo"] == pytest.approx(mc["log_z"]) and mc["log_z_se"] == pytest.approx(0)
    assert sir_latents(target, 50, 200, torch.Generator().manual_seed(0)).shape == (50, 3)


# ---------------------------------------------------------------------------------- CLI, script


def _run(args, cwd=ROOT):
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd, env=os.environ.copy())  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_training_cli(smoke_models, tmp_path):
    proc = _run(["-m", "ads_bench", "--target", SMOKE, "--method", "adaptive",
                 "--steps", "3", "--iterations", "3", "--set", "train.batch_size=8",
                 "--set", "eval.n=16", "--set", "sampler.hidden=16", "--quiet",
                 "--out", str(tmp_path)])  # fmt: skip
    metrics = json.loads(proc.stdout)["metrics"]
    assert math.isfinite(metrics["elbo"]) and "w2" not in metrics  # no exact samples
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["config"]["target"] == SMOKE and result["metrics"]["eubo"] is None


def test_model_training_cli_dry_run(cache):
    proc = _run(["-m", "ads_bench.gan.train_models", "--preset", "smoke", "--latent-dim", "16",
                 "--dry-run"])  # fmt: skip
    out = json.loads(proc.stdout)
    assert out["config"]["latent_dim"] == 16 and out["folder"].startswith(str(cache))


def test_reproduce_smoke(smoke_models, tmp_path):
    from _helpers import paper_figures_digest

    fig = tmp_path / "figures"  # the default: smoke pictures never replace the committed ones
    committed = paper_figures_digest()
    proc = _run([str(ROOT / "reproduce" / "gan_latent.py"), "--budget", "smoke", "--out",
                 str(tmp_path), "--workers", "2", "--quiet"])  # fmt: skip
    assert paper_figures_digest() == committed
    md = (tmp_path / "gan_latent.md").read_text()
    assert "smoke budget" in md and "| 5 | adaptive |" in md and "| 10 | fixed |" in md
    assert "SIR from the prior" in md and md in proc.stdout
    data = json.loads((tmp_path / "gan_latent.json").read_text())
    assert data["budget"] == "smoke" and data["classes"] == [3]
    rows = data["rows"]
    assert {(r["steps"], r["method"]) for r in rows} == {
        (t, m) for t in (5, 10) for m in ("fixed", "fixed-learnvar", "adaptive")
    }
    for row in rows:
        assert row["n_failed"] == 0, row["errors"]
        assert math.isfinite(row["elbo"]) and math.isfinite(row["mean_log_c"])
        assert 0.0 <= row["share_y"] <= 1.0 and row["diversity"] > 0.0
        assert all((tmp_path / "runs" / k / "checkpoint.pt").exists() for k in row["keys"])
    ref = data["references"]["3"]
    assert ref["mc"]["log_z"] <= 0.0 and ref["mc"]["prior_elbo"] <= ref["mc"]["log_z"]
    for ext in ("png", "pdf"):
        file = fig / f"gan_latent_samples.{ext}"
        assert file.exists() and file.stat().st_size > 1000
    assert not list(fig.glob("*.tmp"))
