"""scikit-learn's bundled 8x8 handwritten digits, scaled for a GAN and split for a classifier.

The data set (UCI "Optical Recognition of Handwritten Digits", 1797 images of 8x8 pixels with
integer intensities 0..16, ten classes) ships inside scikit-learn, so nothing is downloaded.
Pixels are mapped affinely to [-1, 1] (``x / 8 - 1``), the range of the generator's ``tanh``.

The train/test split is a seeded, per-class (stratified) random permutation, so it is identical on
every machine for a given seed and both splits hold every class in the data's proportions.

Shapes: images ``[N, 1, 8, 8]`` float32 in [-1, 1]; labels ``[N]`` int64 in 0..9.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["IMAGE_SHAPE", "NUM_CLASSES", "Digits", "load_digits", "to_unit_range"]

IMAGE_SHAPE = (1, 8, 8)
NUM_CLASSES = 10
_MAX_INTENSITY = 16.0


@dataclass(frozen=True)
class Digits:
    """A seeded stratified split of the digits: ``*_x`` ``[N, 1, 8, 8]`` in [-1, 1], ``*_y`` ``[N]``."""

    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor


def to_unit_range(images: Tensor) -> Tensor:
    """Map generator-range images ([-1, 1]) to [0, 1] for display; same shape."""
    return ((images + 1.0) / 2.0).clamp(0.0, 1.0)


def _load_raw() -> tuple[Tensor, Tensor]:
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the GAN-latent experiment trains on scikit-learn's bundled digits: "
            "pip install scikit-learn (or pip install 'ads_bench[gan]')"
        ) from exc
    bunch = sk_load_digits()
    x = torch.as_tensor(bunch.images, dtype=torch.float32)  # [1797, 8, 8], 0..16
    y = torch.as_tensor(bunch.target, dtype=torch.int64)  # [1797]
    return x, y


def load_digits(test_fraction: float = 0.2, seed: int = 0) -> Digits:
    """The digits, scaled to [-1, 1], split per class with ``test_fraction`` held out.

    Args:
        test_fraction: share of each class held out for testing, in [0, 1).
        seed: seed of the split permutation (a private ``torch.Generator``).
    """
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    raw, labels = _load_raw()
    images = (raw / (_MAX_INTENSITY / 2.0) - 1.0).unsqueeze(1)  # [N, 1, 8, 8] in [-1, 1]
    gen = torch.Generator().manual_seed(seed)
    train_idx, test_idx = [], []
    for k in range(NUM_CLASSES):
        idx = torch.nonzero(labels == k).squeeze(1)
        idx = idx[torch.randperm(len(idx), generator=gen)]
        n_test = round(test_fraction * len(idx))
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    tr = torch.cat(train_idx)
    tr = tr[torch.randperm(len(tr), generator=gen)]  # classes interleaved
    te = torch.cat(test_idx)
    return Digits(images[tr], labels[tr], images[te], labels[te])
