"""Conditional sampling in a GAN's latent space: the high-dimensional target of README "GAN-latent
conditional sampling" (the paper's high-dimensional demonstration).

For a generator G: R^d -> images and a classifier c(. | image) over K classes,

    p(z | y) ∝ N(z; 0, I) · c(y | G(z))^β,
    log_prob(z) = -|z|^2 / 2 - (d / 2) log 2π + β · log_softmax(c(G(z)))_y,

a "posterior" over latents that decode to images of class y (β > 1 sharpens it, β < 1 flattens
it towards the prior). The log-softmax keeps the density finite and differentiable in z everywhere
(no masking). ``log_z`` is unknown (``None``) and there are no exact samples (``has_sample`` is
False), so evaluation reports ELBO, IS log Z and ESS only. Since
Z = E_{N(0, I)}[c(y | G(z))^β] with c ∈ (0, 1], :func:`ads_bench.gan.prior_log_z` estimates it
by Monte Carlo for reference.

Built-in pair (the default): the MLP generator and classifier of :mod:`ads_bench.gan`, which owns
them and their on-disk cache: this module asks :func:`ads_bench.gan.load_models` for a preset's
pair, which the gan layer trains on scikit-learn's 8x8 digits on first use and caches
(``python -m ads_bench.gan.train_models``; cache ``$ADS_BENCH_CACHE/gan`` or
``~/.cache/ads_bench/gan``). By name, as configs and worker
processes need it (options after ``:``, ``key=value`` separated by commas)::

    gan-latent                                  # y = 3, β = 1, the "default" models, d = 32
    gan-latent:y=7,beta=2                       # class 7, β = 2
    gan-latent:y=7,models=smoke                 # the seconds-to-train test models
    gan-latent:y=0,latent_dim=64,model_seed=1   # models trained with another config (cached apart)

User-supplied pair (the hook for e.g. a StyleGAN and an attribute classifier): any two
``torch.nn.Module`` files, loaded by :func:`load_module` (a ``torch.export`` program, TorchScript,
or a whole module pickled by ``torch.save(module)``), or two modules passed to the constructor::

    target = GanLatentTarget.from_files("G.pt", "c.pt", latent_dim=512, y=1, beta=1.0)
    # or by name, e.g. in a config:  gan-latent:generator=/ckpt/G.pt,classifier=/ckpt/c.pt,latent_dim=512,y=1

The generator takes latents ``[B, d]`` and returns any tensor ``[B, ...]`` the classifier accepts;
the classifier returns logits ``[B, K]`` (``latent_dim`` may be omitted if the generator has a
``latent_dim`` attribute). Paths in a name cannot contain ``,``; pickled modules run arbitrary code
when loaded, so load only files you trust. Both modules are frozen (``requires_grad=False``, always
in eval mode) and follow ``.to(device, dtype)`` with the target.

Shapes: ``log_prob`` ``[..., d] -> [...]``; ``class_log_probs`` ``[..., d] -> [..., K]``;
``decode`` ``[..., d] -> [..., *image_shape]``.
"""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .base import Target

__all__ = ["DEFAULT_BETA", "DEFAULT_CLASS", "GanLatentTarget", "gan_latent", "load_module"]

DEFAULT_CLASS = 3
DEFAULT_BETA = 1.0
#: option names accepted by :func:`gan_latent` (and so by ``gan-latent:key=value,...``)
OPTIONS = ("y", "beta", "models", "latent_dim", "model_seed", "generator", "classifier")
_LOG_2PI = math.log(2.0 * math.pi)


def _archive_kind(path: Path) -> str:
    """``"export"``, ``"torchscript"`` or ``"pickle"``: what kind of torch archive ``path`` is."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:
        return "pickle"  # legacy (non-zip) torch.save format
    if any(n.endswith("/archive_format") for n in names):
        return "export"
    if any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names):
        return "torchscript"
    return "pickle"


def load_module(path: str | os.PathLike, map_location: str = "cpu") -> nn.Module:
    """A ``torch.nn.Module`` from ``path``, by the kind of archive found there:
    a ``torch.export`` program (``torch.export.save``; export it in eval mode with a dynamic batch
    dimension), TorchScript (``torch.jit.save``; deprecated by PyTorch but still read), or a whole
    pickled module (``torch.save(module)``; unpickling runs code from the file: trust it)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no module file at {path}")
    kind = _archive_kind(path)
    if kind == "export":
        with open(path, "rb") as fh:  # a buffer: torch.export only accepts names ending in .pt2
            return torch.export.load(fh).module()
    if kind == "torchscript":
        return torch.jit.load(str(path), map_location=map_location)
    obj = torch.load(path, map_location=map_location, weights_only=False)
    if not isinstance(obj, nn.Module):
        raise TypeError(
            f"{path} holds a {type(obj).__name__}, not a torch.nn.Module; save the whole module "
            "(torch.save(module, path)), a torch.export program or TorchScript, not a state_dict"
        )
    return obj


def _freeze(module: nn.Module) -> None:
    """No gradients for the parameters; eval mode where the module has modes (an exported
    program has none: it runs as traced)."""
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        module.eval()
    except NotImplementedError:
        pass


def _check_class(y: Any) -> int:
    if isinstance(y, bool) or not isinstance(y, (int, float)) or int(y) != y:
        raise ValueError(f"gan-latent: class y must be an integer, got {y!r}")
    return int(y)


def _check_beta(beta: Any) -> float:
    try:
        value = float(beta)
    except (TypeError, ValueError):
        raise ValueError(f"gan-latent: beta must be a positive number, got {beta!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"gan-latent: beta must be positive and finite, got {beta!r}")
    return value


class GanLatentTarget(Target):
    """``log N(z; 0, I) + β log c(y | G(z))`` over latents ``z ∈ R^d`` (module docstring).

    Args:
        generator: ``[B, d] -> [B, ...]`` images (any ``nn.Module``).
        classifier: ``[B, ...] -> [B, K]`` logits.
        latent_dim: ``d``; defaults to ``generator.latent_dim``.
        y: the class to condition on, ``0 <= y < K``.
        beta: the temperature exponent ``β > 0`` of the classifier term.
        name: identifier.
        info: free description of where the models come from (kept in ``extra_repr``).
    """

    name = "gan-latent"

    def __init__(
        self,
        generator: nn.Module,
        classifier: nn.Module,
        *,
        latent_dim: int | None = None,
        y: int = DEFAULT_CLASS,
        beta: float = DEFAULT_BETA,
        name: str = "gan-latent",
        info: dict[str, Any] | None = None,
    ):
        if not isinstance(generator, nn.Module) or not isinstance(classifier, nn.Module):
            raise TypeError("gan-latent: generator and classifier must be torch.nn.Module objects")
        if latent_dim is None:
            latent_dim = getattr(generator, "latent_dim", None)
            if latent_dim is None:
                raise ValueError(
                    "gan-latent: give latent_dim (the generator has no latent_dim attribute)"
                )
        super().__init__(int(latent_dim), name=name, log_z=None)
        self.generator = generator
        self.classifier = classifier
        _freeze(generator)
        _freeze(classifier)
        self.y = _check_class(y)
        self.beta = _check_beta(beta)
        self.info = dict(info or {})
        with torch.no_grad():  # probe the pair once: shapes and the number of classes
            z = torch.zeros(2, self.dim, dtype=self.module_dtype, device=self._default_device())
            try:
                images = generator(z)
                logits = classifier(images)
            except Exception as exc:
                raise ValueError(
                    f"gan-latent: the generator/classifier pair fails on latents [2, {self.dim}]: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
        if logits.ndim != 2 or logits.shape[0] != 2:
            raise ValueError(
                f"gan-latent: the classifier must return logits [B, K], got {list(logits.shape)}"
            )
        self.num_classes = int(logits.shape[1])
        self.image_shape = tuple(images.shape[1:])
        if not 0 <= self.y < self.num_classes:
            raise ValueError(
                f"gan-latent: class y={self.y} is outside 0..{self.num_classes - 1} "
                f"(the classifier has {self.num_classes} classes)"
            )

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_files(
        cls,
        generator_path: str | os.PathLike,
        classifier_path: str | os.PathLike,
        *,
        latent_dim: int | None = None,
        y: int = DEFAULT_CLASS,
        beta: float = DEFAULT_BETA,
        map_location: str = "cpu",
    ) -> GanLatentTarget:
        """The user hook: a generator and a classifier loaded by :func:`load_module`."""
        info = {"generator": str(generator_path), "classifier": str(classifier_path)}
        return cls(
            load_module(generator_path, map_location), load_module(classifier_path, map_location),
            latent_dim=latent_dim, y=y, beta=beta, info=info,
        )  # fmt: skip

    @classmethod
    def from_preset(
        cls,
        models: str = "default",
        *,
        y: int = DEFAULT_CLASS,
        beta: float = DEFAULT_BETA,
        cache_dir: str | os.PathLike | None = None,
        **changes: Any,
    ) -> GanLatentTarget:
        """The built-in digits pair of preset ``models`` (with config ``changes``, e.g.
        ``latent_dim=64``), as :func:`ads_bench.gan.load_models` gives it (cached, or trained and
        cached on first use)."""
        from ads_bench.gan import get_preset, load_models

        trained = load_models(get_preset(models, **changes), cache_dir=cache_dir)
        info = {"models": models, "key": trained.config.key(), "path": str(trained.path)}
        return cls(trained.generator, trained.classifier, y=y, beta=beta, info=info)

    # ------------------------------------------------------------------ the density
    @property
    def module_dtype(self) -> torch.dtype:
        """Floating dtype of the pair's parameters (float32 if it has none)."""
        for t in (*self.generator.parameters(), *self.generator.buffers()):
            if t.is_floating_point():
                return t.dtype
        return torch.float32

    def train(self, mode: bool = True) -> GanLatentTarget:
        """Sets the target's own mode only: the frozen pair stays in eval mode (dropout off, no
        running-statistics updates)."""
        self.training = mode
        for child in self.children():
            if child is not self.generator and child is not self.classifier:
                child.train(mode)
        return self

    def decode(self, z: Tensor) -> Tensor:
        """``G(z)``: ``[..., d] -> [..., *image_shape]`` (computed in the pair's dtype)."""
        lead = z.shape[:-1]
        flat = z.reshape(-1, self.dim).to(self.module_dtype)
        if flat.shape[0] == 0:
            return flat.new_zeros(*lead, *self.image_shape)
        return self.generator(flat).reshape(*lead, *self.image_shape)

    def class_log_probs(self, z: Tensor) -> Tensor:
        """``log c(. | G(z))``: ``[..., d] -> [..., K]`` (log-softmax of the logits, in z's dtype)."""
        lead = z.shape[:-1]
        flat = z.reshape(-1, self.dim)
        if flat.shape[0] == 0:
            return flat.new_zeros(*lead, self.num_classes)
        logits = self.classifier(self.generator(flat.to(self.module_dtype)))
        return torch.log_softmax(logits.to(z.dtype), dim=-1).reshape(*lead, self.num_classes)

    def _log_prob(self, x: Tensor) -> Tensor:
        log_prior = -0.5 * x.square().sum(-1) - 0.5 * self.dim * _LOG_2PI
        if x.numel() == 0:
            return log_prior
        return log_prior + self.beta * self.class_log_probs(x)[..., self.y]

    def extra_repr(self) -> str:
        extra = "".join(f", {k}={v}" for k, v in self.info.items())
        return (
            f"{super().extra_repr()}, y={self.y}, beta={self.beta:g}, "
            f"num_classes={self.num_classes}{extra}"
        )


def gan_latent(**options: Any) -> GanLatentTarget:
    """Factory of the registered name ``gan-latent`` (options: :data:`OPTIONS`).

    ``y`` (class, default 3), ``beta`` (β > 0, default 1), and either ``models`` (a preset of
    :data:`ads_bench.gan.PRESETS`, default ``"default"``) with optional ``latent_dim`` and
    ``model_seed`` (training-config changes), or ``generator`` and ``classifier`` (paths of a
    user pair, see :meth:`GanLatentTarget.from_files`) with optional ``latent_dim``.
    """
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(
            f"gan-latent: unknown option(s) {unknown}; valid options: {', '.join(OPTIONS)}"
        )
    y = _check_class(options.get("y", DEFAULT_CLASS))
    beta = _check_beta(options.get("beta", DEFAULT_BETA))
    user = [k for k in ("generator", "classifier") if k in options]
    if user:
        if len(user) != 2:
            raise ValueError("gan-latent: give both generator= and classifier= paths, or neither")
        clash = sorted({"models", "model_seed"} & set(options))
        if clash:
            raise ValueError(f"gan-latent: {clash} apply to the built-in models, not to user files")
        latent_dim = options.get("latent_dim")
        return GanLatentTarget.from_files(
            str(options["generator"]), str(options["classifier"]),
            latent_dim=None if latent_dim is None else int(latent_dim), y=y, beta=beta,
        )  # fmt: skip
    changes: dict[str, Any] = {}
    if "latent_dim" in options:
        changes["latent_dim"] = int(options["latent_dim"])
    if "model_seed" in options:
        changes["seed"] = int(options["model_seed"])
    if not 0 <= y < 10:  # fail before any training: the built-in classifier has ten digits
        raise ValueError(f"gan-latent: class y={y} is outside 0..9 (the digits)")
    return GanLatentTarget.from_preset(str(options.get("models", "default")), y=y, beta=beta,
                                       **changes)  # fmt: skip
