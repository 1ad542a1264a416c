"""Train the generator and classifier of the GAN-latent experiment into the cache.

    python -m ads_bench.gan.train_models                   # the "default" preset (about 2 minutes)
    python -m ads_bench.gan.train_models --preset smoke    # seconds; for tests (quality is poor)
    python -m ads_bench.gan.train_models --latent-dim 64 --seed 1 --force --dry-run

README "GAN-latent conditional sampling" needs a generator G and a classifier c; nothing pretrained
can be downloaded, so both are trained here on scikit-learn's bundled 8x8 digits
(:mod:`ads_bench.gan.data`):

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
config trains to the same weights in any process. :func:`ads_bench.gan.load_models`
(:mod:`ads_bench.gan.cache`) calls :func:`train_into` when a pair is not cached; this module's CLI
fills the cache ahead of time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ads_bench.atomic_files import atomic_save, atomic_write_json
from ads_bench.runtime import single_threaded

from .cache import PRESETS, GanTrainConfig, cache_root, get_preset, load_models, say
from .data import Digits, load_digits
from .metrics import classifier_accuracy, generator_report, mean_pairwise_distance
from .models import Classifier, Discriminator, Generator

__all__ = ["main", "train_classifier", "train_gan", "train_into"]


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
            losses = f"loss_d={float(loss_d.detach()):.3f} loss_g={float(loss_g.detach()):.3f}"
            say(True, f"[gan] step {step + 1}/{cfg.gan_steps} {losses}")
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
            say(True, f"[classifier] step {step + 1}/{cfg.c_steps} loss={float(loss.detach()):.3f}")
    net.requires_grad_(False)
    return net.eval()


def train_into(cfg: GanTrainConfig, folder: Path, progress: bool = False) -> None:
    """Train ``cfg``'s pair and write its cache files into ``folder`` (the caller holds its lock).

    Small networks train fastest on one thread, and then identically on every machine."""
    with single_threaded():
        _train_into_1(cfg, folder, progress)


def _train_into_1(cfg: GanTrainConfig, folder: Path, progress: bool) -> None:
    """:func:`train_into`'s body: data, both trainings, the report, then the files."""
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


# ---------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    """``python -m ads_bench.gan.train_models``: train (or find cached) the pair of a preset."""
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
