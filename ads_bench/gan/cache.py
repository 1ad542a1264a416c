"""The generator/classifier pair of the GAN-latent experiment: its configs and its on-disk cache.

README "GAN-latent conditional sampling": nothing pretrained can be downloaded, so the pair is
trained here (:mod:`ads_bench.gan.train_models`) on first use and cached. :func:`load_models` is the
one way to get a pair: it loads the cached one, or trains and caches it first.

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

import dataclasses
import hashlib
import json
import os
import pickle
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ads_bench.store import DamagedFileError, RunDir, RunLocked

from .models import Classifier, Generator

__all__ = ["PRESETS", "GanTrainConfig", "TrainedModels", "cache_root", "get_preset", "load_models"]

#: What ``torch.load`` raises for a damaged or foreign weights file.
_UNREADABLE = (
    RuntimeError,
    EOFError,
    OSError,
    ValueError,
    pickle.UnpicklingError,
    zipfile.BadZipFile,
)
#: The files of a complete cache folder.
FILES = ("generator.pt", "classifier.pt", "config.json", "report.json")


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
        """The config as a plain dict (``config.json``)."""
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
        g_hidden=64,
        d_hidden=64,
        gan_steps=1000,
        g_ema=0.99,
        c_hidden=64,
        c_steps=300,
        report_n=500,
    ),
}


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


def say(progress: bool, text: str) -> None:
    """Print ``text`` to stderr when ``progress`` is on (training and cache messages)."""
    if progress:
        print(text, file=sys.stderr, flush=True)


@dataclass
class TrainedModels:
    """A frozen generator/classifier pair with its config, report and cache folder."""

    generator: Generator
    classifier: Classifier
    config: GanTrainConfig
    report: dict[str, Any]
    path: Path
    trained_now: bool = False


def _load_weights(path: Path) -> dict:
    """A cached state dict (``weights_only=True``); :class:`DamagedFileError` if unreadable."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except _UNREADABLE as exc:
        raise DamagedFileError(path, f"cannot load ({exc}); retrain with --force") from None


def _load_folder(cfg: GanTrainConfig, folder: Path) -> tuple[Generator, Classifier, dict]:
    """The frozen pair and report of a complete cache folder."""
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
    """Whether ``run`` holds every file of ``cfg``'s pair (``config.json`` written last)."""
    if not all(run.file(f).exists() for f in FILES):
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
            say(progress, f"[gan] {exc}; waiting for it")
            run.wait_unlocked()
    try:
        complete = _is_complete(run, cfg)
        if complete and not force:
            return False
        if not complete:
            run.clear()  # a foreign, damaged or half-trained folder
        say(progress, f"[gan] training models {cfg.key()} into {run.path}")
        # The training code (and its scikit-learn data) is imported only when a pair is trained.
        from .train_models import train_into

        train_into(cfg, run.path, progress)
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
