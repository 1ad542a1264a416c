"""Python-side registrations of the C++ custom ops: fake (meta) kernels and autograd formulas.

The schemas and the CPU/CUDA kernels are registered in C++ (``csrc/``). Here each op gets a fake
kernel (shape/dtype propagation, so ``torch.compile`` can trace it without running it) and, where it is
differentiable, an autograd formula expressed through another custom op, so that the backward pass is
fused too and also traceable. Registration happens once, when the extension imports successfully.
"""

from __future__ import annotations

import torch

_REGISTERED = False


def _gaussian_logprob_fake(x, mean, log_var):
    torch._check(x.dim() >= 1, lambda: "gaussian_logprob: x must be [..., D]")
    return x.new_empty(x.shape[:-1])


def _gaussian_logprob_backward_fake(grad, x, mean, log_var):
    return torch.empty_like(x), torch.empty_like(x), torch.empty_like(x)


def _gaussian_logprob_setup_context(ctx, inputs, output):
    x, mean, log_var = inputs
    ctx.save_for_backward(x, mean, log_var)


def _gaussian_logprob_backward(ctx, grad):
    x, mean, log_var = ctx.saved_tensors
    grad_x, grad_mean, grad_log_var = torch.ops.ads_bench.gaussian_logprob_backward(
        grad.contiguous(), x, mean, log_var
    )
    needs = ctx.needs_input_grad
    return (
        grad_x if needs[0] else None,
        grad_mean if needs[1] else None,
        grad_log_var if needs[2] else None,
    )


def register() -> None:
    """Attach fake kernels and autograd formulas to the ops of ``ads_bench._C`` (idempotent)."""
    global _REGISTERED
    if _REGISTERED:
        return
    torch.library.register_fake("ads_bench::gaussian_logprob")(_gaussian_logprob_fake)
    torch.library.register_fake("ads_bench::gaussian_logprob_backward")(
        _gaussian_logprob_backward_fake
    )
    torch.library.register_autograd(
        "ads_bench::gaussian_logprob",
        _gaussian_logprob_backward,
        setup_context=_gaussian_logprob_setup_context,
    )
    _REGISTERED = True
