"""Transition kernels of the generation and destruction processes (paper arXiv 2506.01541, sec. 3).

Generation kernel (forward policy theta), step ``i`` from ``x_i`` to ``x_{i+1}``::

    p_theta(x_{i+1} | x_i) = N(c_i x_i + g_i f(x_i, t_i),  v_i exp(s(x_i, t_i)))          (diagonal)
    f = clip(NN_1^mean, +-1e4) [+ NN_2(t_i) * clip(grad log R(x_i), +-1e2)]           (Langevin)
    s = 0 (fixed variance) | r_F tanh(NN_1^logvar)  (learned variance)

with ``c_i, g_i, v_i`` the scheme's ``gen_coef, gen_scale, exp(gen_log_var)``
(:mod:`ads_bench.schemes`; the default Euler step has ``c = 1``, ``g = dt``, ``v = sigma^2 dt``).

Destruction kernel (backward policy phi), step ``i`` from ``x_{i+1}`` back to ``x_i``. It corrects a
fixed *base* kernel ``N(c_i x_{i+1}, v_i)`` (the scheme's ``dest_coef``, ``exp(dest_log_var)``: the
Brownian bridge for the pinned prior, the exact VP kernel for the gaussian one). Destruction modes
(``a, b`` = the destruction network's mean and log-variance outputs at ``(x_{i+1}, t_{i+1})``):

* ``fixed``:    mean = c x,                               log var = log v;
* ``bounded``:  mean = x + (c - 1) x (1 + r_B tanh a),    log var = log v + log(1 + r_B tanh b),
  a multiplicative correction of the base mean shift and variance with ``r_B`` in (0, 1] (the
  correction of earlier work, Sendera et al. 2024). For the pinned prior
  ``(c - 1) x = -dt x / t_{i+1}``. The factor ``1 + r_B tanh b`` is floored at
  :data:`BOUNDED_VAR_FLOOR` before the log, since it reaches 0 at ``r_B = 1``;
* ``adaptive`` (the paper's method): mean = c x + dt a,   log var = log v + R tanh(b / R),
  ``R = r_a`` (default 4); ``r_a=None`` (or inf) is the unbounded variant, ``b`` clamped to
  ``+-UNBOUNDED_LOG_VAR_CLAMP`` for numerical safety only. Optionally the mean correction is bounded
  too: with ``r_m`` = M > 0, mean = c x + dt M tanh(a / M), so ``|mean - c x| <= dt M`` elementwise
  (equal to ``c x + dt a`` to first order in ``a``); ``r_m=None`` (the default, or inf) is the
  unbounded mean above. Only this mode uses ``r_m``.

Heads are zero-initialised, so every learned kernel starts exactly at its base. Kernels accept
states with any leading shape ``[..., D]`` and a Python ``step`` (one step, ``x`` ``[B, D]``) or
``step=None`` (all ``T`` steps at once, ``x`` ``[B, T, D]``: one batched network call).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ads_bench.networks import PolicyNet, TimeScaleNet

__all__ = [
    "BOUNDED_VAR_FLOOR",
    "DESTRUCTIONS",
    "UNBOUNDED_LOG_VAR_CLAMP",
    "DestructionKernel",
    "GenerationKernel",
    "grid_constant",
]

#: The destruction modes (``sampler.destruction``).
DESTRUCTIONS = ("fixed", "bounded", "adaptive")
#: Floor of the bounded mode's variance factor ``1 + r_B tanh b`` (log floor ~ -9.2).
BOUNDED_VAR_FLOOR = 1e-4
#: Clamp of the unbounded adaptive log-variance correction ``b`` (numerical safety only).
UNBOUNDED_LOG_VAR_CLAMP = 20.0


def grid_constant(x: Tensor) -> Tensor:
    """A grid constant, kept in float64 (cast to the states' dtype on use, so that a sampler
    converted with ``.double()`` has exact constants; ``.float()`` would round them)."""
    return x.detach().clone().to(torch.float64)


def _at(buf: Tensor, step: int | Tensor) -> Tensor:
    """``buf[step]`` ``[]``; a 0-dim integer tensor ``step`` is gathered, not read on the host, so
    one compiled graph serves every step (:mod:`ads_bench.update`)."""
    if isinstance(step, Tensor):
        return buf.index_select(0, step.reshape(1)).squeeze(0)
    return buf[step]


def _step_view(buf: Tensor, step: int | Tensor | None, like: Tensor) -> Tensor:
    """Per-step buffer ``[T]`` -> ``[]`` (one step) or ``[T, 1]`` (all steps), in ``like.dtype``."""
    out = _at(buf, step) if step is not None else buf.unsqueeze(-1)
    return out.to(like.dtype)


def _step_time(buf: Tensor, step: int | Tensor | None, x: Tensor) -> Tensor:
    """Times for the network: ``[]`` (one step) or ``[T]`` (all steps, ``x`` ``[B, T, D]``).

    Not expanded to the batch: the time embedding is computed once per distinct time and broadcast
    against the state embedding, instead of once per sample (B times less time-embedding work).
    """
    t = _at(buf, step) if step is not None else buf
    return t.to(x.dtype)


class GenerationKernel(nn.Module):
    """``p_theta(x_{i+1} | x_i)``: ``forward(x_i, step) -> (mean, log_var)``, shaped like ``x``.

    ``score_fn(x [..., D]) -> [..., D]`` (the target score ``grad log R``) is required with
    ``langevin=True``. It is kept as a plain attribute (not a registered submodule).
    ``coef``, ``scale``, ``log_var_base`` ``[T]`` (a :class:`~ads_bench.schemes.Scheme`'s ``gen_*``)
    default to the Euler step ``mean = x + dt f``, ``var = t_scale dt``.
    """

    def __init__(
        self,
        dim: int,
        times: Tensor,
        *,
        t_scale: float = 1.0,
        learn_var: bool = False,
        r_f: float = 4.0,
        langevin: bool = False,
        score_fn: Callable[[Tensor], Tensor] | None = None,
        hidden: int = 64,
        layers: int = 2,
        n_freq: int = 64,
        drift_clip: float = 1e4,
        score_clip: float = 1e2,
        langevin_init: float = 1.0,
        coef: Tensor | None = None,
        scale: Tensor | None = None,
        log_var_base: Tensor | None = None,
    ):
        super().__init__()
        if langevin and score_fn is None:
            raise ValueError("langevin=True needs score_fn (the target score grad log R)")
        self.learn_var, self.r_f = bool(learn_var), float(r_f)
        self.drift_clip, self.score_clip = float(drift_clip), float(score_clip)
        self.net = PolicyNet(dim, hidden, layers, n_freq)
        self.langevin_net = TimeScaleNet(dim, hidden, n_freq, langevin_init) if langevin else None
        object.__setattr__(self, "score_fn", score_fn)
        dt = (times[1:] - times[:-1]).double()
        self.register_buffer("t_in", grid_constant(times[:-1]))
        self.register_buffer("coef", grid_constant(torch.ones_like(dt) if coef is None else coef))
        self.register_buffer("scale", grid_constant(dt if scale is None else scale))
        base = torch.log(t_scale * dt) if log_var_base is None else log_var_base
        self.register_buffer("log_var_base", grid_constant(base))

    def forward(
        self, x: Tensor, step: int | None = None, *, score_grad: bool = False
    ) -> tuple[Tensor, Tensor]:
        """``(mean, log_var)`` of the step(s) from ``x`` (``[B, D]`` at ``step``, or ``[B, T, D]``
        at every step with ``step=None``); ``score_grad`` lets gradients flow through the score."""
        t = _step_time(self.t_in, step, x)
        a, b = self.net(x, t)
        drift = a.clamp(-self.drift_clip, self.drift_clip)
        if self.langevin_net is not None:
            score = self.score_fn(x if score_grad else x.detach())
            drift = drift + self.langevin_net(t) * score.clamp(-self.score_clip, self.score_clip)
        mean = _step_view(self.coef, step, x) * x + _step_view(self.scale, step, x) * drift
        log_var = _step_view(self.log_var_base, step, x)
        log_var = log_var + self.r_f * torch.tanh(b) if self.learn_var else log_var.expand_as(x)
        return mean, log_var


class DestructionKernel(nn.Module):
    """``p_phi(x_i | x_{i+1})``: ``forward(x_{i+1}, step) -> (mean, log_var)``, shaped like ``x``.

    ``coef`` ``[T]`` and ``log_var_base`` ``[T]`` define the base kernel
    ``N(coef_i x, exp(log_var_base_i))`` (module docstring). For the pinned step the base entries
    are placeholders (0); callers mask it.
    ``r_a`` / ``r_m``: bounds of the adaptive log-variance / mean corrections (``None``:
    unbounded); both are validated in every mode but used only by ``adaptive``.
    """

    def __init__(
        self,
        times: Tensor,
        coef: Tensor,
        log_var_base: Tensor,
        *,
        mode: str = "fixed",
        net: PolicyNet | None = None,
        r_b: float = 1.0,
        r_a: float | None = 4.0,
        r_m: float | None = None,
    ):
        super().__init__()
        if mode not in DESTRUCTIONS:
            raise ValueError(f"destruction must be one of {DESTRUCTIONS}, got {mode!r}")
        if (net is None) != (mode == "fixed"):
            raise ValueError("a destruction network is needed exactly for the learned modes")
        if mode == "bounded" and not 0.0 < r_b <= 1.0:
            raise ValueError(f"r_b must be in (0, 1], got {r_b}")
        if r_a is not None and not r_a > 0:
            raise ValueError(f"r_a must be positive or None, got {r_a}")
        if r_m is not None and not r_m > 0:
            raise ValueError(f"r_m must be positive or None, got {r_m}")
        self.mode, self.r_b = mode, float(r_b)
        self.r_a = None if r_a is None or math.isinf(r_a) else float(r_a)
        self.r_m = None if r_m is None or math.isinf(r_m) else float(r_m)
        self.net = net
        self.register_buffer("t_in", grid_constant(times[1:]))
        self.register_buffer("dt", grid_constant(times[1:] - times[:-1]))
        self.register_buffer("coef", grid_constant(coef))
        self.register_buffer("log_var_base", grid_constant(log_var_base))

    def forward(self, x: Tensor, step: int | None = None) -> tuple[Tensor, Tensor]:
        """``(mean, log_var)`` of the step(s) back from ``x`` (``[B, D]`` at ``step``, or
        ``[B, T, D]`` at every step with ``step=None``)."""
        coef = _step_view(self.coef, step, x)
        log_var = _step_view(self.log_var_base, step, x)
        if self.net is None:
            return coef * x, log_var.expand_as(x)
        a, b = self.net(x, _step_time(self.t_in, step, x))
        if self.mode == "bounded":
            mean = x + (coef - 1.0) * x * (1.0 + self.r_b * torch.tanh(a))
            factor = (1.0 + self.r_b * torch.tanh(b)).clamp_min(BOUNDED_VAR_FLOOR)
            return mean, log_var + torch.log(factor)
        if self.r_m is not None:
            a = self.r_m * torch.tanh(a / self.r_m)
        mean = coef * x + _step_view(self.dt, step, x) * a
        if self.r_a is None:
            corr = b.clamp(-UNBOUNDED_LOG_VAR_CLAMP, UNBOUNDED_LOG_VAR_CLAMP)
        else:
            corr = self.r_a * torch.tanh(b / self.r_a)
        return mean, log_var + corr
