"""The benchmark cases of the fused ops, defined once: shapes, inputs, the timed call, its bytes.

``tests/benchmarks`` (pytest-benchmark) and ``python -m ads_bench.gpu_check`` time the same cases:
forward + backward of ``gaussian_logprob`` and ``trajectory_balance`` (README "Kernels") for every
``(B, T, D)`` of :data:`SHAPES` and every implementation of :data:`IMPLS`, from the inputs of
:func:`inputs` (seed 0; ``trajectory_balance`` with step 0 masked, as for a pinned destruction step,
and a learned ``log_z``). Within a shape compare implementations as ratios, never lone absolute
times. :func:`fused_bytes` is the bytes such a call must move, the paper roofline's numerator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ads_bench.ops import reference
from ads_bench.ops.balance import trajectory_balance
from ads_bench.ops.gaussian import gaussian_logprob

__all__ = [
    "H100_SXM_BYTES_PER_S",
    "IMPLS",
    "OPS",
    "SHAPES",
    "fused_bytes",
    "fwd_bwd_call",
    "inputs",
    "roofline_seconds",
]

#: The benchmarked (B, T, D): Table 1's batch 300 at T = 10 and T = 100 (D = 2 and 32), a large
#: batch and a very large batch of short trajectories.
SHAPES: tuple[tuple[int, int, int], ...] = (
    (300, 10, 2),
    (300, 100, 32),
    (4096, 100, 32),
    (65536, 20, 2),
)
#: The implementations compared: the fused kernels, the pure-PyTorch reference and the reference
#: compiled by ``torch.compile``.
IMPLS: tuple[str, ...] = ("fused", "reference", "compiled-reference")
OPS: tuple[str, ...] = ("gaussian_logprob", "trajectory_balance")
#: HBM3 bandwidth of an H100 SXM (NVIDIA's data sheet): the paper roofline's reference.
H100_SXM_BYTES_PER_S = 3.35e12


def _check_op(op: str) -> None:
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}; expected one of {OPS}")


def inputs(op: str, shape: Sequence[int], device: torch.device | str = "cpu"):
    """``(leaves, extra)``: the float32 inputs of one case (leaves, requiring grad, on ``device``)
    and the non-differentiable ones. ``gaussian_logprob``: x, mean, log_var ``[B, T, D]``, no extra.
    ``trajectory_balance``: states ``[B, T+1, D]``, fwd_mean, fwd_log_var, bwd_mean, bwd_log_var
    ``[B, T, D]``, log_reward ``[B]``, log_z ``[]``; extra ``(step_mask [T],)`` with step 0 masked."""
    _check_op(op)
    b, t, d = (int(v) for v in shape)
    gen = torch.Generator().manual_seed(0)
    if op == "gaussian_logprob":
        leaves = [torch.randn(b, t, d, generator=gen) for _ in range(3)]
        extra: tuple = ()
    else:
        leaves = [
            torch.randn(b, t + 1, d, generator=gen),  # states
            torch.randn(b, t, d, generator=gen),  # fwd_mean
            0.5 * torch.randn(b, t, d, generator=gen),  # fwd_log_var
            torch.randn(b, t, d, generator=gen),  # bwd_mean
            0.5 * torch.randn(b, t, d, generator=gen),  # bwd_log_var
            torch.randn(b, generator=gen),  # log_reward
            torch.zeros(()),  # log_z
        ]
        extra = ((torch.arange(t) > 0).to(device),)
    return [x.to(device).requires_grad_(True) for x in leaves], extra


def _op_fn(op: str, impl: str) -> Callable:
    if impl == "compiled-reference":
        return torch.compile(getattr(reference, op), dynamic=False)
    if op == "gaussian_logprob":
        return lambda x, mean, log_var: gaussian_logprob(x, mean, log_var, impl=impl)

    def tb(*args):
        *tensors, log_z, step_mask = args
        return trajectory_balance(*tensors, log_z, step_mask=step_mask, impl=impl)

    return tb


def fwd_bwd_call(
    op: str, impl: str, shape: Sequence[int], device: torch.device | str = "cpu"
) -> Callable[[], object]:
    """One case as a call without arguments: clear the leaves' gradients, run the forward and the
    backward (``gaussian_logprob``: of the output's sum; ``trajectory_balance``: of the loss) and
    return the forward's output (``[B, T]``, or ``(loss [], log_w [B])``)."""
    _check_op(op)
    leaves, extra = inputs(op, shape, device)
    fn = _op_fn(op, impl)

    def call():
        for x in leaves:
            x.grad = None
        out = fn(*leaves, *extra)
        (out.sum() if op == "gaussian_logprob" else out[0]).backward()
        return out

    return call


def fused_bytes(op: str, shape: Sequence[int], dtype_bytes: int = 4) -> int:
    """Bytes the fused op must move for one forward + backward call, as :func:`fwd_bwd_call` makes it.

    Each input of the forward and of the backward op is read once and each output written once;
    intermediates that stay on chip cost nothing. Values are ``dtype_bytes`` wide (float32: 4, the
    benchmarks' dtype), the bool ``step_mask`` one byte. With ``N = B T D`` and ``R = B T``:

    - ``gaussian_logprob``: forward reads x, mean, log_var (3N) and writes [B, T] (R); backward reads
      the upstream gradient (R) and x, mean, log_var (3N) and writes three gradients (3N):
      ``(9 N + 2 R) * dtype_bytes``.
    - ``trajectory_balance`` with ``S = B (T+1) D`` states and ``P = N`` per parameter tensor: forward
      reads states, four parameter tensors, log_reward, log_z (S + 4P + B + 1) and writes loss and
      log_w (1 + B); backward reads grad_loss, grad_log_w, states, four parameters, log_w, log_z
      (S + 4P + 2B + 2) and writes the gradients of states, the parameters, log_reward, log_z
      (S + 4P + B + 1); each pass reads step_mask (T bytes):
      ``(3 S + 12 P + 5 B + 5) * dtype_bytes + 2 T``.
    """
    b, t, d = (int(v) for v in shape)
    n, rows = b * t * d, b * t
    if op == "gaussian_logprob":
        return (9 * n + 2 * rows) * dtype_bytes
    if op == "trajectory_balance":
        states = b * (t + 1) * d
        return (3 * states + 12 * n + 5 * b + 5) * dtype_bytes + 2 * t
    raise ValueError(f"fused_bytes: unknown op {op!r}; expected one of {OPS}")


def roofline_seconds(nbytes: float, bytes_per_s: float = H100_SXM_BYTES_PER_S) -> float:
    """The time ``nbytes`` take at ``bytes_per_s`` (a lower bound; launch latency comes on top)."""
    return nbytes / bytes_per_s
