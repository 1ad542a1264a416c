"""Loading of the compiled extension ``ads_bench._C`` and what it says about itself.

Importing ``ads_bench._C`` runs its ``TORCH_LIBRARY`` registrations: the op schemas of
``csrc/ops.cpp`` and the CPU (and, when built, CUDA) kernels. A source checkout that was never built
still imports: every op then falls back to its pure-PyTorch reference, with one warning saying why.
The state is read once, at import, into module constants (cheap to consult inside ``torch.compile``).
"""

from __future__ import annotations

import warnings

import torch

__all__ = ["EXTENSION_ERROR", "build_info", "fused_available", "registered_kernels"]


def _load() -> str | None:
    try:
        from ads_bench import _C  # noqa: F401
    except ImportError as exc:  # not built, or built against another torch
        msg = (
            f"ads_bench._C could not be imported ({exc}); fused kernels are unavailable and "
            "impl='auto' uses the pure-PyTorch references. Build it with "
            "`pip install --no-build-isolation -e .`."
        )
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
        return msg
    return None


#: Why the extension is unavailable, or ``None`` when it imported.
EXTENSION_ERROR: str | None = _load()
#: CUDA version compiled in as major*1000 + minor*10, or -1 (no CUDA kernels, or no extension).
_CUDA_VERSION: int = int(torch.ops.ads_bench.cuda_version()) if EXTENSION_ERROR is None else -1


def build_info() -> dict:
    """What the extension was built with.

    Returns a dict: ``extension`` (bool, the module imported), ``cpu`` (bool, CPU kernels registered),
    ``cuda`` (bool, CUDA kernels compiled in), ``cuda_version`` (``"12.4"``-style string or ``None``),
    ``torch`` (the running torch version) and ``error`` (why the extension is unavailable, or ``None``).
    """
    cuda = _CUDA_VERSION >= 0
    return {
        "extension": EXTENSION_ERROR is None,
        "cpu": EXTENSION_ERROR is None,
        "cuda": cuda,
        "cuda_version": f"{_CUDA_VERSION // 1000}.{(_CUDA_VERSION % 1000) // 10}" if cuda else None,
        "torch": torch.__version__,
        "error": EXTENSION_ERROR,
    }


def fused_available(device: torch.device) -> bool:
    """True when the fused kernels are built for ``device``'s type (``cpu`` or ``cuda``)."""
    if EXTENSION_ERROR is not None:
        return False
    if device.type == "cpu":
        return True
    return device.type == "cuda" and _CUDA_VERSION >= 0


def registered_kernels(keys: tuple[str, ...] = ("CPU", "CUDA")) -> dict[str, list[str]]:
    """The backend kernels registered for every op of the ``ads_bench`` namespace.

    Ops are enumerated from the dispatcher (whatever ``csrc/ops.cpp`` declares), not from a list kept
    by hand. Returns ``{"ads_bench::<op>": [dispatch keys of ``keys`` with a kernel of their own]}``;
    composite and catch-all kernels (``cuda_version``, the test hooks) count for no key.
    """
    has = torch._C._dispatch_has_kernel_for_dispatch_key
    names = sorted(n for n in torch._C._dispatch_get_all_op_names() if n.startswith("ads_bench::"))
    return {name: [k for k in keys if has(name, k)] for name in names}
