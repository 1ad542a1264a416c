"""Train (once) and cache the generator and classifier of the GAN-latent experiment.

    python -m ads_bench.gan.train_models                   # the "default" preset (about 2 minutes)
    python -m ads_bench.gan.train_models --preset smoke    # seconds; for tests (quality is poor)
    python -m ads_bench.gan.train_models --latent-dim 64 --seed 1 --force --dry-run

SPEC section 6 needs a generator G and a classifier c; nothing pretrained can be downloaded, so
both are trained here on scikit-learn's bundled 8x8 digits (:mod:`ads_bench.gan.data`):

- G: a GAN with the non-saturating loss (Goodfellow et al. 2014),
  L_D = E softplus(-D(x)) + E softplus(D(G(z))),  L_G = E softplus(-D(G(z))),
  Adam(lr, betas = (beta1, 0.999)) on both players, one D step per G step, a spectrally
  normalised discriminator, and an exponential moving average of G's weights (rate ``g_ema``) as
  the final generator. Trained on the training split only.
- c: cross-entropy with AdamW on the training split, inputs jittered with Gaussian pixel noise
  (``c_noise``) so that the classifier is not over-confident on the generator's slightly noisy
  images; its held-out accuracy is measured on the test split.

Determinism: ``torch.manual_seed(seed)`` before building each network and one ``torch.Generator``
per network (seeded from ``seed``) for every batch, latent and noise draw; the split is seeded too;
training runs on one thread (faster for networks this small, and thread-count independent), so a
config trains to the same weights in any process.

Cache: ``<root>/<key>/`` with ``generator.pt`` and ``classifier.pt`` (state dicts), ``config.json``
(the :class:`GanTrainConfig`) and ``report.json`` (accuracies, the generator's digit rate and class
shares, timings). ``<key>`` hashes the whole config (including ``version``, bumped whenever the
training code changes), so a changed config never reuses stale weights. ``<root>`` is
``$ADS_BENCH_CACHE/gan`` if that variable is set, else ``$XDG_CACHE_HOME/ads_bench/gan`` (default
``~/.cache/ads_bench/gan``). The folder is a run-store folder (:mod:`ads_bench.store`): a process
trains into it holding its lock (``run.lock``), so processes that need the same config concurrently
train it once: the others wait for the lock and then load the files. Every file is written
atomically and ``config.json`` last, so a killed training leaves a folder that is not complete
(retrained by the next use), never a half-written file. The weights load with ``weights_only=True``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import pickle
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ads_bench.atomic_files import atomic_save, atomic_write_json
from ads_bench.metrics._checks import single_threaded
from ads_bench.store import DamagedFileError, RunDir, RunLocked

from .data import Digits, load_digits
from .metrics import classifier_accuracy, generator_report, mean_pairwise_distance
from .models import Classifier, Discriminator, Generator

__all__ = [
    "PRESETS",
    "GanTrainConfig",
    "TrainedModels",
    "cache_root",
    "get_preset",
    "load_models",
    "train_classifier",
    "train_gan",
]

_FILES = ("generator.pt", "classifier.pt", "config.json", "report.json")


@dataclass(frozen=True)
class GanTrainConfig:
    """Everything that determines the trained generator and classifier (hashed into the cache key).

    GAN: ``gan_steps`` updates of D and G on batches of ``gan_batch``; ``g_hidden``/``d_hidden``
    widths; ``g_ema`` EMA rate of the generator weights. Classifier: ``c_steps`` AdamW updates on
    batches of ``c_batch``, pixel-noise std ``c_noise``. ``report_n`` prior draws for the report.
    """

    latent_dim: int = 32
    seed: int = 0
    test_fraction: float = 0.2
    g_hidden: int = 256
    d_hidden: int = 256
    gan_steps: int = 15_000
    gan_batch: int = 128
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    g_ema: float = 0.999
    c_hidden: int = 256
    c_dropout: float = 0.2
    c_steps: int = 2000
    c_batch: int = 128
    lr_c: float = 1e-3
    c_weight_decay: float = 1e-4
    c_noise: float = 0.1
    report_n: int = 5000
    version: int = 1

    def __post_init__(self):
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {self.latent_dim}")
        if self.gan_steps < 0 or self.c_steps < 0:
            raise ValueError("gan_steps and c_steps must be >= 0")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def key(self) -> str:
        """16 hex digits of the SHA-256 of the config (the cache folder's name)."""
        blob = json.dumps(self.as_dict(), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


#: Named configurations. ``default``: the experiment's models (measured on a shared 2-core VM:
#: 125 s of GAN training, 7 s for the classifier; classifier held-out accuracy 0.997, 87 % of
#: generated images classified as a digit with probability >= 0.9, every digit 7-12 % of the
#: samples). ``smoke``: for tests (about 3 s; a third of its samples are confident digits).
PRESETS: dict[str, GanTrainConfig] = {
    "default": GanTrainConfig(),
    "smoke": GanTrainConfig(
        g_hidden=64, d_hidden=64, gan_steps=1000, g_ema=0.99, c_hidden=64, c_steps=300,
        report_n=500,
    ),
}  # fmt: skip


def get_preset(name: str, **changes: Any) -> GanTrainConfig:
    """Preset ``name`` with ``changes`` applied (e.g. ``latent_dim=64``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown GAN model preset {name!r}; valid: {', '.join(sorted(PRESETS))}")
    return dataclasses.replace(PRESETS[name], **changes)


def cache_root() -> Path:
    """``$ADS_BENCH_CACHE/gan``, else ``$XDG_CACHE_HOME/ads_bench/gan`` (``~/.cache/...``)."""
    env = os.environ.get("ADS_BENCH_CACHE")
    if env:
        return Path(env).expanduser() / "gan"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "ads_bench" / "gan"


# ---------------------------------------------------------------------------------- training


def _say(progress: bool, text: str) -> None:
    if progress:
        print(text, file=sys.stderr, flush=True)


def train_gan(cfg: GanTrainConfig, data: Digits, progress: bool = False) -> Generator:
    """The EMA generator after ``cfg.gan_steps`` non-saturating GAN updates (eval mode)."""
    torch.manual_seed(cfg.seed)
    gen_net = Generator(cfg.latent_dim, cfg.g_hidden)
    disc = Discriminator(cfg.d_hidden)
    ema = Generator(cfg.latent_dim, cfg.g_hidden)
    ema.load_state_dict(gen_net.state_dict())
    ema.requires_grad_(False)
    rng = torch.Generator().manual_seed(cfg.seed)
    opt_g = torch.optim.Adam(gen_net.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, 0.999))
    x = data.train_x
    for step in range(cfg.gan_steps):
        real = x[torch.randint(len(x), (cfg.gan_batch,), generator=rng)]
        z = torch.randn(cfg.gan_batch, cfg.latent_dim, generator=rng)
        fake = gen_net(z)
        loss_d = F.softplus(-disc(real)).mean() + F.softplus(disc(fake.detach())).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        loss_g = F.softplus(-disc(fake)).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        with torch.no_grad():
            for p_ema, p in zip(ema.parameters(), gen_net.parameters(), strict=True):
                p_ema.lerp_(p, 1.0 - cfg.g_ema)
        if progress and (step + 1) % max(1, cfg.gan_steps // 10) == 0:
            _say(True, f"[gan] step {step + 1}/{cfg.gan_steps} "
                       f"loss_d={float(loss_d.detach()):.3f} loss_g={float(loss_g.detach()):.3f}")  # fmt: skip
    return ema.eval()


def train_classifier(cfg: GanTrainConfig, data: Digits, progress: bool = False) -> Classifier:
    """The classifier after ``cfg.c_steps`` AdamW updates on noise-jittered images (eval mode)."""
    torch.manual_seed(cfg.seed + 1)
    net = Classifier(cfg.c_hidden, cfg.c_dropout)
    rng = torch.Generator().manual_seed(cfg.seed + 1)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr_c, weight_decay=cfg.c_weight_decay)
    x, y = data.train_x, data.train_y
    net.train()
    for step in range(cfg.c_steps):
        idx = torch.randint(len(x), (cfg.c_batch,), generator=rng)
        noise = cfg.c_noise * torch.randn(cfg.c_batch, *x.shape[1:], generator=rng)
        loss = F.cross_entropy(net((x[idx] + noise).clamp(-1.0, 1.0)), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if progress and (step + 1) % max(1, cfg.c_steps // 5) == 0:
            _say(
                True, f"[classifier] step {step + 1}/{cfg.c_steps} loss={float(loss.detach()):.3f}"
            )
    net.requires_grad_(False)
    return net.eval()


# ---------------------------------------------------------------------------------- cache


@dataclass
class TrainedModels:
    """A frozen generator/classifier pair with its config, report and cache folder."""

    generator: Generator
    classifier: Classifier
    config: GanTrainConfig
    report: dict[str, Any]
    path: Path
    trained_now: bool = False


def _train_into(cfg: GanTrainConfig, folder: Path, progress: bool) -> None:
    # Small networks train fastest on one thread, and then identically on every machine.
    with single_threaded():
        _train_into_1(cfg, folder, progress)


def _train_into_1(cfg: GanTrainConfig, folder: Path, progress: bool) -> None:
    data = load_digits(cfg.test_fraction, cfg.seed)
    start = time.perf_counter()
    gen_net = train_gan(cfg, data, progress)
    gan_seconds = time.perf_counter() - start
    start = time.perf_counter()
    clf = train_classifier(cfg, data, progress)
    clf_seconds = time.perf_counter() - start
    rng = torch.Generator().manual_seed(cfg.seed + 2)
    report = {
        "key": cfg.key(),
        "classifier_test_accuracy": classifier_accuracy(clf, data.test_x, data.test_y),
        "classifier_train_accuracy": classifier_accuracy(clf, data.train_x, data.train_y),
        "n_train": len(data.train_y),
        "n_test": len(data.test_y),
        "generator": generator_report(gen_net, clf, cfg.latent_dim, cfg.report_n, rng),
        "data_diversity": _data_diversity(data),
        "gan_seconds": gan_seconds,
        "classifier_seconds": clf_seconds,
        "torch": torch.__version__,
    }
    atomic_save(folder / "generator.pt", gen_net.state_dict())
    atomic_save(folder / "classifier.pt", clf.state_dict())
    atomic_write_json(folder / "report.json", report)
    atomic_write_json(folder / "config.json", cfg.as_dict())  # last: the folder is now complete


def _data_diversity(data: Digits) -> list[float]:
    """Mean pairwise distance of the real test images of each class (a diversity reference)."""
    return [round(mean_pairwise_distance(data.test_x[data.test_y == k]), 4) for k in range(10)]


def _load_weights(path: Path) -> dict:
    """A cached state dict (``weights_only=True``); :class:`DamagedFileError` if unreadable."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError,
            zipfile.BadZipFile) as exc:  # fmt: skip
        raise DamagedFileError(path, f"cannot load ({exc}); retrain with --force") from None


def _load_folder(cfg: GanTrainConfig, folder: Path) -> tuple[Generator, Classifier, dict]:
    gen_net = Generator(cfg.latent_dim, cfg.g_hidden)
    gen_net.load_state_dict(_load_weights(folder / "generator.pt"))
    clf = Classifier(cfg.c_hidden, cfg.c_dropout)
    clf.load_state_dict(_load_weights(folder / "classifier.pt"))
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    for net in (gen_net, clf):
        net.requires_grad_(False)
        net.eval()
    return gen_net, clf, report


def _is_complete(run: RunDir, cfg: GanTrainConfig) -> bool:
    if not all(run.file(f).exists() for f in _FILES):
        return False
    try:
        return run.read_config() == cfg.as_dict()
    except DamagedFileError:
        return False


def _train_locked(cfg: GanTrainConfig, run: RunDir, force: bool, progress: bool) -> bool:
    """Train ``cfg`` into ``run`` holding its lock; False when a process that held the lock first
    left the folder complete (and ``force`` is not set), so there was nothing to train."""
    while True:
        try:
            run.acquire()
            break
        except RunLocked as exc:
            _say(progress, f"[gan] {exc}; waiting for it")
            run.wait_unlocked()
    try:
        complete = _is_complete(run, cfg)
        if complete and not force:
            return False
        if not complete:
            run.clear()  # a foreign, damaged or half-trained folder
        _say(progress, f"[gan] training models {cfg.key()} into {run.path}")
        _train_into(cfg, run.path, progress)
    finally:
        run.release()
    return True


def load_models(
    config: GanTrainConfig | str = "default",
    *,
    cache_dir: str | os.PathLike | None = None,
    train: bool = True,
    force: bool = False,
    progress: bool = False,
) -> TrainedModels:
    """The cached models of ``config`` (a :class:`GanTrainConfig` or a preset name), training and
    caching them first when missing.

    Args:
        cache_dir: root of the cache (default :func:`cache_root`); models live in ``<root>/<key>``.
        train: when False, a missing cache raises ``FileNotFoundError`` instead of training.
        force: retrain even if cached (the new folder replaces the old one).
        progress: print training progress to stderr.
    """
    cfg = get_preset(config) if isinstance(config, str) else config
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    run = RunDir(root / cfg.key())
    trained_now = False
    if force or not _is_complete(run, cfg):
        if not train:
            raise FileNotFoundError(
                f"no cached GAN models for key {cfg.key()} in {root}; "
                "run python -m ads_bench.gan.train_models"
            )
        trained_now = _train_locked(cfg, run, force, progress)
    gen_net, clf, report = _load_folder(cfg, run.path)
    return TrainedModels(gen_net, clf, cfg, report, run.path, trained_now)


# ---------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m ads_bench.gan.train_models", description=__doc__.splitlines()[0]
    )
    p.add_argument("--preset", default="default", choices=sorted(PRESETS))
    p.add_argument("--latent-dim", type=int, help="override the preset's latent dimension")
    p.add_argument("--seed", type=int, help="override the preset's seed")
    p.add_argument("--cache", help=f"cache root (default: {cache_root()})")
    p.add_argument("--force", action="store_true", help="retrain even if cached")
    p.add_argument("--dry-run", action="store_true", help="print the config and its folder")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    pairs = (("latent_dim", args.latent_dim), ("seed", args.seed))
    changes = {k: v for k, v in pairs if v is not None}
    cfg = get_preset(args.preset, **changes)
    root = Path(args.cache) if args.cache else cache_root()
    if args.dry_run:
        print(json.dumps({"config": cfg.as_dict(), "folder": str(root / cfg.key())}, indent=2))
        return 0
    start = time.perf_counter()
    models = load_models(cfg, cache_dir=root, force=args.force, progress=not args.quiet)
    what = "trained" if models.trained_now else "cached"
    print(json.dumps({"folder": str(models.path), "status": what, **models.report}, indent=2))
    print(f"{what} in {time.perf_counter() - start:.1f} s: {models.path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
