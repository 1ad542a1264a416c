"""Metrics of the GAN-latent experiment: classifier accuracy, generator quality, and the conditional
sample statistics of README *GAN-latent conditional sampling* (mean log c(y | G(z)), share of class y, diversity).

Every function is a pure function of tensors or of frozen modules (no training, no global RNG: the
randomness comes from the ``generator`` argument).

The two Monte-Carlo references read the target through its prior:

    Z = ∫ N(z; 0, I) c(y | G(z))^β dz = E_{z ~ N(0, I)} [ c(y | G(z))^β ],

so ``prior_log_z`` (a log-mean-exp over prior draws) estimates log Z with bounded weights
(c^β ∈ (0, 1]), and ``sir_latents`` (sampling-importance-resampling of prior draws with weights
c^β) gives approximate samples of p(z | y) to compare a trained sampler with. Both are accurate
when the share of class y under the prior is not tiny (about 1/10 for a GAN covering all digits).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "classifier_accuracy",
    "conditional_metrics",
    "generator_report",
    "mean_pairwise_distance",
    "prior_log_z",
    "sir_latents",
]

#: a generated image counts as "a digit" when the classifier's top probability reaches this
CONFIDENT = 0.9


@torch.no_grad()
def classifier_accuracy(classifier: nn.Module, images: Tensor, labels: Tensor) -> float:
    """Share of ``images [N, ...]`` whose arg-max class equals ``labels [N]``."""
    was_training = classifier.training
    classifier.eval()
    pred = classifier(images).argmax(-1)
    classifier.train(was_training)
    return float((pred == labels).double().mean())


def mean_pairwise_distance(x: Tensor, max_n: int = 2000) -> float:
    """Mean Euclidean distance over all pairs i < j of the first ``max_n`` rows of ``x [N, ...]``
    (each row flattened); the diversity of a set of decoded images. NaN when N < 2."""
    flat = x.reshape(x.shape[0], -1)[:max_n].double()
    n = flat.shape[0]
    if n < 2:
        return math.nan
    dist = torch.cdist(flat, flat)  # [n, n]
    return float(dist.sum() / (n * (n - 1)))


@torch.no_grad()
def conditional_metrics(log_probs: Tensor, y: int, images: Tensor) -> dict[str, float]:
    """Statistics of latents ``z`` sampled for class ``y``.

    Args:
        log_probs: ``[N, K]`` classifier log-probabilities ``log c(. | G(z))``.
        y: the requested class.
        images: ``[N, ...]`` the decoded images ``G(z)``.
    Returns:
        ``mean_log_c`` (mean of log c(y | G(z))), ``share_y`` (share whose arg-max class is y),
        ``confident`` (share whose top probability is at least :data:`CONFIDENT`) and
        ``diversity`` (:func:`mean_pairwise_distance` of the images, pixels in [-1, 1]).
    """
    return {
        "mean_log_c": float(log_probs[:, y].double().mean()),
        "share_y": float((log_probs.argmax(-1) == y).double().mean()),
        "confident": float((log_probs.exp().amax(-1) >= CONFIDENT).double().mean()),
        "diversity": mean_pairwise_distance(images),
    }


@torch.no_grad()
def generator_report(
    generator: nn.Module,
    classifier: nn.Module,
    latent_dim: int,
    n: int,
    rng: torch.Generator,
) -> dict[str, Any]:
    """How digit-like the generator's samples are, judged by the classifier, from ``n`` prior draws.

    ``digit_rate``: share of G(z), z ~ N(0, I), classified with top probability >= ``CONFIDENT``;
    ``class_shares``: share of each arg-max class (a collapsed generator misses some);
    ``mean_top_prob`` and ``diversity`` (mean pairwise distance of the images)."""
    z = torch.randn(n, latent_dim, generator=rng)
    images = generator(z)
    probs = torch.softmax(classifier(images), dim=-1)
    top, pred = probs.max(-1)
    shares = torch.bincount(pred, minlength=probs.shape[-1]).double() / n
    return {
        "n": n,
        "digit_rate": float((top >= CONFIDENT).double().mean()),
        "mean_top_prob": float(top.double().mean()),
        "class_shares": [round(float(s), 4) for s in shares],
        "diversity": mean_pairwise_distance(images),
    }


def _prior_class_log_c(target, n: int, rng: torch.Generator, batch: int) -> tuple[Tensor, Tensor]:
    """``z [n, d]`` from N(0, I) and ``log c(y | G(z)) [n]`` (float64), in batches."""
    zs, lcs = [], []
    dtype = target.module_dtype
    for start in range(0, n, batch):
        z = torch.randn(min(batch, n - start), target.dim, generator=rng, dtype=dtype)
        zs.append(z)
        lcs.append(target.class_log_probs(z)[:, target.y].double())
    return torch.cat(zs), torch.cat(lcs)


@torch.no_grad()
def prior_log_z(target, n: int, rng: torch.Generator, batch: int = 10_000) -> dict[str, float]:
    """Monte-Carlo ``log Z = log E_{N(0, I)}[c(y | G(z))^β]`` from ``n`` prior draws.

    Returns ``log_z`` (the estimate), ``log_z_se`` (its delta-method standard error), ``ess`` of
    the weights c^β, and ``prior_elbo`` = β E_{N(0, I)}[log c(y | G(z))]: the ELBO of a sampler
    that ignores the classifier (the zero-drift generation process with fixed destruction)."""
    _, log_c = _prior_class_log_c(target, n, rng, batch)
    log_w = target.beta * log_c  # [n]
    log_z = torch.logsumexp(log_w, 0) - math.log(n)
    w = torch.exp(log_w - log_z)  # normalised to mean 1
    se = float(w.std() / math.sqrt(n))  # relative standard error of Z = SE of log Z
    ess = float(w.sum() ** 2 / (n * w.square().sum()))
    return {"log_z": float(log_z), "log_z_se": se, "ess": ess, "prior_elbo": float(log_w.mean())}


@torch.no_grad()
def sir_latents(target, n: int, n_prior: int, rng: torch.Generator, batch: int = 10_000) -> Tensor:
    """``n`` approximate draws of p(z | y), ``[n, d]``: sampling-importance-resampling of
    ``n_prior`` prior draws with weights c(y | G(z))^β (multinomial, with replacement)."""
    z, log_c = _prior_class_log_c(target, n_prior, rng, batch)
    probs = torch.softmax(target.beta * log_c, 0)
    idx = torch.multinomial(probs, n, replacement=True, generator=rng)
    return z[idx]
