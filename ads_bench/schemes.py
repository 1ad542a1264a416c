"""Time grids and discretisation schemes: the per-step constants of both processes.

Paper (arXiv 2506.01541) section 3. Time grid ``t_i = i / T`` (``i = 0..T``),
``dt_i = t_{i+1} - t_i``.
A *scheme* is a function of the grid returning a :class:`Scheme`, the constants of

* generation step ``i``: ``N(gen_coef_i x_i + gen_scale_i f(x_i, t_i), exp(gen_log_var_i))`` (times
  ``exp(s)`` when the variance is learned; :class:`ads_bench.transition.GenerationKernel`);
* base destruction step ``i``: ``N(dest_coef_i x_{i+1}, exp(dest_log_var_i))``, which the learned
  destruction modes correct (:class:`ads_bench.transition.DestructionKernel`).

Every scheme is called the same way, ``scheme(times [T+1], *, t_scale, prior, prior_std, beta_min,
beta_max) -> Scheme`` (:data:`SchemeFn`). :func:`default_scheme`, the package's own, has Euler steps
(``gen_coef = 1``, ``gen_scale = dt``, ``gen_log_var = log sigma^2 dt``) and as base destruction

* pinned prior (``p_0 = delta_0``): the Brownian bridge, the time reversal of Brownian motion of
  variance ``sigma^2 t`` started at 0: ``c_i = t_i / t_{i+1}``,
  ``v_i = sigma^2 dt_i t_i / t_{i+1}``.
  Step ``i = 0`` lands deterministically on ``x_0 = 0``: it contributes log-probability 0 and is
  marked ``False`` in ``step_mask``;
* gaussian prior (``p_0 = N(0, sigma_0^2 I)``): a variance-preserving noising kernel
  ``x_i = sqrt(1 - beta_i) x_{i+1} + sigma_0 sqrt(beta_i) eps``, so ``c_i = sqrt(1 - beta_i)``,
  ``v_i = sigma_0^2 beta_i`` (schedule :func:`vp_rate`, integrated per step by :func:`vp_betas`).

Comparison methods with other integrators (DIS: Euler-Maruyama of the VP SDE; DDS: exponential
integrator of an OU process, in ``baselines/``) name their own scheme by import path
(``sampler.scheme = "module:attr"``, :func:`get_scheme`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from torch import Tensor

from ads_bench.imports import import_attr

__all__ = [
    "PRIORS",
    "Scheme",
    "SchemeFn",
    "default_scheme",
    "get_scheme",
    "uniform_grid",
    "vp_betas",
    "vp_rate",
]

#: The priors ``p_0`` a scheme is asked for (``sampler.prior``).
PRIORS = ("pinned", "gaussian")


def uniform_grid(steps: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """``t_i = i / T``, ``[T + 1]``."""
    return torch.arange(steps + 1, dtype=torch.float64).div(steps).to(dtype)


def vp_rate(tau: Tensor, beta_min: float, beta_max: float) -> Tensor:
    """``beta(tau) = beta_min + (beta_max - beta_min) tau``, the linear VP-SDE noise rate (DDPM,
    DIS, DDS) at diffusion time ``tau = 1 - t`` (0 at the data, 1 at the prior); shaped like
    ``tau``."""
    return beta_min + (beta_max - beta_min) * tau


def vp_betas(times: Tensor, beta_min: float = 0.1, beta_max: float = 20.0) -> Tensor:
    """Per-step noise levels ``beta_i`` ``[T]`` of the variance-preserving base destruction kernel.

    The destruction process runs from ``t = 1`` (data) to ``t = 0`` (prior) at the rate
    :func:`vp_rate` of ``tau = 1 - t`` (small near the data, large near the prior), and step ``i``
    integrates it exactly: ``beta_i = 1 - exp(-int_{t_i}^{t_{i+1}} beta(1 - t) dt)``. Over the whole
    grid the signal kept is ``prod_i sqrt(1 - beta_i) = exp(-(beta_min + beta_max) / 4)``
    (~0.0066 at the defaults), so from any ``x_T`` the chain ends close to ``N(0, sigma_0^2 I)``,
    for every ``T``.
    """
    t0, t1 = times[:-1].double(), times[1:].double()
    # the rate is linear, so its integral over a step is the step times its midpoint value
    integral = (t1 - t0) * vp_rate(1.0 - 0.5 * (t0 + t1), beta_min, beta_max)
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


#: A discretisation: ``scheme(times [T+1], *, t_scale, prior, prior_std, beta_min, beta_max)``.
SchemeFn = Callable[..., Scheme]


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
    and, as base destruction, the Brownian bridge (pinned prior) or the exact VP kernel
    (gaussian)."""
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
        gen_coef=torch.ones_like(dt),
        gen_scale=dt,
        gen_log_var=torch.log(t_scale * dt),
        dest_coef=coef,
        dest_log_var=log_var,
        step_mask=mask,
    )


def get_scheme(name: str) -> SchemeFn:
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
