"""Run configuration: frozen dataclasses, method presets and ``section.field=value`` overrides.

A run is fully described by a :class:`Config`; its ``as_dict()`` is written beside every result, and
its ``key()`` (a hash of that dict) identifies finished runs. Methods of SPEC Table 1 are presets:
named sets of overrides applied on top of the defaults (:data:`ads_bench.methods.METHODS`), each of
which a user can override again, field by field, with ``--set sampler.r_a=2`` on the command line or
``config.with_overrides({"sampler.r_a": 2})`` in Python.

Defaults follow the closest earlier work (Sendera et al. 2024, as SPEC section 3 says): batch 300,
Adam lr 1e-3 for generation and destruction, 1e-1 for log Z, 25 000 iterations.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from dataclasses import dataclass, field, fields, replace
from typing import Any

__all__ = ["Config", "EvalConfig", "SamplerConfig", "TrainConfig", "parse_override"]


@dataclass(frozen=True)
class SamplerConfig:
    """The processes (SPEC section 2); mirrors the keyword arguments of :class:`ads_bench.kernels.Sampler`.

    ``t_scale`` (sigma^2) ``None`` means the target's default: 5 for the 2-D mixtures, 1 otherwise.
    ``prior_std`` (sigma_0 of the gaussian prior) ``None`` means ``sqrt(t_scale)``: the spread the pinned
    Brownian reference reaches at t = 1. ``scheme`` is ``"default"`` (:func:`ads_bench.kernels.default_scheme`)
    or the ``"module:attr"`` import path of another discretisation (e.g. ``baselines.dds:scheme``);
    ``beta_min``/``beta_max`` parameterise the VP noise schedule of the gaussian-prior schemes.
    ``r_a`` and ``r_m`` bound the ``adaptive`` destruction's log-variance and mean corrections
    (``log v + r_a tanh(b / r_a)``, ``c x + dt r_m tanh(a / r_m)``); ``None`` leaves that correction
    unbounded (the default for ``r_m``: mean ``c x + dt a``). Other destruction modes ignore both.
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
    shared_backbone: bool = False
    hidden: int = 64
    layers: int = 2
    n_freq: int = 64


@dataclass(frozen=True)
class TrainConfig:
    """Objective, optimisation and stabilisers (SPEC section 3).

    - ``objective``: ``tb`` | ``vargrad`` | ``kl`` (reverse KL, reparameterised) | ``tlm``.
    - ``separate_optimizers``: one Adam per parameter group at its own learning rate; False gives the
      destruction network the generation learning rate (log Z keeps ``lr_logz``).
    - ``target_rate``: EMA rate of the destruction target network used inside the generation loss;
      ``None`` disables it (``tlm`` requires it).
    - ``exploration_std``: extra sampling noise, decayed linearly to 0 over ``exploration_share`` of
      training; never enters log-probabilities.
    - ``replay_ratio``: share of iterations trained on off-policy trajectories (terminal states from the
      replay buffer noised back by the destruction process); ``replay_prioritized`` uses rank-based
      priority 1 / (k N + rank).
    - ``impl``: ``auto`` | ``fused`` | ``reference`` for every op (``reference`` for comparison).
    - ``compile``: hand each batch's rollout + objective to ``torch.compile`` (full graph); the
      backward pass and the optimiser steps run on the compiled graph's autograd.
    """

    objective: str = "tb"
    iterations: int = 25_000
    batch_size: int = 300
    lr_gen: float = 1e-3
    lr_dest: float = 1e-3
    lr_logz: float = 1e-1
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


@dataclass(frozen=True)
class EvalConfig:
    """Periodic and final evaluation (SPEC section 5).

    ``steps`` (``--eval-steps K``): also evaluate the trained networks on a uniform grid of ``K`` steps
    (the step-reduction control: "train with N steps, sample with fewer"); reported beside the
    metrics at the trained ``sampler.steps``.
    """

    every: int = 1000
    n: int = 2000
    sinkhorn_eps: float = 1e-3
    sample_metrics: bool = True
    steps: int | None = None


@dataclass(frozen=True)
class Config:
    target: str = "gmm25"
    method: str = "adaptive"
    seed: int = 0
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def as_dict(self) -> dict[str, Any]:
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

    def with_overrides(self, overrides: dict[str, Any]) -> Config:
        """Apply ``{"section.field" or "field": value}``; values may be strings (parsed by type)."""
        cfg = self
        for dotted, value in overrides.items():
            cfg = _set(cfg, dotted, value)
        return cfg

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        sections = {f.name: f.type for f in fields(cls)}
        kwargs = {}
        for name, value in data.items():
            if name not in sections:
                raise ValueError(f"unknown config field {name!r}; valid: {sorted(sections)}")
            sub = _SECTIONS.get(name)
            kwargs[name] = sub(**value) if sub is not None else value
        return cls(**kwargs)


_SECTIONS = {"sampler": SamplerConfig, "train": TrainConfig, "eval": EvalConfig}

#: Fields added after results were first keyed, with the value that reproduces the behaviour from
#: before they existed; :meth:`Config.key` omits them at that value.
_KEY_NEUTRAL: dict[tuple[str, str], Any] = {("sampler", "r_m"): None}


def _field_names(obj) -> list[str]:
    return [f.name for f in fields(obj)]


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Parse ``value`` (possibly a CLI string) to the field's annotated type, or raise clearly."""
    hint = annotation if not isinstance(annotation, str) else _ANNOTATIONS[annotation]
    args = typing.get_args(hint)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), hint) if args else hint
    if isinstance(value, str):
        text = value.strip()
        if optional and text.lower() in ("none", "null"):
            return None
        try:
            if base is bool:
                if text.lower() in ("1", "true", "yes", "on"):
                    return True
                if text.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError
            if base is int:
                number = float(text)  # accepts "2e3"; must still be a whole number
                if not number.is_integer():
                    raise ValueError
                return int(number)
            if base is float:
                return float(text)
        except ValueError:
            raise ValueError(f"{where}: cannot parse {value!r} as {base.__name__}") from None
        return text
    if value is None:
        if not optional:
            raise ValueError(f"{where}: None is not allowed")
        return None
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if base in (int, float, bool, str) and not isinstance(value, base):
        raise ValueError(f"{where}: expected {base.__name__}, got {value!r}")
    return value


_ANNOTATIONS = {
    "int": int,
    "float": float,
    "bool": bool,
    "str": str,
    "float | None": float | None,
    "int | None": int | None,
}


def _set(cfg: Config, dotted: str, value: Any) -> Config:
    parts = dotted.split(".")
    if len(parts) == 1:
        # A bare name: a top-level field, or a field found in exactly one section.
        name = parts[0]
        if name in _field_names(cfg) and name not in _SECTIONS:
            return replace(cfg, **{name: _coerce(value, _type_of(cfg, name), dotted)})
        owners = [s for s, sub in _SECTIONS.items() if name in _field_names(sub)]
        if len(owners) != 1:
            raise ValueError(f"unknown config field {dotted!r}; {_valid_fields()}")
        parts = [owners[0], name]
    if len(parts) != 2 or parts[0] not in _SECTIONS:
        raise ValueError(f"unknown config field {dotted!r}; {_valid_fields()}")
    section, name = parts
    sub = getattr(cfg, section)
    if name not in _field_names(sub):
        raise ValueError(
            f"unknown config field {dotted!r}; {section} has {', '.join(_field_names(sub))}"
        )
    new_sub = replace(sub, **{name: _coerce(value, _type_of(sub, name), dotted)})
    return replace(cfg, **{section: new_sub})


def _type_of(obj, name: str):
    return next(f.type for f in fields(obj) if f.name == name)


def _valid_fields() -> str:
    names = ["target", "method", "seed"]
    for section, sub in _SECTIONS.items():
        names += [f"{section}.{n}" for n in _field_names(sub)]
    return "valid fields: " + ", ".join(names)


def parse_override(text: str) -> tuple[str, str]:
    """``"section.field=value"`` -> ``("section.field", "value")``."""
    if "=" not in text:
        raise ValueError(f"--set expects section.field=value, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), value
