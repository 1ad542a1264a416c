"""The :class:`Sampler` module: grid, prior, generation and destruction kernels and ``log Z``.

Paper (arXiv 2506.01541) section 3. A sampler holds a :class:`~ads_bench.schemes.Scheme` on the
uniform grid ``t_i = i / T`` (:mod:`ads_bench.schemes`), the two transition kernels built on it
(:mod:`ads_bench.transition`) and the learned scalar ``log_z`` of trajectory balance. It is built
from a config section in one place, :meth:`Sampler.from_config` (:func:`build_sampler` for a whole
run config: its device, dtype and target network).

Shapes: states ``[B, T+1, D]``; per-step kernel parameters and log-probabilities ``[B, T, D]`` and
``[B, T]``; ``step_mask`` ``[T]`` (False on the deterministic step 0 of the pinned prior).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ads_bench.networks import PolicyNet
from ads_bench.ops import gaussian_logprob
from ads_bench.runtime import DTYPES
from ads_bench.schemes import PRIORS, SchemeFn, default_scheme, get_scheme, uniform_grid
from ads_bench.transition import DestructionKernel, GenerationKernel, grid_constant

__all__ = ["BACKBONES", "Sampler", "build_sampler", "default_t_scale"]

#: How the destruction network relates to the generation trunk (:class:`Sampler`, ``backbone``).
BACKBONES = ("separate", "shared", "shared-detached")


def default_t_scale(target) -> float:
    """``sigma^2`` of ``sampler.t_scale=None``: the target's own ``default_t_scale`` (5 for the
    named 2-D mixtures, 1 for the others and for objects that do not say)."""
    return float(getattr(target, "default_t_scale", 1.0))


class Sampler(nn.Module):
    """A diffusion sampler: grid, prior, generation and destruction kernels, ``log_z``.

    Args:
        dim: state dimension ``D``; steps: ``T``; t_scale: ``sigma^2``.
        prior: ``"pinned"`` (``x_0 = 0``) or ``"gaussian"`` (``x_0 ~ N(0, prior_std^2 I)``).
        learn_var, r_f, langevin, score_fn, drift_clip, score_clip, langevin_init: the generation
            kernel's.
        destruction: ``"fixed" | "bounded" | "adaptive"``; r_b: bounded range; r_a: adaptive
            log-variance bound ``R`` (``None`` = unbounded); r_m: adaptive mean-correction
            bound ``M``, mean ``c x + dt M tanh(a / M)`` (``None``, the default, = unbounded
            ``c x + dt a``; ignored by the other modes).
        backbone: how the destruction network relates to the generation network's
            :class:`~ads_bench.networks.Trunk` (its head, zero-initialised, is always its own); one of
            :data:`BACKBONES`:

            - ``"separate"``: its own trunk. Group ``destruction`` owns that trunk and its head.
            - ``"shared"``: it reuses the generation trunk object, which both processes' gradients
              train; the trunk is a group of its own, ``trunk``, stepped at ``train.lr_trunk``.
            - ``"shared-detached"``: it reuses the trunk but reads its features detached, so only
              the generation process's gradient trains the trunk, which group ``generation`` owns;
              the destruction's loss trains its head alone.
        hidden, layers, n_freq: network sizes. beta_min, beta_max: VP schedule (gaussian prior).
        scheme: the discretisation (a :data:`~ads_bench.schemes.SchemeFn`, called as
            ``scheme(times, t_scale=, prior=, prior_std=, beta_min=, beta_max=)``); default
            :func:`~ads_bench.schemes.default_scheme`.
        target_network: keep an EMA copy ``target_destruction`` of the destruction kernel (learned
            modes only). With a shared backbone the copy holds its own copy of the trunk, so it is a
            frozen snapshot of the whole destruction function.

    Attributes: ``times`` ``[T+1]`` (float64, like every grid constant), ``step_mask`` ``[T]``
    bool (False where the destruction step is deterministic, i.e. step 0 of the pinned prior),
    ``generation``, ``destruction``, ``target_destruction`` (or None), ``log_z`` (scalar
    parameter, 0 at init).
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
        scheme: SchemeFn | None = None,
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
        self.register_buffer("times", grid_constant(times))
        sch = (scheme or default_scheme)(
            times,
            t_scale=float(t_scale),
            prior=prior,
            prior_std=float(prior_std),
            beta_min=float(beta_min),
            beta_max=float(beta_max),
        ).check(steps)
        self.generation = GenerationKernel(
            dim,
            times,
            t_scale=t_scale,
            learn_var=learn_var,
            r_f=r_f,
            langevin=langevin,
            score_fn=score_fn,
            hidden=hidden,
            layers=layers,
            n_freq=n_freq,
            drift_clip=drift_clip,
            score_clip=score_clip,
            langevin_init=langevin_init,
            coef=sch.gen_coef,
            scale=sch.gen_scale,
            log_var_base=sch.gen_log_var,
        )
        coef, log_var = sch.dest_coef, sch.dest_log_var
        if prior == "pinned" and bool(sch.step_mask[0]):
            raise ValueError("a pinned prior needs step_mask[0] False (x_0 = 0 is deterministic)")
        self.register_buffer("step_mask", sch.step_mask.clone())
        net = None
        if destruction != "fixed":
            trunk = None if backbone == "separate" else self.generation.net.trunk
            detach = backbone == "shared-detached"
            net = PolicyNet(dim, hidden, layers, n_freq, trunk=trunk, detach_trunk=detach)
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
        target, ``prior_std=None`` -> ``sqrt(t_scale)``, ``scheme`` (a name) ->
        :func:`~ads_bench.schemes.get_scheme`, and ``score_fn`` = ``target.score`` with
        ``langevin``. ``target_network`` keeps the EMA copy of a learned destruction (ignored by
        ``fixed``). ``cfg`` is assumed valid (:meth:`ads_bench.config.Config.validate`).
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
        """Standard normal ``[B, T+1, D]`` for a rollout (``noise[:, k]`` produces
        ``states[:, k]``)."""
        ref = self.log_z  # the model's dtype and device (grid buffers are float64)
        shape = (batch_size, self.steps + 1, self.dim)
        return torch.randn(shape, generator=generator, dtype=ref.dtype, device=ref.device)

    def sample_prior(self, eps: Tensor) -> Tensor:
        """``x_0`` ``[B, D]`` from standard normal ``eps`` ``[B, D]`` (ignored for the pinned
        prior)."""
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
        """The destruction kernel, or its EMA copy with ``use_target`` (which must exist)."""
        if use_target and self.target_destruction is None:
            raise ValueError("use_target=True but the sampler has no target_destruction")
        return self.target_destruction if use_target else self.destruction

    def pb_params(self, states: Tensor, *, use_target: bool = False) -> tuple[Tensor, Tensor]:
        """Destruction ``(mean, log_var)`` ``[B, T, D]``; masked steps hold ``(x_i, 0)``
        (finite)."""
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
        """``log p_phi(x_i | x_{i+1})`` ``[B, T]`` (0 on masked steps); ``use_target``: the EMA
        copy."""
        mean, log_var = self.pb_params(states, use_target=use_target)
        return self.masked_logprob(states[:, :-1], mean, log_var, impl=impl)

    # ------------------------------------------------------------------ step reduction
    def with_steps(self, steps: int) -> Sampler:
        """The same learned networks on a uniform grid of ``steps`` steps (a new module).

        The networks are functions of ``(x, t)``, so they are reused as they are; every grid
        constant (the scheme's per-step coefficients) is recomputed for the new grid. This is the
        "just use fewer steps" control of a model trained with more steps (``eval.steps``)."""
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
        each group has its own optimiser and learning rate
        (:func:`ads_bench.run_state.learning_rates`).

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


def build_sampler(cfg, target) -> Sampler:
    """The :class:`Sampler` of a run config ``cfg`` (a :class:`~ads_bench.config.Config`) for
    ``target``: :meth:`Sampler.from_config` of ``cfg.sampler`` on ``cfg.train.device`` in
    ``cfg.train.dtype``, with the EMA target network when ``cfg.train.target_rate`` is set."""
    return Sampler.from_config(
        cfg.sampler,
        target,
        target_network=cfg.train.target_rate is not None,
        device=cfg.train.device,
        dtype=DTYPES[cfg.train.dtype],
    )
