"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every file is written to a unique temporary name in the same folder (``tempfile.mkstemp``),
flushed, fsynced and ``os.replace``d into place, so two writers never share a temporary file and a
process killed mid-write leaves the previous file intact (README *The run store*). The run store
(:mod:`ads_bench.store`) and every other writer of result files (tables, figures, the GAN cache,
``gpu_check``) use these functions.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["atomic_save", "atomic_write_bytes", "atomic_write_json", "atomic_write_text"]


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (unique temp file in the same folder, fsync, replace)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically (NaN/inf kept as JSON extensions)."""
    atomic_write_text(path, json.dumps(data, indent=2, default=str))


def atomic_save(path: str | os.PathLike, obj: Any) -> None:
    """``torch.save(obj)`` to ``path`` atomically."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())
