"""Unnormalised target densities with exact samples and log Z (README *Targets*).

Each target defines ``p(x) = exp(log_prob(x)) / Z`` on R^d; ``log R(x) = log_prob(x)``.

======== ==== ================================================================ ===========
name     d    definition                                                       log Z
======== ==== ================================================================ ===========
gmm25    2    25 equal Gaussians, means {-10,-5,0,5,10}^2, covariance 0.3 I    0
gmm40    2    40 equal Gaussians, means 40 x packaged locations, covariance I  0
gmm9     2    9 equal Gaussians, means {-5,0,5}^2, covariance 0.3 I            0
funnel   10   x_0 ~ N(0, 3^2), x_{1..9} | x_0 ~ N(0, e^{x_0} I)                0
manywell 32   16 blocks -a^4 + 6a^2 + a/2 - b^2/2; a at even, b at odd indices 164.69568
======== ==== ================================================================ ===========

and ``gan-latent`` (d = 32 by default; README *GAN-latent conditional sampling*): p(z | y) ∝ N(z; 0, I) c(y | G(z))^β for a
digits GAN's generator G and a classifier c, no exact samples, log Z unknown; options by name, e.g.
``gan-latent:y=7,beta=2`` (:mod:`ads_bench.targets.gan_latent`).

Use :func:`get_target` to build one by name, ``"module:attribute"`` import path or object, and
:func:`check_target` to probe a resolved one once (raises :class:`TargetError`).
"""

from .adapter import WrappedTarget, wrap_target
from .base import Target, TargetError
from .check import check_target
from .funnel import Funnel
from .gan_latent import GanLatentTarget, load_module
from .gmm import GaussianMixture, gmm9, gmm25, gmm40, load_gmm40_unit_locs
from .manywell import DOUBLE_WELL_LOG_Z, DOUBLE_WELL_Z, ManyWell, sample_double_well
from .registry import (
    TARGETS,
    UnknownTargetError,
    get_target,
    parse_target_options,
    register_target,
)

__all__ = [
    "DOUBLE_WELL_LOG_Z",
    "DOUBLE_WELL_Z",
    "TARGETS",
    "Funnel",
    "GanLatentTarget",
    "GaussianMixture",
    "ManyWell",
    "Target",
    "TargetError",
    "UnknownTargetError",
    "WrappedTarget",
    "check_target",
    "get_target",
    "gmm9",
    "gmm25",
    "gmm40",
    "load_gmm40_unit_locs",
    "load_module",
    "parse_target_options",
    "register_target",
    "sample_double_well",
    "wrap_target",
]
