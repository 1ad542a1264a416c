"""Method registry: the rows of SPEC Table 1 as named presets of config overrides.

A method is a dict of ``"section.field": value`` overrides applied to the defaults of
:class:`ads_bench.config.Config`; the user's own overrides are applied after it. Methods outside the
library (``baselines/``, or a user's package) join the registry through the entry-point group
``ads_bench.methods`` — each entry point loads to such a dict — so the library never imports them.
A ``"module:attr"`` name is imported directly.

Built-in methods (this package's rows of Table 1):

========================  ============================================================================
``fixed``                 fixed (Brownian-bridge) destruction, fixed generation variance, TB
``fixed-learnvar``        fixed destruction, learned generation variance, TB
``bounded``               bounded learned correction of the bridge (earlier work), TB
``adaptive``              the paper's method: unconstrained destruction with decoupled variance, TB,
                          with all stabilisers on (target network, prioritised replay, shared
                          backbone, separate optimisers)
``adaptive-vargrad``      ``adaptive`` trained with VarGrad (log-variance)
``adaptive-tlm``          ``adaptive`` whose destruction is trained by TLM, generation by TB against
                          the target copy of the destruction network
========================  ============================================================================

The learned-destruction rows also learn the generation variance: the paper's point is that both
processes' variances are learned (decoupled).

Registered by ``baselines/`` through the entry points (row 7 of Table 1): ``pis``, ``pis-lp``
(PIS, reverse KL; with the Langevin parameterisation), ``dis`` (log-variance), ``dis-kl`` and ``dds``
(reverse KL). Each is a preset like the ones above, plus its own discretisation scheme
(``sampler.scheme``).
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from ads_bench.config import Config

__all__ = ["METHODS", "get_method", "make_config", "method_names"]

_LEARNED = {"sampler.learn_var": True}
_STABILISERS = {
    "train.target_rate": 0.01,
    "train.replay_ratio": 0.5,
    "train.replay_prioritized": True,
    "train.separate_optimizers": True,
    "sampler.shared_backbone": True,
}

METHODS: dict[str, dict[str, Any]] = {
    "fixed": {"sampler.destruction": "fixed", "sampler.learn_var": False, "train.objective": "tb"},
    "fixed-learnvar": {"sampler.destruction": "fixed", **_LEARNED, "train.objective": "tb"},
    "bounded": {
        "sampler.destruction": "bounded",
        "sampler.r_b": 1.0,
        **_LEARNED,
        "train.objective": "tb",
    },
    "adaptive": {
        "sampler.destruction": "adaptive",
        "sampler.r_a": 4.0,
        **_LEARNED,
        **_STABILISERS,
        "train.objective": "tb",
    },
    "adaptive-vargrad": {
        "sampler.destruction": "adaptive",
        "sampler.r_a": 4.0,
        **_LEARNED,
        **_STABILISERS,
        "train.objective": "vargrad",
    },
    "adaptive-tlm": {
        "sampler.destruction": "adaptive",
        "sampler.r_a": 4.0,
        **_LEARNED,
        **_STABILISERS,
        "train.objective": "tlm",
    },
}


def _plugin_methods() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group="ads_bench.methods")}


def method_names() -> list[str]:
    return sorted(set(METHODS) | set(_plugin_methods()))


def get_method(name: str) -> dict[str, Any]:
    """The overrides of method ``name`` (built-in, entry point or ``module:attr``)."""
    if name in METHODS:
        return dict(METHODS[name])
    plugins = _plugin_methods()
    if name in plugins:
        obj = plugins[name].load()
    elif ":" in name:
        module, _, attr = name.partition(":")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"cannot load method {name!r}: {exc}") from exc
    else:
        raise ValueError(f"unknown method {name!r}; valid methods: {', '.join(method_names())}")
    overrides = obj() if callable(obj) else obj
    if not isinstance(overrides, dict):
        raise TypeError(
            f"method {name!r} must be a dict of config overrides, got {type(overrides)}"
        )
    return dict(overrides)


def make_config(
    method: str = "adaptive",
    target: str = "gmm25",
    *,
    seed: int = 0,
    overrides: dict[str, Any] | None = None,
) -> Config:
    """The defaults, then method ``method``'s preset, then the user's ``overrides`` (in that order)."""
    cfg = Config(target=target, method=method, seed=seed)
    return cfg.with_overrides(get_method(method)).with_overrides(overrides or {})
