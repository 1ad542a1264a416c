"""Argument checks and the choice between a fused kernel and its reference.

Every public op takes ``impl="auto" | "fused" | "reference"``:

- ``"reference"`` runs the pure-PyTorch reference of :mod:`ads_bench.ops.reference`;
- ``"fused"`` runs the C++/CUDA kernel and raises if none is built for the inputs' device and dtype;
- ``"auto"`` runs the fused kernel when it is built for the inputs, the reference otherwise.

Checks raise ``TypeError``/``ValueError`` that name the argument and what was wrong, before any kernel
runs, so a bad call never fails deep inside C++.
"""

from __future__ import annotations

import torch

from ads_bench.ops._extension import EXTENSION_ERROR, fused_available

IMPLS = ("auto", "fused", "reference")
FUSED_DTYPES = (torch.float32, torch.float64)


def check_tensors(op: str, **tensors: torch.Tensor) -> None:
    """All arguments are floating tensors of one shape, dtype and device; the first names the rest."""
    items = list(tensors.items())
    for name, t in items:
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{op}: {name} must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(f"{op}: {name} must be a floating-point tensor, got dtype {t.dtype}")
    ref_name, ref = items[0]
    for name, t in items[1:]:
        if t.shape != ref.shape:
            raise ValueError(
                f"{op}: {name} has shape {tuple(t.shape)} but {ref_name} has shape "
                f"{tuple(ref.shape)}; they must match (expand explicitly to broadcast)"
            )
        check_dtype_device(op, name, t, ref_name, ref)


def check_dtype_device(
    op: str, name: str, t: torch.Tensor, ref_name: str, ref: torch.Tensor
) -> None:
    """``t`` has ``ref``'s dtype and device, or a ``TypeError``/``ValueError`` naming both."""
    if t.dtype != ref.dtype:
        raise TypeError(
            f"{op}: {name} has dtype {t.dtype} but {ref_name} has dtype {ref.dtype}; "
            "they must match"
        )
    if t.device != ref.device:
        raise ValueError(
            f"{op}: {name} is on {t.device} but {ref_name} is on {ref.device}; "
            "they must be on one device"
        )


def use_fused(op: str, impl: str, like: torch.Tensor) -> bool:
    """Resolve ``impl`` for inputs shaped like ``like``: True means run the fused kernel."""
    if impl not in IMPLS:
        raise ValueError(f"{op}: impl must be one of {IMPLS}, got {impl!r}")
    if impl == "reference":
        return False
    ok = fused_available(like.device) and like.dtype in FUSED_DTYPES
    if impl == "fused" and not ok:
        if EXTENSION_ERROR is not None:
            reason = EXTENSION_ERROR
        elif like.dtype not in FUSED_DTYPES:
            reason = f"fused kernels support float32 and float64, got {like.dtype}"
        else:
            reason = f"no fused kernel was built for device type {like.device.type!r}"
        raise RuntimeError(f"{op}: impl='fused' requested but {reason}")
    return ok
