"""Python-side registrations of the C++ custom ops: fake (meta) kernels and autograd formulas.

The schemas and the CPU/CUDA kernels are registered in C++ (``csrc/``). Here each op gets a fake
kernel (shape/dtype propagation, so ``torch.compile`` can trace it without running it) and, where it is
differentiable, an autograd formula expressed through another custom op, so that the backward pass is
fused too and also traceable. Registration happens once, when the extension imports successfully.

Higher derivatives. The fused backward ops return plain tensors (no graph), so a backward pass that
records a graph (``torch.autograd.grad(..., create_graph=True)``, which runs the backward with grad
mode on) computes the gradients with the differentiable reference formulas of
:mod:`ads_bench.ops.reference` instead (``*_backward``): double backward through a fused op then
equals the reference's, at the reference's speed for that one backward. An ordinary backward (grad
mode off), and the backward that ``torch.compile`` traces, run the fused backward ops.
"""

from __future__ import annotations

import torch

from ads_bench.ops import reference

_REGISTERED = False


def _gaussian_logprob_fake(x, mean, log_var):
    torch._check(x.dim() >= 1, lambda: "gaussian_logprob: x must be [..., D]")
    return x.new_empty(x.shape[:-1])


def _gaussian_logprob_backward_fake(grad, x, mean, log_var):
    # The kernel returns contiguous gradients whatever the input strides.
    return x.new_empty(x.shape), x.new_empty(x.shape), x.new_empty(x.shape)


def _gaussian_logprob_setup_context(ctx, inputs, output):
    x, mean, log_var = inputs
    ctx.save_for_backward(x, mean, log_var)


def _gaussian_logprob_backward(ctx, grad):
    x, mean, log_var = ctx.saved_tensors
    if torch.is_grad_enabled():  # create_graph=True: differentiable formulas (see module docstring)
        grads = reference.gaussian_logprob_backward(grad, x, mean, log_var)
    else:
        grads = torch.ops.ads_bench.gaussian_logprob_backward(grad.contiguous(), x, mean, log_var)
    grad_x, grad_mean, grad_log_var = grads
    needs = ctx.needs_input_grad
    return (
        grad_x if needs[0] else None,
        grad_mean if needs[1] else None,
        grad_log_var if needs[2] else None,
    )


def _trajectory_balance_fake(
    states, fwd_mean, fwd_log_var, bwd_mean, bwd_log_var, log_reward, log_z, step_mask
):
    torch._check(states.dim() == 3, lambda: "trajectory_balance: states must be [B, T+1, D]")
    return states.new_empty(()), states.new_empty(states.shape[:1])


def _trajectory_balance_backward_fake(
    grad_loss, grad_log_w, states, fwd_mean, fwd_log_var, bwd_mean, bwd_log_var, log_w, log_z,
    step_mask,
):  # fmt: skip
    # The kernels return contiguous gradients, whatever the inputs' strides.
    return (
        states.new_empty(states.shape),
        *(states.new_empty(fwd_mean.shape) for _ in range(4)),
        states.new_empty(states.shape[:1]),
        states.new_empty(()),
    )


def _trajectory_balance_setup_context(ctx, inputs, output):
    states, fwd_mean, fwd_log_var, bwd_mean, bwd_log_var, _log_reward, log_z, step_mask = inputs
    _loss, log_w = output
    ctx.has_log_z = log_z is not None
    ctx.save_for_backward(
        states, fwd_mean, fwd_log_var, bwd_mean, bwd_log_var, log_w, log_z, step_mask
    )


def _trajectory_balance_backward(ctx, grad_loss, grad_log_w):
    states, fwd_mean, fwd_log_var, bwd_mean, bwd_log_var, log_w, log_z, step_mask = (
        ctx.saved_tensors
    )
    # Gradients of both outputs reach one fused backward; an unused output's is zero.
    if grad_loss is None:
        grad_loss = log_w.new_zeros(())
    if grad_log_w is None:
        grad_log_w = torch.zeros_like(log_w)
    args = (
        grad_loss, grad_log_w, states, fwd_mean, fwd_log_var, bwd_mean, bwd_log_var, log_w,
        log_z if ctx.has_log_z else None, step_mask,
    )  # fmt: skip
    if torch.is_grad_enabled():  # create_graph=True: differentiable formulas (see module docstring)
        grads = reference.trajectory_balance_backward(*args)
    else:
        grads = torch.ops.ads_bench.trajectory_balance_backward(*args)
    needs = ctx.needs_input_grad
    out = [g if needs[i] else None for i, g in enumerate(grads)]
    if not ctx.has_log_z:
        out[6] = None
    return (*out, None)  # no gradient for step_mask


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
    torch.library.register_fake("ads_bench::trajectory_balance")(_trajectory_balance_fake)
    torch.library.register_fake("ads_bench::trajectory_balance_backward")(
        _trajectory_balance_backward_fake
    )
    torch.library.register_autograd(
        "ads_bench::trajectory_balance",
        _trajectory_balance_backward,
        setup_context=_trajectory_balance_setup_context,
    )
    _REGISTERED = True
