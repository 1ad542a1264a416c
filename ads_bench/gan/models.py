"""The small networks of the GAN-latent experiment: generator G, discriminator D, classifier c.

README *GAN-latent conditional sampling*: the target is p(z | y) ∝ N(z; 0, I) · c(y | G(z))^β for a generator G from a
latent space R^d (d = ``latent_dim``) to 8x8 grey images and a classifier c over the ten digits.
All three are multilayer perceptrons: on 8x8 images they train in seconds to minutes on a CPU and
cost almost nothing inside a sampler's training loop (the target is evaluated on every batch).

- :class:`Generator`: ``z [B, d] -> images [B, 1, 8, 8]`` in [-1, 1] (``tanh`` output).
- :class:`Discriminator`: ``images [B, 1, 8, 8] -> logits [B]`` (real vs generated), spectrally
  normalised linear layers (Miyato et al. 2018) for a stable adversarial game without tuning.
- :class:`Classifier`: ``images [B, 1, 8, 8] -> logits [B, 10]``; dropout regularises it (and is
  off in ``eval()`` mode, in which the target always runs it).

No batch normalisation anywhere, so a module behaves the same in training and in evaluation mode
(the frozen target never depends on running statistics).
"""

from __future__ import annotations

import math

from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from .data import IMAGE_SHAPE, NUM_CLASSES

__all__ = ["Classifier", "Discriminator", "Generator"]

_PIXELS = math.prod(IMAGE_SHAPE)


class Generator(nn.Module):
    """``G: R^d -> [-1, 1]^{1x8x8}``, an MLP ``d -> hidden -> hidden -> 64`` with LeakyReLU."""

    def __init__(self, latent_dim: int = 32, hidden: int = 256):
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, _PIXELS),
            nn.Tanh(),
        )

    def forward(self, z: Tensor) -> Tensor:
        """``z [B, d] -> images [B, 1, 8, 8]``."""
        return self.net(z).view(-1, *IMAGE_SHAPE)


class Discriminator(nn.Module):
    """``D: [-1, 1]^{1x8x8} -> R`` (logit of "real"), a spectrally normalised MLP."""

    def __init__(self, hidden: int = 256):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            spectral_norm(nn.Linear(_PIXELS, hidden)),
            nn.LeakyReLU(0.2),
            spectral_norm(nn.Linear(hidden, hidden)),
            nn.LeakyReLU(0.2),
            spectral_norm(nn.Linear(hidden, 1)),
        )

    def forward(self, images: Tensor) -> Tensor:
        """``images [B, 1, 8, 8] -> logits [B]``."""
        return self.net(images).squeeze(-1)


class Classifier(nn.Module):
    """``c: [-1, 1]^{1x8x8} -> logits over the 10 digits``, an MLP with dropout."""

    def __init__(self, hidden: int = 256, dropout: float = 0.2):
        super().__init__()
        self.num_classes = NUM_CLASSES
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(_PIXELS, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, NUM_CLASSES),
        )

    def forward(self, images: Tensor) -> Tensor:
        """``images [B, 1, 8, 8] -> logits [B, 10]``."""
        return self.net(images)
