"""``--set section.field=value`` overrides: parse a value by its field's type and apply it.

:meth:`ads_bench.config.Config.with_overrides` applies ``{"section.field" or "field": value}`` one
field at a time through :func:`set_field`; a value may be a command-line string, parsed by the
field's annotated type (:func:`coerce`: ``"2e3"`` as an int, ``"none"`` for an optional field,
``"yes"``/``"off"`` for a bool). An unknown or renamed field is refused with the valid names.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from ads_bench.config import RENAMED, SECTIONS, Config, field_type, resolve_annotation

__all__ = ["coerce", "parse_override", "set_field"]


def _field_names(obj) -> list[str]:
    return [f.name for f in fields(obj)]


def coerce(value: Any, annotation: Any, where: str) -> Any:
    """Parse ``value`` (possibly a CLI string) to the field's annotated type, or raise clearly."""
    base, optional = resolve_annotation(annotation)
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


def set_field(cfg: Config, dotted: str, value: Any) -> Config:
    """``cfg`` with the field ``dotted`` (``"section.field"``, or a bare name found in exactly one
    section) set to ``value``, parsed by the field's type; ``ValueError`` naming valid fields."""
    parts = dotted.split(".")
    if len(parts) == 1:
        # A bare name: a top-level field, or a field found in exactly one section.
        name = parts[0]
        if name in _field_names(cfg) and name not in SECTIONS:
            return replace(cfg, **{name: coerce(value, field_type(cfg, name), dotted)})
        owners = [s for s, sub in SECTIONS.items() if name in _field_names(sub)]
        if len(owners) != 1:
            raise ValueError(f"unknown config field {dotted!r}; {_valid_fields()}")
        parts = [owners[0], name]
    if len(parts) != 2 or parts[0] not in SECTIONS:
        raise ValueError(f"unknown config field {dotted!r}; {_valid_fields()}")
    section, name = parts
    sub = getattr(cfg, section)
    if f"{section}.{name}" in RENAMED:
        raise ValueError(f"config field {dotted!r} was renamed: use {RENAMED[f'{section}.{name}']}")
    if name not in _field_names(sub):
        raise ValueError(
            f"unknown config field {dotted!r}; {section} has {', '.join(_field_names(sub))}"
        )
    new_sub = replace(sub, **{name: coerce(value, field_type(sub, name), dotted)})
    return replace(cfg, **{section: new_sub})


def _valid_fields() -> str:
    names = ["target", "method", "seed"]
    for section, sub in SECTIONS.items():
        names += [f"{section}.{n}" for n in _field_names(sub)]
    return "valid fields: " + ", ".join(names)


def parse_override(text: str) -> tuple[str, str]:
    """``"section.field=value"`` -> ``("section.field", "value")``."""
    if "=" not in text:
        raise ValueError(f"--set expects section.field=value, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), value
