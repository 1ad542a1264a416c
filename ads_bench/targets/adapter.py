"""Adapters turning user-supplied densities into :class:`~ads_bench.targets.base.Target`.

Two kinds of user input are supported (README *Targets*, "custom targets"):

* a *duck-typed object* with ``dim`` and ``log_prob`` (and optionally ``sample`` and
  ``log_z``), e.g. a class from another code base;
* a *plain callable* ``log_prob(x: [..., dim]) -> [...]`` together with an explicit ``dim``.

The wrapper validates inputs like every built-in target and, if the wrapped object is an
:class:`torch.nn.Module`, registers it as a sub-module so ``.to(device)`` moves it too.
``log_z`` is ``None`` unless provided; ``sample`` raises a clear ``NotImplementedError``
when the user object has no sampler.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from .base import Target, TargetError

__all__ = ["WrappedTarget", "wrap_target"]


def _accepts_generator(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "generator" or p.kind is p.VAR_KEYWORD for p in params)


class WrappedTarget(Target):
    """A :class:`Target` backed by a user log density (and optionally a user sampler).

    Args:
        log_prob_fn: ``[..., dim] -> [...]`` unnormalised log density.
        dim: dimension of the sample space.
        sample_fn: optional ``sample(n[, generator=...]) -> [n, dim]``; ``generator`` is
            passed only if the function accepts it.
        log_z: optional known log normalising constant.
        name: identifier.
        module: optional object whose parameters/buffers should follow ``.to(...)``.
    """

    def __init__(
        self,
        log_prob_fn: Callable[[Tensor], Tensor],
        dim: int,
        *,
        sample_fn: Callable[..., Tensor] | None = None,
        log_z: float | None = None,
        name: str = "custom",
        module: Any = None,
    ):
        if not callable(log_prob_fn):
            raise TypeError(f"log_prob must be callable, got {type(log_prob_fn).__name__}")
        if sample_fn is not None and not callable(sample_fn):
            raise TypeError(f"sample must be callable, got {type(sample_fn).__name__}")
        super().__init__(int(dim), name=name, log_z=log_z)
        if isinstance(module, nn.Module):
            self.wrapped = module  # registered as a sub-module
        else:
            self._wrapped_obj = module
        self._log_prob_fn = log_prob_fn
        self._sample_fn = sample_fn

    @property
    def has_sample(self) -> bool:
        return self._sample_fn is not None

    def _log_prob(self, x: Tensor) -> Tensor:
        out = self._log_prob_fn(x)
        if not isinstance(out, Tensor) or out.shape != x.shape[:-1]:
            got = f"shape {list(out.shape)}" if isinstance(out, Tensor) else type(out).__name__
            raise TargetError(
                f"target {self.name!r}: log_prob of input {list(x.shape)} must return shape "
                f"{list(x.shape[:-1])}, got {got}"
            )
        return out

    def _sample(self, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
        if self._sample_fn is None:  # pragma: no cover - guarded by has_sample
            raise NotImplementedError(f"target {self.name!r} provides no exact samples")
        if _accepts_generator(self._sample_fn):
            out = self._sample_fn(n, generator=generator)
        else:
            out = self._sample_fn(n)
        return torch.as_tensor(out)


def wrap_target(
    obj: Any,
    *,
    dim: int | None = None,
    log_z: float | None = None,
    name: str | None = None,
    sample: Callable[..., Tensor] | None = None,
) -> Target:
    """Wrap a duck-typed object or a plain log-density callable as a :class:`Target`.

    ``Target`` instances are returned unchanged. For duck-typed objects, explicit keyword
    arguments override the object's own ``dim`` / ``log_z`` / ``sample`` / ``name``.

    Raises:
        TypeError: ``obj`` lacks ``log_prob`` and is not callable, or no ``dim`` is available.
    """
    if isinstance(obj, Target):
        return obj
    if hasattr(obj, "log_prob"):
        missing = [] if (dim is not None or hasattr(obj, "dim")) else ["dim"]
        if missing:
            raise TypeError(
                f"cannot use {type(obj).__name__} as a target: missing attribute(s) "
                f"{', '.join(missing)} (need 'dim' and 'log_prob')"
            )
        obj_dim = dim if dim is not None else obj.dim
        obj_log_z = log_z if log_z is not None else getattr(obj, "log_z", None)
        obj_sample = sample if sample is not None else getattr(obj, "sample", None)
        obj_name = name or getattr(obj, "name", None) or type(obj).__name__
        return WrappedTarget(
            obj.log_prob,
            obj_dim,
            sample_fn=obj_sample,
            log_z=obj_log_z,
            name=str(obj_name),
            module=obj,
        )
    if callable(obj) and not isinstance(obj, type):
        if dim is None:
            raise TypeError(
                "a plain log-density callable needs an explicit dim= keyword "
                "(missing attribute 'dim')"
            )
        obj_name = name or getattr(obj, "__name__", None) or "custom"
        return WrappedTarget(obj, dim, sample_fn=sample, log_z=log_z, name=str(obj_name))
    missing = ["log_prob"] + ([] if (dim is not None or hasattr(obj, "dim")) else ["dim"])
    raise TypeError(
        f"cannot use {type(obj).__name__} as a target: missing attribute(s) "
        f"{', '.join(missing)} (need 'dim' and 'log_prob', or a callable log density with dim=)"
    )
