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
import math
import re
import typing
from dataclasses import dataclass, field, fields, replace
from typing import Any

__all__ = ["Config", "EvalConfig", "SamplerConfig", "TrainConfig", "parse_override"]


@dataclass(frozen=True)
class SamplerConfig:
    """The processes (SPEC section 2): each field is the keyword argument of the same name of
    :class:`ads_bench.sampler.Sampler`, which :meth:`~ads_bench.sampler.Sampler.from_config` builds.

    ``t_scale`` (sigma^2) ``None`` means the target's default: 5 for the 2-D mixtures, 1 otherwise.
    ``prior_std`` (sigma_0 of the gaussian prior) ``None`` means ``sqrt(t_scale)``: the spread the pinned
    Brownian reference reaches at t = 1. ``scheme`` is ``"default"`` (:func:`ads_bench.schemes.default_scheme`)
    or the ``"module:attr"`` import path of another discretisation (e.g. ``baselines.dds:scheme``);
    ``beta_min``/``beta_max`` parameterise the VP noise schedule of the gaussian-prior schemes.
    ``r_a`` and ``r_m`` bound the ``adaptive`` destruction's log-variance and mean corrections
    (``log v + r_a tanh(b / r_a)``, ``c x + dt r_m tanh(a / r_m)``); ``None`` leaves that correction
    unbounded (the default for ``r_m``: mean ``c x + dt a``). Other destruction modes ignore both.
    ``backbone`` (learned destructions only; :data:`ads_bench.sampler.BACKBONES`) says which
    parameters shape the destruction and which optimiser owns them: ``"separate"`` (its own trunk, in
    the destruction group at ``train.lr_dest``), ``"shared"`` (the generation trunk, trained by both
    processes' gradients as group ``trunk`` at ``train.lr_trunk``; heads at ``lr_gen`` / ``lr_dest``)
    or ``"shared-detached"`` (the generation trunk, trained by the generation's gradient only, at
    ``lr_gen``; the destruction's loss trains its head alone, at ``lr_dest``).
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
    """Objective, optimisation and stabilisers (SPEC section 3).

    - ``objective``: ``tb`` | ``vargrad`` | ``kl`` (reverse KL, reparameterised) | ``tlm``.
    - ``separate_optimizers``: one Adam per parameter group at its own learning rate; False gives the
      destruction network and a shared trunk the generation learning rate (log Z keeps ``lr_logz``).
    - ``lr_trunk``: learning rate of the shared trunk with ``sampler.backbone="shared"`` (its own
      parameter group, trained by both processes' gradients); unused otherwise.
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
    """Periodic and final evaluation (SPEC section 5).

    ``steps`` (``--eval-steps K``): also evaluate the trained networks on a uniform grid of ``K`` steps
    (the step-reduction control: "train with N steps, sample with fewer"); reported beside the
    metrics at the trained ``sampler.steps``.

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

    def validate(self) -> Config:
        """Check every field's type and range and the combinations that cannot run; return ``self``.

        The one validation of a configuration: everything a user can set is checked here, up front,
        before a target is built or a network constructed. Raises ``ValueError`` naming the first
        offending field (``"train.lr_gen must be a finite number > 0, got -1.0"``). The allowed values
        of the string fields come from the modules that own them (imported here, lazily, since they
        import this module).
        """
        _check_types(self)
        _check_values(self)
        return self

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
            if name == "sampler" and "shared_backbone" in value:  # a record from before the rename
                value = dict(value)
                value["backbone"] = "shared" if value.pop("shared_backbone") else "separate"
            kwargs[name] = sub(**value) if sub is not None else value
        return cls(**kwargs)


_SECTIONS = {"sampler": SamplerConfig, "train": TrainConfig, "eval": EvalConfig}

#: Fields added after results were first keyed, with the value that reproduces the behaviour from
#: before they existed; :meth:`Config.key` omits them at that value.
_KEY_NEUTRAL: dict[tuple[str, str], Any] = {
    ("sampler", "r_m"): None,
    ("train", "threads"): 1,
    ("train", "lr_trunk"): 1e-3,
}
#: Fields that were renamed: ``--set`` of the old name says what replaced it.
_RENAMED = {
    "sampler.shared_backbone": "sampler.backbone ('separate', 'shared' or 'shared-detached'; "
    "true meant 'shared' with the trunk at train.lr_trunk)",
}


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
    if f"{section}.{name}" in _RENAMED:
        raise ValueError(
            f"config field {dotted!r} was renamed: use {_RENAMED[f'{section}.{name}']}"
        )
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


# ---------------------------------------------------------------- validation (Config.validate)


def _fail(name: str, requirement: str, value: Any) -> ValueError:
    return ValueError(f"{name} must be {requirement}, got {value!r}")


def _check_type(value: Any, annotation: Any, name: str) -> None:
    """``value`` has the field's annotated type (``int`` excludes ``bool``; ``float`` accepts ``int``)."""
    hint = annotation if not isinstance(annotation, str) else _ANNOTATIONS[annotation]
    args = typing.get_args(hint)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), hint) if args else hint
    kind = ("an " if base.__name__[0] in "aeiou" else "a ") + base.__name__
    if value is None:
        if not optional:
            raise _fail(name, kind, value)
        return
    if base is bool:
        ok = isinstance(value, bool)
    elif base is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif base is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, base)
    if not ok:
        raise _fail(name, kind + (" or None" if optional else ""), value)


def _check_types(cfg: Config) -> None:
    for name in ("target", "method", "seed"):
        _check_type(getattr(cfg, name), _type_of(cfg, name), name)
    for section, cls in _SECTIONS.items():
        sub = getattr(cfg, section)
        if not isinstance(sub, cls):
            raise _fail(section, f"a {cls.__name__}", sub)
        for f in fields(sub):
            _check_type(getattr(sub, f.name), f.type, f"{section}.{f.name}")


def _positive(x: float | None) -> bool:
    return x is not None and math.isfinite(x) and x > 0


def _unit(x: float, *, open_low: bool = False) -> bool:
    return (0.0 < x if open_low else 0.0 <= x) and x <= 1.0


def _choices(values) -> str:
    return "one of " + ", ".join(repr(v) for v in values)


def _check_values(cfg: Config) -> None:
    """Ranges of every field, then the combinations, then what needs an import or the machine."""
    from ads_bench.objectives import OBJECTIVES
    from ads_bench.ops._dispatch import IMPLS
    from ads_bench.runtime import DTYPES
    from ads_bench.sampler import BACKBONES
    from ads_bench.schemes import PRIORS, get_scheme
    from ads_bench.transition import DESTRUCTIONS

    s, t, e = cfg.sampler, cfg.train, cfg.eval
    pos, pos_or_none = "a finite number > 0", "a finite number > 0 or None"
    checks = [
        (cfg.target.strip() != "", "target", "a non-empty string", cfg.target),
        (cfg.method.strip() != "", "method", "a non-empty string", cfg.method),
        (0 <= cfg.seed < 2**63, "seed", "an integer in [0, 2**63)", cfg.seed),
        # sampler
        (s.steps >= 1, "sampler.steps", ">= 1", s.steps),
        (s.t_scale is None or _positive(s.t_scale), "sampler.t_scale", pos_or_none, s.t_scale),
        (s.prior in PRIORS, "sampler.prior", _choices(PRIORS), s.prior),
        (s.prior_std is None or _positive(s.prior_std), "sampler.prior_std", pos_or_none, s.prior_std),
        (s.scheme.strip() != "", "sampler.scheme", "'default' or 'module:attr'", s.scheme),
        (_positive(s.beta_min), "sampler.beta_min", pos, s.beta_min),
        (_positive(s.beta_max) and s.beta_max >= s.beta_min, "sampler.beta_max",
         f"a finite number >= sampler.beta_min ({s.beta_min})", s.beta_max),
        (_positive(s.r_f), "sampler.r_f", pos, s.r_f),
        (s.destruction in DESTRUCTIONS, "sampler.destruction", _choices(DESTRUCTIONS), s.destruction),
        (_unit(s.r_b, open_low=True), "sampler.r_b", "in (0, 1]", s.r_b),
        (s.r_a is None or s.r_a > 0, "sampler.r_a", "> 0 or None (inf: unbounded)", s.r_a),
        (s.r_m is None or s.r_m > 0, "sampler.r_m", "> 0 or None (inf: unbounded)", s.r_m),
        (s.backbone in BACKBONES, "sampler.backbone", _choices(BACKBONES), s.backbone),
        (s.hidden >= 1, "sampler.hidden", ">= 1", s.hidden),
        (s.layers >= 0, "sampler.layers", ">= 0", s.layers),
        (s.n_freq >= 1, "sampler.n_freq", ">= 1", s.n_freq),
        # train
        (t.objective in OBJECTIVES, "train.objective", _choices(OBJECTIVES), t.objective),
        (t.iterations >= 0, "train.iterations", ">= 0", t.iterations),
        (t.batch_size >= 1, "train.batch_size", ">= 1", t.batch_size),
        (_positive(t.lr_gen), "train.lr_gen", pos, t.lr_gen),
        (_positive(t.lr_dest), "train.lr_dest", pos, t.lr_dest),
        (_positive(t.lr_logz), "train.lr_logz", pos, t.lr_logz),
        (_positive(t.lr_trunk), "train.lr_trunk", pos, t.lr_trunk),
        (t.grad_clip is None or _positive(t.grad_clip), "train.grad_clip", pos_or_none, t.grad_clip),
        (t.target_rate is None or _unit(t.target_rate, open_low=True), "train.target_rate",
         "in (0, 1] or None", t.target_rate),
        (math.isfinite(t.exploration_std) and t.exploration_std >= 0, "train.exploration_std",
         "a finite number >= 0", t.exploration_std),
        (_unit(t.exploration_share), "train.exploration_share", "in [0, 1]", t.exploration_share),
        (_unit(t.replay_ratio), "train.replay_ratio", "in [0, 1]", t.replay_ratio),
        (t.replay_capacity >= 1, "train.replay_capacity", ">= 1", t.replay_capacity),
        (_positive(t.replay_k), "train.replay_k", pos, t.replay_k),
        (t.impl in IMPLS, "train.impl", _choices(IMPLS), t.impl),
        (t.dtype in DTYPES, "train.dtype", _choices(DTYPES), t.dtype),
        (t.checkpoint_every >= 0, "train.checkpoint_every", ">= 0 (0: only at the end)",
         t.checkpoint_every),
        # eval
        (e.every >= 0, "eval.every", ">= 0 (0: only at the end)", e.every),
        (e.n >= 2, "eval.n", ">= 2 (the metrics need two samples)", e.n),
        (_positive(e.sinkhorn_eps), "eval.sinkhorn_eps", pos, e.sinkhorn_eps),
        (e.steps is None or e.steps >= 1, "eval.steps", ">= 1 or None", e.steps),
        (e.guard_elbo_gap is None or _positive(e.guard_elbo_gap), "eval.guard_elbo_gap",
         pos_or_none, e.guard_elbo_gap),
        (e.guard_logw_std is None or _positive(e.guard_logw_std), "eval.guard_logw_std",
         pos_or_none, e.guard_logw_std),
    ]  # fmt: skip
    if hasattr(t, "threads"):
        checks.append((t.threads >= 1, "train.threads", ">= 1", t.threads))
    for ok, name, requirement, value in checks:
        if not ok:
            raise _fail(name, requirement, value)
    if t.objective == "vargrad" and t.batch_size < 2:
        raise ValueError(
            "train.batch_size must be >= 2 for train.objective='vargrad' (its baseline is the "
            f"batch mean of the log-weights), got {t.batch_size}"
        )
    if t.objective == "tlm" and t.target_rate is None:
        raise ValueError("train.objective='tlm' needs a target network: set train.target_rate")
    if t.objective == "kl" and t.replay_ratio != 0.0:
        raise ValueError(
            "train.objective='kl' trains on reparameterised on-policy trajectories: "
            f"train.replay_ratio must be 0, got {t.replay_ratio}"
        )
    try:
        get_scheme(s.scheme)
    except ValueError as exc:
        text = str(exc)
        raise ValueError(
            f"sampler.{text}" if text.startswith("scheme") else f"sampler.scheme: {text}"
        ) from None
    _check_device(t.device)


def _check_device(device: str) -> None:
    """``cpu``; ``cuda`` / ``cuda:N`` only where that CUDA device exists."""
    import torch

    match = re.fullmatch(r"cpu|cuda(?::(\d+))?", device)
    if match is None:
        raise _fail("train.device", "'cpu', 'cuda' or 'cuda:N'", device)
    if device == "cpu":
        return
    if not torch.cuda.is_available():
        raise ValueError(
            f"train.device={device!r} but no CUDA device is available here "
            f"(torch {torch.__version__}, torch.cuda.is_available() is False); use train.device=cpu"
        )
    index, count = int(match.group(1) or 0), torch.cuda.device_count()
    if index >= count:
        raise ValueError(f"train.device={device!r} but this machine has {count} CUDA device(s)")
