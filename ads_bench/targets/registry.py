"""Target registry: look targets up by name, import path or object.

``get_target`` resolves, in order:

1. a :class:`~ads_bench.targets.base.Target` instance -> returned unchanged;
2. ``"name:key=value,key=value"`` with a registered ``name`` -> that target with options, e.g.
   ``"gan-latent:y=7,beta=2"`` (values parsed as int, float, ``true``/``false``/``none``, else
   kept as strings; merged with ``**kwargs``, a key given twice is an error). This is how configs
   (plain JSON, read by worker processes) name a parameterised target;
3. any other string containing ``":"`` -> ``"package.module:attribute"`` import path; the
   attribute may be a class or factory (called with ``**kwargs``) or an already-built object
   (an attribute name never contains ``=``, so 2 and 3 cannot be confused);
4. any other string -> a name registered in :data:`TARGETS` (``gmm25``, ``gmm40``, ``gmm9``,
   ``funnel``, ``manywell``, ``gan-latent`` and anything added with :func:`register_target`),
   whose factory is called with ``**kwargs``;
5. a duck-typed object with ``dim`` and ``log_prob``, or a plain callable log density with
   ``dim=`` -> wrapped by :func:`~ads_bench.targets.adapter.wrap_target`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ads_bench.imports import import_attr

from .adapter import wrap_target
from .base import Target
from .funnel import Funnel
from .gmm import gmm9, gmm25, gmm40
from .manywell import ManyWell

__all__ = [
    "TARGETS",
    "UnknownTargetError",
    "get_target",
    "parse_target_options",
    "register_target",
]

F = TypeVar("F", bound=Callable[..., Any])

#: name -> factory (class or function) returning a :class:`Target`.
TARGETS: dict[str, Callable[..., Any]] = {}

_ADAPTER_KWARGS = ("dim", "log_z", "name", "sample")


class UnknownTargetError(KeyError, ValueError):
    """Unknown target name (both a ``KeyError`` and a ``ValueError``)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


def register_target(name: str, *, overwrite: bool = False) -> Callable[[F], F]:
    """Decorator registering a target factory (class or function) under ``name``."""
    if not isinstance(name, str) or not name or ":" in name:
        raise ValueError(f"target name must be a non-empty string without ':', got {name!r}")

    def deco(factory: F) -> F:
        if not callable(factory):
            raise TypeError(f"register_target({name!r}) needs a callable factory")
        if name in TARGETS and not overwrite and TARGETS[name] is not factory:
            raise ValueError(f"target {name!r} is already registered (pass overwrite=True)")
        TARGETS[name] = factory
        return factory

    return deco


for _name, _factory in (
    ("gmm25", gmm25),
    ("gmm40", gmm40),
    ("gmm9", gmm9),
    ("funnel", Funnel),
    ("manywell", ManyWell),
):
    register_target(_name)(_factory)


@register_target("gan-latent")
def _gan_latent(**options: Any) -> Target:
    """README *GAN-latent conditional sampling* (:mod:`ads_bench.targets.gan_latent`); trains/loads its models only when built."""
    from .gan_latent import gan_latent

    return gan_latent(**options)


def _parse_value(text: str) -> Any:
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "none":
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.strip()


def parse_target_options(text: str) -> dict[str, Any]:
    """``"y=7,beta=2"`` -> ``{"y": 7, "beta": 2}`` (the part of a target name after ``":"``)."""
    options: dict[str, Any] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key.isidentifier():
            raise ValueError(
                f"target options must look like 'name:key=value,key=value', got {item!r} in {text!r}"
            )
        if key in options:
            raise ValueError(f"target option {key!r} given twice in {text!r}")
        options[key] = _parse_value(value)
    return options


def _registered_key(name: str) -> str | None:
    key = name.strip()
    if key not in TARGETS and key.lower() in TARGETS:
        key = key.lower()
    return key if key in TARGETS else None


def _is_target_like(obj: Any) -> bool:
    return isinstance(obj, Target) or (hasattr(obj, "log_prob") and not isinstance(obj, type))


def get_target(name_or_obj: Any, **kwargs: Any) -> Target:
    """Resolve a target from a registered name, an import path or an object (see module doc).

    Raises:
        UnknownTargetError: unknown registered name (message lists valid names).
        ImportError / AttributeError: bad ``"module:attribute"`` path.
        TypeError: an object lacking ``dim`` or ``log_prob``; kwargs given with an instance.
    """
    obj = name_or_obj
    if isinstance(obj, str):
        head, _, tail = obj.partition(":")
        key = _registered_key(head)
        if key is not None and ("=" in tail or not tail.strip()):
            options = parse_target_options(tail)
            both = sorted(set(options) & set(kwargs))
            if both:
                raise TypeError(
                    f"target option(s) {both} given in {obj!r} and as keyword arguments"
                )
            return _finish(TARGETS[key](**options, **kwargs), source=obj)
        if ":" in obj:
            try:
                attr = import_attr(obj, "target")
            except ImportError:
                if key is None:
                    raise
                raise ValueError(  # a registered name with malformed options, not a module
                    f"options of target {key!r} must look like '{key}:key=value,key=value', "
                    f"got {obj!r}"
                ) from None
            if _is_target_like(attr):
                return get_target(attr, **kwargs)
            if callable(attr):
                return _finish(attr(**kwargs), source=obj)
            return get_target(attr, **kwargs)
        key = obj.strip()
        if key not in TARGETS and key.lower() in TARGETS:
            key = key.lower()
        if key not in TARGETS:
            raise UnknownTargetError(
                f"unknown target {obj!r}; valid names: {', '.join(sorted(TARGETS))} "
                "(or a 'package.module:attribute' import path)"
            )
        return _finish(TARGETS[key](**kwargs), source=key)
    if isinstance(obj, Target):
        if kwargs:
            raise TypeError(
                f"keyword arguments {sorted(kwargs)} cannot be applied to an existing "
                f"Target instance ({obj.name!r})"
            )
        return obj
    if isinstance(obj, type):  # a class: build it, then adapt if needed
        return _finish(obj(**kwargs), source=obj.__name__)
    unknown = sorted(set(kwargs) - set(_ADAPTER_KWARGS))
    if unknown:
        raise TypeError(
            f"unexpected keyword arguments {unknown} for wrapping {type(obj).__name__}; "
            f"allowed: {list(_ADAPTER_KWARGS)}"
        )
    return wrap_target(obj, **kwargs)


def _finish(built: Any, *, source: str) -> Target:
    if isinstance(built, Target):
        return built
    try:
        return wrap_target(built)
    except TypeError as exc:
        raise TypeError(f"target factory {source!r} returned an unusable object: {exc}") from exc
