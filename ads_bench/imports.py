"""The one resolver of ``"package.module:attribute"`` paths: user targets, methods and
discretisation schemes all name their plug-ins this way."""

from __future__ import annotations

import importlib
from typing import Any


def import_attr(path: str, what: str = "object") -> Any:
    """The attribute at ``path`` = ``"package.module:attribute"`` (the attribute may be dotted).

    Raises ``ValueError`` when ``path`` does not look like that, ``ImportError`` when the module does
    not import and ``AttributeError`` when it lacks the attribute; every message names ``what``
    (e.g. ``"target"``) and ``path``."""
    module_name, _, attr_path = path.partition(":")
    if not module_name or not attr_path:
        raise ValueError(
            f"{what} import path must look like 'package.module:attribute', got {path!r}"
        )
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(
            f"cannot import module {module_name!r} for {what} {path!r}: {exc}"
        ) from exc
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AttributeError(
                f"module {module_name!r} has no attribute {attr_path!r} ({what} {path!r})"
            ) from None
    return obj
