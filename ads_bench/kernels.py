"""Transition kernels of the generation and destruction processes, and the :class:`Sampler` module.

SPEC sections 2-3; paper (arXiv:2506.01541) section 3. Time grid ``t_i = i / T`` (``i = 0..T``),
``dt_i = t_{i+1} - t_i``.

Generation kernel (forward policy theta), step ``i`` from ``x_i`` to ``x_{i+1}``::

    p_theta(x_{i+1} | x_i) = N(x_i + dt_i f(x_i, t_i),  sigma^2 dt_i exp(s(x_i, t_i)))   (diagonal)
    f = clip(NN_1^mean, +-1e4) [+ NN_2(t_i) * clip(grad log R(x_i), +-1e2)]           (Langevin)
    s = 0 (fixed variance) | r_F tanh(NN_1^logvar)  (learned variance)

Destruction kernel (backward policy phi), step ``i`` from ``x_{i+1}`` back to ``x_i``. It corrects a
fixed *base* kernel ``N(c_i x_{i+1}, v_i)``:

* pinned prior (``p_0 = delta_0``): the Brownian bridge, i.e. the time reversal of Brownian motion of
  variance ``sigma^2 t`` started at 0: ``c_i = t_i / t_{i+1}``, ``v_i = sigma^2 dt_i t_i / t_{i+1}``.
  Step ``i = 0`` lands deterministically on ``x_0 = 0``: it contributes log-probability 0 and is
  marked ``False`` in :attr:`Sampler.step_mask`.
* gaussian prior (``p_0 = N(0, sigma_0^2 I)``): a variance-preserving noising kernel
  ``x_i = sqrt(1 - beta_i) x_{i+1} + sigma_0 sqrt(beta_i) eps``, so ``c_i = sqrt(1 - beta_i)``,
  ``v_i = sigma_0^2 beta_i`` (schedule in :func:`vp_betas`).

Destruction modes (``a, b`` = the destruction network's mean and log-variance outputs at
``(x_{i+1}, t_{i+1})``):

* ``fixed``:    mean = c x,                               log var = log v;
* ``bounded``:  mean = x + (c - 1) x (1 + r_B tanh a),    log var = log v + log(1 + r_B tanh b),
  a multiplicative correction of the base mean shift and variance with ``r_B`` in (0, 1]. For the
  pinned prior ``(c - 1) x = -dt x / t_{i+1}``, the SPEC formula. The factor ``1 + r_B tanh b`` is
  floored at :data:`BOUNDED_VAR_FLOOR` before the log, since it reaches 0 at ``r_B = 1``;
* ``adaptive`` (the paper's method): mean = c x + dt a,   log var = log v + R tanh(b / R), ``R = r_a``
  (default 4); ``r_a=None`` (or inf) is the unbounded variant, ``b`` clamped to
  ``+-UNBOUNDED_LOG_VAR_CLAMP`` for numerical safety only. Optionally the mean correction is bounded
  too: with ``r_m`` = M > 0, mean = c x + dt M tanh(a / M), so ``|mean - c x| <= dt M`` elementwise
  (equal to ``c x + dt a`` to first order in ``a``); ``r_m=None`` (the default, or inf) is the
  unbounded mean above. Only this mode uses ``r_m``.

Discretisation schemes. The per-step constants of both kernels come from a *scheme*, a function of
the grid returning a :class:`Scheme`; generation means are ``gen_coef_i x_i + gen_scale_i f`` and
generation variances ``exp(gen_log_var_i)`` (times ``exp(s)`` when learned). :func:`default_scheme`
is the one above (``gen_coef = 1``, ``gen_scale = dt``, ``gen_log_var = log sigma^2 dt``, and the bridge
or exact VP base). Comparison methods with other integrators (DIS: Euler-Maruyama of the VP SDE;
DDS: exponential integrator of an OU process, in ``baselines/``) pass their own scheme.

Heads are zero-initialised, so every learned kernel starts exactly at its base. Kernels accept states
with any leading shape ``[..., D]`` and a Python ``step`` (one step, ``x`` ``[B, D]``) or
``step=None`` (all ``T`` steps at once, ``x`` ``[B, T, D]``: one batched network call).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ads_bench.imports import import_attr
from ads_bench.networks import PolicyNet, TimeScaleNet
from ads_bench.ops import gaussian_logprob

__all__ = [
    "BACKBONES",
    "BOUNDED_VAR_FLOOR",
    "DESTRUCTIONS",
    "PRIORS",
    "UNBOUNDED_LOG_VAR_CLAMP",
    "DestructionKernel",
    "GenerationKernel",
    "Sampler",
    "Scheme",
    "default_scheme",
    "default_t_scale",
    "get_scheme",
    "uniform_grid",
    "vp_betas",
]

PRIORS = ("pinned", "gaussian")
DESTRUCTIONS = ("fixed", "bounded", "adaptive")
#: How the destruction network relates to the generation trunk (:class:`Sampler`, ``backbone``).
BACKBONES = ("separate", "shared", "shared-detached")
#: Floor of the bounded mode's variance factor ``1 + r_B tanh b`` (log floor ~ -9.2).
BOUNDED_VAR_FLOOR = 1e-4
#: Clamp of the unbounded adaptive log-variance correction ``b`` (numerical safety only).
UNBOUNDED_LOG_VAR_CLAMP = 20.0


def default_t_scale(target) -> float:
    """``sigma^2`` of ``sampler.t_scale=None``: the target's own ``default_t_scale`` (5 for the
    named 2-D mixtures, 1 for the others and for objects that do not say)."""
    return float(getattr(target, "default_t_scale", 1.0))


def uniform_grid(steps: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """``t_i = i / T``, ``[T + 1]``."""
    return torch.arange(steps + 1, dtype=torch.float64).div(steps).to(dtype)


def vp_betas(times: Tensor, beta_min: float = 0.1, beta_max: float = 20.0) -> Tensor:
    """Per-step noise levels ``beta_i`` ``[T]`` of the variance-preserving base destruction kernel.

    The destruction process runs from ``t = 1`` (data) to ``t = 0`` (prior). Its continuous rate is
    linear in ``t``, ``beta(t) = beta_min + (beta_max - beta_min)(1 - t)`` (the VP-SDE schedule of
    DDPM/DIS/DDS, small near the data and large near the prior), and step ``i`` integrates it exactly:
    ``beta_i = 1 - exp(-int_{t_i}^{t_{i+1}} beta(t) dt)``. Over the whole grid the signal kept is
    ``prod_i sqrt(1 - beta_i) = exp(-(beta_min + beta_max) / 4)`` (~0.0066 at the defaults), so from any
    ``x_T`` the chain ends close to ``N(0, sigma_0^2 I)``, for every ``T``.
    """
    t0, t1 = times[:-1].double(), times[1:].double()
    integral = (t1 - t0) * (beta_min + (beta_max - beta_min) * (1.0 - 0.5 * (t0 + t1)))
    return (-torch.expm1(-integral)).to(times.dtype)


@dataclasses.dataclass(frozen=True)
class Scheme:
    """Per-step constants of a discretisation, all ``[T]`` float64 (``step_mask`` bool).

    Generation step ``i``: ``N(gen_coef_i x_i + gen_scale_i f(x_i, t_i), exp(gen_log_var_i))``.
    Base destruction step ``i``: ``N(dest_coef_i x_{i+1}, exp(dest_log_var_i))``; ``step_mask_i``
    False marks a deterministic destruction step (its two entries are then placeholders).
    """

    gen_coef: Tensor
    gen_scale: Tensor
    gen_log_var: Tensor
    dest_coef: Tensor
    dest_log_var: Tensor
    step_mask: Tensor

    def check(self, steps: int) -> Scheme:
        """Raise ``ValueError`` unless every field is ``[steps]`` and finite where it is used."""
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, Tensor) or tuple(v.shape) != (steps,):
                raise ValueError(f"scheme.{f.name} must be a tensor of shape [{steps}]")
        used = self.step_mask
        for name in ("gen_coef", "gen_scale", "gen_log_var"):
            if not bool(torch.isfinite(getattr(self, name)).all()):
                raise ValueError(f"scheme.{name} has non-finite entries")
        for name in ("dest_coef", "dest_log_var"):
            if not bool(torch.isfinite(getattr(self, name)[used]).all()):
                raise ValueError(f"scheme.{name} has non-finite entries on random steps")
        return self


def default_scheme(
    times: Tensor,
    *,
    t_scale: float,
    prior: str,
    prior_std: float,
    beta_min: float,
    beta_max: float,
) -> Scheme:
    """The package's own discretisation (module docstring): Euler steps of variance ``sigma^2 dt``
    and, as base destruction, the Brownian bridge (pinned prior) or the exact VP kernel (gaussian)."""
    times = times.double()
    steps = times.numel() - 1
    dt = times[1:] - times[:-1]
    mask = torch.ones(steps, dtype=torch.bool)
    if prior == "pinned":
        coef = times[:-1] / times[1:]
        log_var = torch.log(t_scale * dt * coef)
        mask[0] = False
        log_var[0] = 0.0  # placeholder of the deterministic step (log v_0 = -inf)
    else:
        betas = vp_betas(times, beta_min, beta_max)
        coef, log_var = torch.sqrt(1.0 - betas), torch.log(prior_std**2 * betas)
    return Scheme(
        gen_coef=torch.ones_like(dt), gen_scale=dt, gen_log_var=torch.log(t_scale * dt),
        dest_coef=coef, dest_log_var=log_var, step_mask=mask,
    )  # fmt: skip


def get_scheme(name: str) -> Callable[..., Scheme]:
    """``"default"`` -> :func:`default_scheme`; ``"module:attr"`` -> that function (imported)."""
    if name == "default":
        return default_scheme
    try:
        fn = import_attr(name, "scheme")
    except ValueError:  # not a module:attr path
        raise ValueError(f"scheme must be 'default' or 'module:attr', got {name!r}") from None
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load scheme {name!r}: {exc}") from exc
    if not callable(fn):
        raise ValueError(f"scheme {name!r} is not callable")
    return fn


def _buf(x: Tensor) -> Tensor:
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
    """``p_theta(x_{i+1} | x_i)``: ``forward(x_i, step) -> (mean, log_var)``, both shaped like ``x``.

    ``score_fn(x [..., D]) -> [..., D]`` (the target score ``grad log R``) is required with
    ``langevin=True``. It is kept as a plain attribute (not a registered submodule).
    ``coef``, ``scale``, ``log_var_base`` ``[T]`` (a :class:`Scheme`'s ``gen_*``) default to the Euler
    step ``mean = x + dt f``, ``var = t_scale dt``.
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
        self.register_buffer("t_in", _buf(times[:-1]))
        self.register_buffer("coef", _buf(torch.ones_like(dt) if coef is None else coef))
        self.register_buffer("scale", _buf(dt if scale is None else scale))
        base = torch.log(t_scale * dt) if log_var_base is None else log_var_base
        self.register_buffer("log_var_base", _buf(base))

    def forward(
        self, x: Tensor, step: int | None = None, *, score_grad: bool = False
    ) -> tuple[Tensor, Tensor]:
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

    ``coef`` ``[T]`` and ``log_var_base`` ``[T]`` define the base kernel ``N(coef_i x, exp(log_var_base_i))``
    (module docstring). For the pinned step the base entries are placeholders (0); callers mask it.
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
        self.register_buffer("t_in", _buf(times[1:]))
        self.register_buffer("dt", _buf(times[1:] - times[:-1]))
        self.register_buffer("coef", _buf(coef))
        self.register_buffer("log_var_base", _buf(log_var_base))

    def forward(self, x: Tensor, step: int | None = None) -> tuple[Tensor, Tensor]:
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


class Sampler(nn.Module):
    """A diffusion sampler: grid, prior, generation and destruction kernels, ``log_z``.

    Args:
        dim: state dimension ``D``; steps: ``T``; t_scale: ``sigma^2``.
        prior: ``"pinned"`` (``x_0 = 0``) or ``"gaussian"`` (``x_0 ~ N(0, prior_std^2 I)``).
        learn_var, r_f, langevin, score_fn, drift_clip, score_clip, langevin_init: generation kernel.
        destruction: ``"fixed" | "bounded" | "adaptive"``; r_b: bounded range; r_a: adaptive
            log-variance bound ``R`` (``None`` = unbounded); r_m: adaptive mean-correction
            bound ``M``, mean ``c x + dt M tanh(a / M)`` (``None``, the default, = unbounded
            ``c x + dt a``; ignored by the other modes).
        backbone: how the destruction network relates to the generation network's
            :class:`Trunk` (its head, zero-initialised, is always its own); one of
            :data:`BACKBONES`:

            - ``"separate"``: its own trunk. Group ``destruction`` owns that trunk and its head.
            - ``"shared"``: it reuses the generation trunk object, which both processes' gradients
              train; the trunk is a group of its own, ``trunk``, stepped at ``train.lr_trunk``.
            - ``"shared-detached"``: it reuses the trunk but reads its features detached, so only
              the generation process's gradient trains the trunk, which group ``generation`` owns;
              the destruction's loss trains its head alone.
        hidden, layers, n_freq: network sizes. beta_min, beta_max: VP schedule (gaussian prior).
        scheme: the discretisation (:class:`Scheme` factory, called as ``scheme(times, t_scale=,
            prior=, prior_std=, beta_min=, beta_max=)``); default :func:`default_scheme`.
        target_network: keep an EMA copy ``target_destruction`` of the destruction kernel (learned
            modes only). With a shared backbone the copy holds its own copy of the trunk, so it is a
            frozen snapshot of the whole destruction function.

    Attributes: ``times`` ``[T+1]`` (float64, like every grid constant), ``step_mask`` ``[T]`` bool (False where the destruction step is
    deterministic, i.e. step 0 of the pinned prior), ``generation``, ``destruction``,
    ``target_destruction`` (or None), ``log_z`` (scalar parameter, 0 at init).
    """

    def __init__(
        self,
        dim: int,
        steps: int = 100,
        *,
        t_scale: float = 1.0,
        prior: str = "pinned",
        prior_std: float = 1.0,
        learn_var: bool = False,
        r_f: float = 4.0,
        langevin: bool = False,
        score_fn: Callable[[Tensor], Tensor] | None = None,
        destruction: str = "fixed",
        r_b: float = 1.0,
        r_a: float | None = 4.0,
        r_m: float | None = None,
        backbone: str = "separate",
        hidden: int = 64,
        layers: int = 2,
        n_freq: int = 64,
        beta_min: float = 0.1,
        beta_max: float = 20.0,
        target_network: bool = False,
        drift_clip: float = 1e4,
        score_clip: float = 1e2,
        langevin_init: float = 1.0,
        scheme: Callable[..., Scheme] | None = None,
    ):
        super().__init__()
        # Everything needed to rebuild this sampler on another grid (:meth:`with_steps`).
        self.init_kwargs = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        if prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
        if backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {backbone!r}")
        self.backbone = backbone
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.dim, self.steps, self.prior = int(dim), int(steps), prior
        self.t_scale, self.prior_std = float(t_scale), float(prior_std)
        times = uniform_grid(steps, torch.float64)
        self.register_buffer("times", _buf(times))
        sch = (scheme or default_scheme)(
            times, t_scale=float(t_scale), prior=prior, prior_std=float(prior_std),
            beta_min=float(beta_min), beta_max=float(beta_max),
        ).check(steps)  # fmt: skip
        self.generation = GenerationKernel(
            dim, times, t_scale=t_scale, learn_var=learn_var, r_f=r_f, langevin=langevin,
            score_fn=score_fn, hidden=hidden, layers=layers, n_freq=n_freq,
            drift_clip=drift_clip, score_clip=score_clip, langevin_init=langevin_init,
            coef=sch.gen_coef, scale=sch.gen_scale, log_var_base=sch.gen_log_var,
        )  # fmt: skip
        coef, log_var = sch.dest_coef, sch.dest_log_var
        if prior == "pinned" and bool(sch.step_mask[0]):
            raise ValueError("a pinned prior needs step_mask[0] False (x_0 = 0 is deterministic)")
        self.register_buffer("step_mask", sch.step_mask.clone())
        net = None
        if destruction != "fixed":
            trunk = None if backbone == "separate" else self.generation.net.trunk
            net = PolicyNet(dim, hidden, layers, n_freq, trunk=trunk,
                            detach_trunk=backbone == "shared-detached")  # fmt: skip
        self.destruction = DestructionKernel(
            times, coef, log_var, mode=destruction, net=net, r_b=r_b, r_a=r_a, r_m=r_m
        )
        self.target_destruction: DestructionKernel | None = None
        if target_network and net is not None:
            self.target_destruction = copy.deepcopy(self.destruction).requires_grad_(False)
        self.log_z = nn.Parameter(torch.zeros(()))

    @classmethod
    def from_config(
        cls,
        cfg,
        target,
        *,
        target_network: bool,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> Sampler:
        """The sampler of a config section ``cfg`` (a :class:`~ads_bench.config.SamplerConfig`) for
        ``target``, on ``device`` in ``dtype`` (the one place a config becomes a :class:`Sampler`).

        Every field of the section is a keyword of :meth:`__init__` of the same name; the
        target-dependent ones are resolved here: ``t_scale=None`` -> :func:`default_t_scale` of the
        target, ``prior_std=None`` -> ``sqrt(t_scale)``, ``scheme`` (a name) -> :func:`get_scheme`,
        and ``score_fn`` = ``target.score`` with ``langevin``. ``target_network`` keeps the EMA copy
        of a learned destruction (ignored by ``fixed``). ``cfg`` is assumed valid
        (:meth:`ads_bench.config.Config.validate`).
        """
        kwargs = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
        t_scale = kwargs["t_scale"] if kwargs["t_scale"] is not None else default_t_scale(target)
        prior_std = kwargs["prior_std"]
        kwargs.update(
            t_scale=t_scale,
            prior_std=prior_std if prior_std is not None else math.sqrt(t_scale),
            scheme=get_scheme(kwargs["scheme"]),
            score_fn=target.score if kwargs["langevin"] else None,
            target_network=target_network and kwargs["destruction"] != "fixed",
        )
        return cls(target.dim, **kwargs).to(device=device, dtype=dtype)

    # ------------------------------------------------------------------ prior
    def draw_noise(self, batch_size: int, generator: torch.Generator | None = None) -> Tensor:
        """Standard normal ``[B, T+1, D]`` for a rollout (``noise[:, k]`` produces ``states[:, k]``)."""
        ref = self.log_z  # the model's dtype and device (grid buffers are float64)
        shape = (batch_size, self.steps + 1, self.dim)
        return torch.randn(shape, generator=generator, dtype=ref.dtype, device=ref.device)

    def sample_prior(self, eps: Tensor) -> Tensor:
        """``x_0`` ``[B, D]`` from standard normal ``eps`` ``[B, D]`` (ignored for the pinned prior)."""
        return eps * self.prior_std if self.prior == "gaussian" else torch.zeros_like(eps)

    def log_p0(self, x0: Tensor, *, impl: str = "auto") -> Tensor:
        """``log p_0(x_0)`` ``[B]``; 0 for the pinned prior (the point mass is not a density)."""
        if self.prior == "pinned":
            return x0.new_zeros(x0.shape[:-1])
        log_var = torch.full_like(x0, 2.0 * math.log(self.prior_std))
        return gaussian_logprob(x0, torch.zeros_like(x0), log_var, impl=impl)

    # ------------------------------------------------------------------ batched kernels
    def pf_params(self, states: Tensor, *, score_grad: bool = False) -> tuple[Tensor, Tensor]:
        """Generation ``(mean, log_var)`` ``[B, T, D]`` of all steps, one batched network call."""
        return self.generation(states[:, :-1], None, score_grad=score_grad)

    def destruction_kernel(self, use_target: bool = False) -> DestructionKernel:
        if use_target and self.target_destruction is None:
            raise ValueError("use_target=True but the sampler has no target_destruction")
        return self.target_destruction if use_target else self.destruction

    def pb_params(self, states: Tensor, *, use_target: bool = False) -> tuple[Tensor, Tensor]:
        """Destruction ``(mean, log_var)`` ``[B, T, D]``; masked steps hold ``(x_i, 0)`` (finite)."""
        mean, log_var = self.destruction_kernel(use_target)(states[:, 1:], None)
        keep = self.step_mask.unsqueeze(-1)
        return torch.where(keep, mean, states[:, :-1]), torch.where(keep, log_var, 0.0)

    def log_pf(self, states: Tensor, *, impl: str = "auto") -> Tensor:
        """``log p_theta(x_{i+1} | x_i)`` ``[B, T]`` for ``states`` ``[B, T+1, D]``."""
        mean, log_var = self.pf_params(states)
        return gaussian_logprob(states[:, 1:], mean, log_var, impl=impl)

    def masked_logprob(self, x: Tensor, mean: Tensor, log_var: Tensor, *, impl: str) -> Tensor:
        """``gaussian_logprob`` ``[B, T]`` with the deterministic steps set to 0."""
        return torch.where(self.step_mask, gaussian_logprob(x, mean, log_var, impl=impl), 0.0)

    def log_pb(self, states: Tensor, *, use_target: bool = False, impl: str = "auto") -> Tensor:
        """``log p_phi(x_i | x_{i+1})`` ``[B, T]`` (0 on masked steps); ``use_target`` = EMA copy."""
        mean, log_var = self.pb_params(states, use_target=use_target)
        return self.masked_logprob(states[:, :-1], mean, log_var, impl=impl)

    # ------------------------------------------------------------------ step reduction
    def with_steps(self, steps: int) -> Sampler:
        """The same learned networks on a uniform grid of ``steps`` steps (a new module).

        The networks are functions of ``(x, t)``, so they are reused as they are; every grid constant
        (the scheme's per-step coefficients) is recomputed for the new grid. This is the "just use
        fewer steps" control of a model trained with more steps (``eval.steps``)."""
        other = type(self)(**{**self.init_kwargs, "steps": int(steps)})
        ref = self.log_z
        other = other.to(device=ref.device, dtype=ref.dtype)
        buffers = {name for name, _ in self.named_buffers()}
        params = {k: v for k, v in self.state_dict().items() if k not in buffers}
        missing, unexpected = other.load_state_dict(params, strict=False)
        bad = [k for k in missing if k not in buffers] + list(unexpected)
        if bad:
            raise RuntimeError(f"with_steps: parameters do not match: {bad}")
        return other

    # ------------------------------------------------------------------ training helpers
    @torch.no_grad()
    def update_target(self, rate: float) -> None:
        """EMA: ``phi_tgt <- (1 - rate) phi_tgt + rate phi`` (no-op without a target copy)."""
        if self.target_destruction is None:
            return
        pairs = zip(
            self.target_destruction.parameters(), self.destruction.parameters(), strict=True
        )
        for tgt, src in pairs:
            tgt.lerp_(src, rate)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """``{"generation", "destruction", "trunk", "log_z"}`` -> trainable parameters, disjoint;
        each group has its own optimiser and learning rate (``training.learning_rates``).

        ``generation``: the generation network and the Langevin network, including the trunk
        unless ``backbone == "shared"``. ``destruction``: the destruction network's parameters not
        in another group (its head, and its trunk when ``"separate"``); empty for ``fixed``.
        ``trunk``: the shared trunk when ``backbone == "shared"`` (trained by both processes'
        gradients), else empty. ``log_z``: ``[log_z]``. The target copy is in no group.
        """
        shared = self.backbone == "shared" and self.destruction.net is not None
        trunk = list(self.generation.net.trunk.parameters()) if shared else []
        seen = {id(p) for p in trunk}
        gen = [p for p in self.generation.parameters() if id(p) not in seen]
        seen |= {id(p) for p in gen}
        dest = [p for p in self.destruction.parameters() if id(p) not in seen]
        return {"generation": gen, "destruction": dest, "trunk": trunk, "log_z": [self.log_z]}
