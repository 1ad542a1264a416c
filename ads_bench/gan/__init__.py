"""The generator/classifier pair behind the ``gan-latent`` target (SPEC section 6).

- :mod:`ads_bench.gan.data`          scikit-learn's bundled 8x8 digits, scaled to [-1, 1], seeded split;
- :mod:`ads_bench.gan.models`        the MLP generator, discriminator and classifier;
- :mod:`ads_bench.gan.train_models`  seeded training and the on-disk cache
  (CLI ``python -m ads_bench.gan.train_models``);
- :mod:`ads_bench.gan.metrics`       classifier accuracy, generator digit rate, conditional sample
  statistics (mean log c(y | G(z)), share of class y, diversity) and Monte-Carlo references.

Importing this package trains nothing and does not import scikit-learn; models are trained on first
use by :func:`load_models` (or the ``gan-latent`` target) and cached.
"""

from .metrics import (
    classifier_accuracy,
    conditional_metrics,
    generator_report,
    mean_pairwise_distance,
    prior_log_z,
    sir_latents,
)
from .models import Classifier, Discriminator, Generator

_LAZY = ("PRESETS", "GanTrainConfig", "TrainedModels", "cache_root", "get_preset", "load_models")


def __getattr__(name: str):
    # train_models is imported on first use only, so ``python -m ads_bench.gan.train_models`` does
    # not find it already imported (runpy warns about that) and importing the package stays light.
    if name in _LAZY:
        from . import train_models

        return getattr(train_models, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "PRESETS",
    "Classifier",
    "Discriminator",
    "GanTrainConfig",
    "Generator",
    "TrainedModels",
    "cache_root",
    "classifier_accuracy",
    "conditional_metrics",
    "generator_report",
    "get_preset",
    "load_models",
    "mean_pairwise_distance",
    "prior_log_z",
    "sir_latents",
]
