"""What a sweep runs: :class:`RunSpec` names one training run, :func:`expand_grid` builds grids.

A spec is the target, method (a preset of :data:`ads_bench.methods.METHODS`), number of steps T,
seed, config overrides and a free ``tag``; its resolved :class:`~ads_bench.config.Config` is what
identifies the run (its ``key()`` names the run folder, README *The run store*), so the tag and the
spelling of the overrides never change a key.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import product
from typing import Any

from ads_bench.config import Config
from ads_bench.methods import make_config

__all__ = ["RunSpec", "expand_grid"]

# Fields a spec sets itself; an override of them would silently fight the spec.
_RESERVED = ("target", "method", "seed", "steps", "sampler.steps")


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep. ``overrides`` may be given as a dict; it is stored as a sorted tuple of
    ``(field, value)`` pairs so specs are hashable. ``tag`` is a free label (e.g. an ablation row)
    and is not part of the config."""

    target: str
    method: str
    steps: int
    seed: int
    overrides: tuple[tuple[str, Any], ...] = ()
    tag: str = ""

    def __post_init__(self):
        items = list(self.overrides.items() if isinstance(self.overrides, dict) else self.overrides)
        names = [name for name, _ in items]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate override fields in {names}")
        reserved = sorted(set(names) & set(_RESERVED))
        if reserved:
            raise ValueError(f"override {reserved} through RunSpec's own fields, not overrides")
        object.__setattr__(self, "overrides", tuple(sorted((str(k), v) for k, v in items)))

    def config(self) -> Config:
        """The resolved config: defaults, method preset, ``overrides``, then ``sampler.steps``."""
        overrides = {**dict(self.overrides), "sampler.steps": self.steps}
        return make_config(self.method, self.target, seed=self.seed, overrides=overrides)

    @property
    def key(self) -> str:
        """The key (16 hex) of the resolved config; names the run folder."""
        return self.config().key()

    @property
    def label(self) -> str:
        """Short human-readable name, e.g. ``adaptive/gmm25/T=10/seed=0 [no-replay]``."""
        text = f"{self.method}/{self.target}/T={self.steps}/seed={self.seed}"
        return f"{text} [{self.tag}]" if self.tag else text


def expand_grid(
    targets: Iterable[str],
    methods: Iterable[str],
    steps: Iterable[int],
    seeds: Iterable[int],
    overrides: dict[str, Any] | None = None,
    tag: str = "",
) -> list[RunSpec]:
    """Cartesian product of the axes, ordered by target, steps, method, then seed (the last varies
    fastest); every spec gets the same ``overrides`` and ``tag``. A bare string or int is taken as
    a one-value axis."""
    ov = tuple((overrides or {}).items())
    axes = [[a] if isinstance(a, (str, int)) else list(a) for a in (targets, steps, methods, seeds)]
    return [
        RunSpec(target=t, method=m, steps=s, seed=seed, overrides=ov, tag=tag)
        for t, s, m, seed in product(*axes)
    ]
