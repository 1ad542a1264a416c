"""Run configuration: frozen dataclasses, method presets and ``section.field=value`` overrides.

A run is fully described by a :class:`Config`; its ``as_dict()`` is written beside every result, and
its ``key()`` (a hash of that dict) identifies finished runs. The methods of the paper's Table 1
are presets: named sets of overrides applied on top of the defaults
(:data:`ads_bench.methods.METHODS`), each of which a user can override again, field by field, with
``--set sampler.r_a=2`` on the command line or ``config.with_overrides({"sampler.r_a": 2})`` in
Python (parsed and applied by :mod:`ads_bench.config_overrides`); :meth:`Config.validate` checks a
config up front (:mod:`ads_bench.config_validation`).

Defaults follow the closest earlier work (Sendera et al. 2024; README *Training a sampler*):
batch 300, Adam lr 1e-3 for generation and destruction, 1e-1 for log Z, 25 000 iterations.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = [
    "RENAMED",
    "SECTIONS",
    "Config",
    "EvalConfig",
    "SamplerConfig",
    "TrainConfig",
    "field_type",
    "resolve_annotation",
]


@dataclass(frozen=True)
class SamplerConfig:
    """The processes (the paper's generation and destruction processes; README *Training a
    sampler*): each field is the keyword argument of the same name of
    :class:`ads_bench.sampler.Sampler`, which :meth:`~ads_bench.sampler.Sampler.from_config` builds.

    ``t_scale`` (sigma^2) ``None`` means the target's default: 5 for the 2-D mixtures, 1 otherwise.
    ``prior_std`` (sigma_0 of the gaussian prior) ``None`` means ``sqrt(t_scale)``: the spread the
    pinned Brownian reference reaches at t = 1. ``scheme`` is ``"default"``
    (:func:`ads_bench.schemes.default_scheme`) or the ``"module:attr"`` import path of another
    discretisation (e.g. ``baselines.dds:scheme``);
    ``beta_min``/``beta_max`` parameterise the VP noise schedule of the gaussian-prior schemes.
    ``r_a`` and ``r_m`` bound the ``adaptive`` destruction's log-variance and mean corrections
    (``log v + r_a tanh(b / r_a)``, ``c x + dt r_m tanh(a / r_m)``); ``None`` leaves that correction
    unbounded (the default for ``r_m``: mean ``c x + dt a``). Other destruction modes ignore both.
    ``backbone`` (learned destructions only; :data:`ads_bench.sampler.BACKBONES`) says which
    parameters shape the destruction and which optimiser owns them: ``"separate"`` (its own trunk,
    in the destruction group at ``train.lr_dest``), ``"shared"`` (the generation trunk, trained by
    both processes' gradients as group ``trunk`` at ``train.lr_trunk``; heads at ``lr_gen`` /
    ``lr_dest``) or ``"shared-detached"`` (the generation trunk, trained by the generation's
    gradient only, at ``lr_gen``; the destruction's loss trains its head alone, at ``lr_dest``).
    """

    steps: int = 10
    t_scale: float | None = None
    prior: str = "pinned"
    prior_std: float | None = None
    scheme: str = "default"
    beta_min: float = 0.1
    beta_max: float = 20.0
    learn_var: bool = False
    r_f: float = 4.0
    langevin: bool = False
    destruction: str = "fixed"
    r_b: float = 1.0
    r_a: float | None = 4.0
    r_m: float | None = None
    backbone: str = "separate"
    hidden: int = 64
    layers: int = 2
    n_freq: int = 64


@dataclass(frozen=True)
class TrainConfig:
    """Objective, optimisation and stabilisers (README *Training a sampler*).

    - ``objective``: ``tb`` | ``vargrad`` | ``kl`` (reverse KL, reparameterised) | ``tlm``.
    - ``separate_optimizers``: one Adam per parameter group at its own learning rate; False gives
      the destruction network and a shared trunk the generation learning rate (log Z keeps
      ``lr_logz``).
    - ``lr_trunk``: learning rate of the shared trunk with ``sampler.backbone="shared"`` (its own
      parameter group, trained by both processes' gradients); unused otherwise.
    - ``target_rate``: EMA rate of the destruction target network used inside the generation loss;
      ``None`` disables it (``tlm`` requires it).
    - ``exploration_std``: extra sampling noise, decayed linearly to 0 over ``exploration_share`` of
      training; never enters log-probabilities.
    - ``replay_ratio``: share of iterations trained on off-policy trajectories (terminal states from
      the replay buffer noised back by the destruction process); ``replay_prioritized`` uses
      rank-based priority 1 / (k N + rank).
    - ``impl``: ``auto`` | ``fused`` | ``reference`` for every op (``reference`` for comparison).
    - ``compile``: hand each batch's rollout + objective to ``torch.compile`` (full graph); the
      backward pass and the optimiser steps run on the compiled graph's autograd.
    - ``threads``: torch intra-op threads while this run trains and evaluates. Part of the run's
      identity because multi-threaded matmuls round differently (training amplifies it); 1 is the
      sweep's setting, so the CLI and the sweep give identical numbers for the same config.
    """

    objective: str = "tb"
    iterations: int = 25_000
    batch_size: int = 300
    lr_gen: float = 1e-3
    lr_dest: float = 1e-3
    lr_logz: float = 1e-1
    lr_trunk: float = 1e-3
    separate_optimizers: bool = True
    grad_clip: float | None = None
    target_rate: float | None = None
    exploration_std: float = 0.0
    exploration_share: float = 0.5
    replay_ratio: float = 0.0
    replay_capacity: int = 10_000
    replay_prioritized: bool = True
    replay_k: float = 0.01
    impl: str = "auto"
    compile: bool = False
    device: str = "cpu"
    dtype: str = "float32"
    checkpoint_every: int = 1000
    threads: int = 1


@dataclass(frozen=True)
class EvalConfig:
    """Periodic and final evaluation (README *Metrics*).

    ``steps`` (``--eval-steps K``): also evaluate the trained networks on a uniform grid of ``K``
    steps (the step-reduction control: "train with N steps, sample with fewer"); reported beside
    the metrics at the trained ``sampler.steps``.

    ``guard_elbo_gap``, ``guard_logw_std``: the divergence guard (:mod:`ads_bench.guard`): before
    every periodic evaluation, checkpoint and the final one, a run whose ELBO gap (nats, targets
    with a known log Z) or log-weight standard deviation exceeds its bound stops as *diverged*
    (``DivergenceError``, last good checkpoint kept); ``None`` switches a bound off.
    """

    every: int = 1000
    n: int = 2000
    sinkhorn_eps: float = 1e-3
    sample_metrics: bool = True
    steps: int | None = None
    guard_elbo_gap: float | None = 1e4
    guard_logw_std: float | None = 1e3


@dataclass(frozen=True)
class Config:
    """One run, fully described: the target (a registered name or ``"module:attr"``), the method
    (a preset name, :data:`ads_bench.methods.METHODS`), the seed, and the three sections."""

    target: str = "gmm25"
    method: str = "adaptive"
    seed: int = 0
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def as_dict(self) -> dict[str, Any]:
        """The config as nested plain dicts (what ``config.json`` and ``result.json`` hold)."""
        return dataclasses.asdict(self)

    def key(self) -> str:
        """Stable hash of the resolved configuration (identifies a run's result).

        Fields of :data:`_KEY_NEUTRAL` are left out while they hold their neutral value, so adding
        such a field does not change the keys (and orphan the results) of earlier runs.
        """
        data = self.as_dict()
        for (section, name), neutral in _KEY_NEUTRAL.items():
            if data[section][name] == neutral:
                del data[section][name]
        blob = json.dumps(data, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def validate(self) -> Config:
        """Check every field's type and range and the combinations that cannot run; return ``self``.

        The one validation of a configuration (:mod:`ads_bench.config_validation`): everything a
        user can set is checked up front, before a target is built or a network constructed.
        Raises ``ValueError`` naming the first offending field
        (``"train.lr_gen must be a finite number > 0, got -1.0"``).
        """
        from ads_bench.config_validation import check_types, check_values

        check_types(self)
        check_values(self)
        return self

    def with_overrides(self, overrides: dict[str, Any]) -> Config:
        """Apply ``{"section.field" or "field": value}``; values may be strings (parsed by type)."""
        from ads_bench.config_overrides import set_field

        cfg = self
        for dotted, value in overrides.items():
            cfg = set_field(cfg, dotted, value)
        return cfg

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """The config of a stored ``as_dict()`` (fields missing from an older record take their
        defaults; the renamed ``sampler.shared_backbone`` is read as ``sampler.backbone``)."""
        sections = {f.name: f.type for f in fields(cls)}
        kwargs = {}
        for name, value in data.items():
            if name not in sections:
                raise ValueError(f"unknown config field {name!r}; valid: {sorted(sections)}")
            sub = SECTIONS.get(name)
            if name == "sampler" and "shared_backbone" in value:  # a record from before the rename
                value = dict(value)
                value["backbone"] = "shared" if value.pop("shared_backbone") else "separate"
            kwargs[name] = sub(**value) if sub is not None else value
        return cls(**kwargs)


SECTIONS = {"sampler": SamplerConfig, "train": TrainConfig, "eval": EvalConfig}

#: Fields added after results were first keyed, with the value that reproduces the behaviour from
#: before they existed; :meth:`Config.key` omits them at that value.
_KEY_NEUTRAL: dict[tuple[str, str], Any] = {
    ("sampler", "r_m"): None,
    ("train", "threads"): 1,
    ("train", "lr_trunk"): 1e-3,
}
#: Fields that were renamed: ``--set`` of the old name says what replaced it.
RENAMED = {
    "sampler.shared_backbone": "sampler.backbone ('separate', 'shared' or 'shared-detached'; "
    "true meant 'shared' with the trunk at train.lr_trunk)",
}


def field_type(obj, name: str):
    """The annotation of field ``name`` of the dataclass (instance or class) ``obj``."""
    return next(f.type for f in fields(obj) if f.name == name)


def resolve_annotation(annotation: Any) -> tuple[type, bool]:
    """A field's annotation (a string under ``from __future__ import annotations``) as
    ``(base type, optional)``: ``"float | None"`` -> ``(float, True)``."""
    hint = annotation if not isinstance(annotation, str) else _ANNOTATIONS[annotation]
    args = typing.get_args(hint)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), hint) if args else hint
    return base, optional


_ANNOTATIONS = {
    "int": int,
    "float": float,
    "bool": bool,
    "str": str,
    "float | None": float | None,
    "int | None": int | None,
}
