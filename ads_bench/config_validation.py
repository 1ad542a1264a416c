"""Validation of a :class:`~ads_bench.config.Config` (:meth:`~ads_bench.config.Config.validate`).

Every field a user can set is checked here, up front, before a target is built or a network
constructed: its annotated type (:func:`check_types`), its range and the combinations that cannot
run, then what needs an import or the machine (:func:`check_values`: the scheme's import path, the
CUDA device). Errors name the first offending field
(``"train.lr_gen must be a finite number > 0, got -1.0"``). The allowed values of the string
fields come from the modules that own them, imported lazily (they import :mod:`ads_bench.config`).
"""

from __future__ import annotations

import math
import re
from dataclasses import fields
from typing import Any

from ads_bench.config import SECTIONS, Config, field_type, resolve_annotation

__all__ = ["check_types", "check_values"]


def _fail(name: str, requirement: str, value: Any) -> ValueError:
    return ValueError(f"{name} must be {requirement}, got {value!r}")


def _check_type(value: Any, annotation: Any, name: str) -> None:
    """``value`` has the field's annotated type (``int`` excludes ``bool``; ``float`` accepts
    ``int``)."""
    base, optional = resolve_annotation(annotation)
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


def check_types(cfg: Config) -> None:
    """Every field of ``cfg`` has its annotated type (and every section its class)."""
    for name in ("target", "method", "seed"):
        _check_type(getattr(cfg, name), field_type(cfg, name), name)
    for section, cls in SECTIONS.items():
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


def check_values(cfg: Config) -> None:
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
        (s.prior_std is None or _positive(s.prior_std), "sampler.prior_std", pos_or_none,
         s.prior_std),
        (s.scheme.strip() != "", "sampler.scheme", "'default' or 'module:attr'", s.scheme),
        (_positive(s.beta_min), "sampler.beta_min", pos, s.beta_min),
        (_positive(s.beta_max) and s.beta_max >= s.beta_min, "sampler.beta_max",
         f"a finite number >= sampler.beta_min ({s.beta_min})", s.beta_max),
        (_positive(s.r_f), "sampler.r_f", pos, s.r_f),
        (s.destruction in DESTRUCTIONS, "sampler.destruction", _choices(DESTRUCTIONS),
         s.destruction),
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
        (t.grad_clip is None or _positive(t.grad_clip), "train.grad_clip", pos_or_none,
         t.grad_clip),
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
