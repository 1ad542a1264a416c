"""A one-time probe of a resolved target: :func:`check_target`.

A user's ``log_prob`` that raises, returns the wrong shape or dtype, or NaN, would otherwise surface
as a traceback deep inside the first rollout, or as a non-finite loss with no hint of its cause. The
probe calls ``log_prob`` once, on a tiny fixed batch, before any network is built, and turns each of
these into a :class:`~ads_bench.targets.base.TargetError` of one line naming the target.

``-inf`` is allowed (a density may vanish outside a bounded support); NaN and ``+inf`` are not.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import TargetError

__all__ = ["PROBE_POINTS", "check_target", "probe_points"]

#: Size of the probe batch.
PROBE_POINTS = 3
_PROBE_SEED = 20_250_601


def probe_points(dim: int, *, dtype: torch.dtype, device: torch.device | str) -> Tensor:
    """The probe batch ``[PROBE_POINTS, dim]``: standard normal draws of a fixed CPU generator (the
    same points on every device and in every run)."""
    gen = torch.Generator().manual_seed(_PROBE_SEED)
    x = torch.randn(PROBE_POINTS, dim, generator=gen, dtype=torch.float64)
    return x.to(device=device, dtype=dtype)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def check_target(target, *, dtype: torch.dtype, device: torch.device | str) -> None:
    """Call ``target.log_prob`` once on :func:`probe_points`; raise :class:`TargetError` unless it
    returns a finite-or-``-inf`` tensor of shape ``[PROBE_POINTS]`` in ``dtype`` on ``device``.

    ``target`` is a resolved target (:func:`ads_bench.targets.get_target`), already moved to
    ``device`` and ``dtype``.
    """
    name = getattr(target, "name", None) or type(target).__name__
    dim = getattr(target, "dim", None)
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise TargetError(f"target {name!r}: dim must be a positive int, got {dim!r}")
    x = probe_points(dim, dtype=dtype, device=device)
    where = f"target {name!r}: log_prob of {PROBE_POINTS} probe points [{PROBE_POINTS}, {dim}]"
    try:
        with torch.no_grad():
            out = target.log_prob(x)
    except TargetError:
        raise
    except Exception as exc:  # a user's code may raise anything: report it in one line
        raise TargetError(f"{where} raised {type(exc).__name__}: {_one_line(exc)}") from exc
    if not isinstance(out, Tensor):
        raise TargetError(f"{where} must return a torch.Tensor, got {type(out).__name__}")
    if tuple(out.shape) != (PROBE_POINTS,):
        raise TargetError(f"{where} must return shape [{PROBE_POINTS}], got {list(out.shape)}")
    if out.dtype != x.dtype:
        raise TargetError(f"{where} must return dtype {x.dtype}, got {out.dtype}")
    if out.device != x.device:
        raise TargetError(f"{where} must return a tensor on {x.device}, got {out.device}")
    nan = int(torch.isnan(out).sum())
    pos_inf = int(torch.isposinf(out).sum())
    if nan or pos_inf:
        bad = ", ".join(
            f"{count} {kind}" for count, kind in ((nan, "NaN"), (pos_inf, "+inf")) if count
        )
        raise TargetError(f"{where} returned {bad} (only finite values or -inf are allowed)")
