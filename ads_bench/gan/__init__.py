"""The generator/classifier pair behind the ``gan-latent`` target (README "GAN-latent conditional
sampling").

- :mod:`ads_bench.gan.data`          scikit-learn's bundled 8x8 digits, scaled to [-1, 1], seeded split;
- :mod:`ads_bench.gan.models`        the MLP generator, discriminator and classifier;
- :mod:`ads_bench.gan.cache`         training configs, presets and the on-disk cache
  (:func:`load_models`: the cached pair, trained first when missing);
- :mod:`ads_bench.gan.train_models`  the seeded training
  (CLI ``python -m ads_bench.gan.train_models``);
- :mod:`ads_bench.gan.metrics`       classifier accuracy, generator digit rate, conditional sample
  statistics (mean log c(y | G(z)), share of class y, diversity) and Monte-Carlo references.

Importing this package trains nothing and does not import scikit-learn or the training code; models
are trained on first use by :func:`load_models` (which the ``gan-latent`` target asks for its pair)
and cached.
"""

from .cache import PRESETS, GanTrainConfig, TrainedModels, cache_root, get_preset, load_models
from .metrics import (
    classifier_accuracy,
    conditional_metrics,
    generator_report,
    mean_pairwise_distance,
    prior_log_z,
    sir_latents,
)
from .models import Classifier, Discriminator, Generator

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
