"""Method registry: the rows of the paper's Table 1 as named presets of config overrides.

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
                          with the settings issue 11's study selected (below)
``adaptive-vargrad``      ``adaptive`` trained with VarGrad (log-variance)
``adaptive-tlm``          ``adaptive`` whose destruction is trained by TLM, generation by TB against
                          the target copy of the destruction network (EMA 0.01, which TLM needs)
========================  ============================================================================

The ``adaptive`` settings come from evidence, not from the paper's text: ``python
reproduce/adaptive_study.py`` (quick budget) screened 16 configurations of the paper's described
setup (:data:`ADAPTIVE_STUDY_BASE`: φ/θ learning-rate ratio 1, log-variance range 4, unbounded mean,
target network EMA 0.01, prioritised replay on half the batches, no exploration, shared backbone)
by successive halving on gmm25 and manywell at T = 5 and 10, seeds 0–4, and kept
:data:`ADAPTIVE_STUDY_CHOICE`. Its "Evidence per setting" table (``results/adaptive_study.md``;
README, "The adaptive-destruction study") shows, per axis, the mean first-rung rank of every value:

- φ learning rate 1e-5 (ratio 0.01): the only ratio whose candidates reached the final rung ahead of
  1e-4; no candidate with ratio 1 passed the second rung;
- no target network: its candidates ranked best (mean 6.8 vs 7.3 for EMA 0.01 and 7.9 for 0.1);
- exploration noise 0.1 (decayed to 0 over the first half): best value (5.6 vs 7.2 without, 9.3 at
  0.5);
- kept from the base because they ranked best: log-variance range 4 (6.1; 1, 2 and unbounded
  worse), unbounded mean (6.3; bounds 1 and 10 worse), prioritised replay on half the batches (3.7;
  uniform replay 8.7, none 8.9), shared backbone (6.9 vs 7.9).

With φ's learning rate at 1 % of θ's the destruction stays close to the bridge over a quick
budget; the study's diagnostics measure how close, and its verdict (held-out seeds 5–9) is what
the README reports. ``adaptive-vargrad`` and ``adaptive-tlm`` share these settings, so they differ
from ``adaptive`` in the objective only (plus the target network TLM requires).

The learned-destruction rows also learn the generation variance: the paper's point is that both
processes' variances are learned (decoupled).

Registered by ``baselines/`` through the entry points (row 7 of Table 1): ``pis``, ``pis-lp``
(PIS, reverse KL; with the Langevin parameterisation), ``dis`` (log-variance), ``dis-kl`` and ``dds``
(reverse KL). Each is a preset like the ones above, plus its own discretisation scheme
(``sampler.scheme``).
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from ads_bench.config import Config
from ads_bench.imports import import_attr

__all__ = [
    "ADAPTIVE_STUDY_BASE",
    "ADAPTIVE_STUDY_CHOICE",
    "METHODS",
    "get_method",
    "make_config",
    "method_names",
]

_LEARNED = {"sampler.learn_var": True}

#: The paper's described setup, the starting point of ``reproduce/adaptive_study.py``.
ADAPTIVE_STUDY_BASE: dict[str, Any] = {
    "sampler.destruction": "adaptive",
    "sampler.learn_var": True,
    "sampler.r_a": 4.0,
    "sampler.r_m": None,
    "sampler.backbone": "shared",
    "train.lr_trunk": 1e-3,  # the shared trunk at the generation rate (what "shared" meant before)
    "train.objective": "tb",
    "train.lr_gen": 1e-3,
    "train.lr_dest": 1e-3,
    "train.separate_optimizers": True,
    "train.target_rate": 0.01,
    "train.replay_ratio": 0.5,
    "train.replay_prioritized": True,
    "train.exploration_std": 0.0,
}
#: What the study's screening kept on top of it (quick budget, selection seeds 0-4).
ADAPTIVE_STUDY_CHOICE: dict[str, Any] = {
    "train.lr_dest": 1e-5,
    "train.target_rate": None,
    "train.exploration_std": 0.1,
}
_ADAPTIVE = {**ADAPTIVE_STUDY_BASE, **ADAPTIVE_STUDY_CHOICE}

METHODS: dict[str, dict[str, Any]] = {
    "fixed": {"sampler.destruction": "fixed", "sampler.learn_var": False, "train.objective": "tb"},
    "fixed-learnvar": {"sampler.destruction": "fixed", **_LEARNED, "train.objective": "tb"},
    "bounded": {
        "sampler.destruction": "bounded",
        "sampler.r_b": 1.0,
        **_LEARNED,
        "train.objective": "tb",
    },
    "adaptive": dict(_ADAPTIVE),
    "adaptive-vargrad": {**_ADAPTIVE, "train.objective": "vargrad"},
    "adaptive-tlm": {**_ADAPTIVE, "train.target_rate": 0.01, "train.objective": "tlm"},
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
        try:
            obj = import_attr(name, "method")
        except (ImportError, AttributeError, ValueError) as exc:
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
