"""Common interface for unnormalised target densities.

Every benchmark target is an unnormalised density on R^d,

    p(x) = exp(log_prob(x)) / Z,        log R(x) = log_prob(x),

(README *Targets*). A :class:`Target` is a :class:`torch.nn.Module`, so constant tensors
such as mixture means are registered as buffers and follow ``.to(device)`` / ``.double()``.

Shape and dtype conventions (shared by all subclasses):

* ``log_prob(x)``: ``x`` is ``[..., dim]`` with any number of leading batch dimensions;
  the result is ``[...]``. It is differentiable in ``x`` and computed in ``x.dtype`` on
  ``x.device`` (buffers are cast on use, never the input).
* ``sample(n, generator=None, dtype=torch.float32)``: exact i.i.d. draws, ``[n, dim]``,
  produced on the generator's device (or the module's device if no generator is given),
  using only the supplied generator as the source of randomness.
* ``score(x)``: ``grad_x log_prob(x)``, ``[..., dim]``, via autograd.

Subclasses implement :meth:`Target._log_prob` (input already validated) and, when exact
samples exist, :meth:`Target._sample` (``n >= 1`` already validated).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["Target", "TargetError"]


class TargetError(ValueError):
    """A target cannot be used: its ``log_prob`` raises, or returns the wrong shape, dtype or device,
    or NaN / +inf (:func:`ads_bench.targets.check_target`). The message is one line naming the
    target."""


class Target(nn.Module):
    """Base class of all targets.

    Attributes:
        name: short identifier, e.g. ``"gmm25"``.
        dim: dimension ``d`` of the sample space.
        log_z: exact log normalising constant ``log Z`` of ``exp(log_prob)``, or ``None``
            when it is unknown.
        default_t_scale: the sampler's ``sigma^2`` when ``sampler.t_scale`` is None; the target
            owns it because it depends on the target's spread (1 unless a target says otherwise).
    """

    name: str = "target"
    dim: int
    log_z: float | None = None
    default_t_scale: float = 1.0

    def __init__(self, dim: int, *, name: str | None = None, log_z: float | None = None):
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive int, got {dim!r}")
        self.dim = int(dim)
        if name is not None:
            self.name = str(name)
        self.log_z = None if log_z is None else float(log_z)

    # ------------------------------------------------------------------ log density
    def _check_input(self, x: Tensor) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"{self.name}.log_prob expects a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(
                f"{self.name}.log_prob expects a floating-point tensor, got dtype {x.dtype}"
            )
        if x.ndim < 1 or x.shape[-1] != self.dim:
            raise ValueError(
                f"{self.name}.log_prob expects input of shape [..., {self.dim}], "
                f"got {list(x.shape)}"
            )

    def _log_prob(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def log_prob(self, x: Tensor) -> Tensor:
        """Unnormalised log density ``log R(x)``: ``[..., dim] -> [...]``."""
        self._check_input(x)
        return self._log_prob(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.log_prob(x)

    def score(self, x: Tensor, create_graph: bool = False) -> Tensor:
        """``grad_x log_prob(x)`` via autograd, same shape as ``x``.

        With ``create_graph=True`` and an ``x`` that already requires grad, the result is
        differentiable with respect to whatever produced ``x``; otherwise ``x`` is detached.
        """
        self._check_input(x)
        with torch.enable_grad():
            xg = x if (create_graph and x.requires_grad) else x.detach().requires_grad_(True)
            lp = self._log_prob(xg)
            (grad,) = torch.autograd.grad(lp.sum(), xg, create_graph=create_graph)
        return grad

    # ------------------------------------------------------------------ sampling
    @property
    def has_sample(self) -> bool:
        """Whether exact i.i.d. samples are available."""
        return type(self)._sample is not Target._sample

    def _sample(self, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
        raise NotImplementedError(f"target {self.name!r} provides no exact samples")

    def _default_device(self) -> torch.device:
        for buf in self.buffers():
            return buf.device
        for par in self.parameters():
            return par.device
        return torch.device("cpu")

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        *,
        dtype: torch.dtype = torch.float32,
    ) -> Tensor:
        """Exact i.i.d. samples ``[n, dim]`` in ``dtype``.

        Raises:
            NotImplementedError: the target has no exact sampler.
            ValueError: ``n`` is negative or not an integer.
        """
        if not self.has_sample:
            raise NotImplementedError(f"target {self.name!r} provides no exact samples")
        if isinstance(n, bool) or not isinstance(n, int):
            try:
                n_int = int(n)  # accept numpy / torch integer scalars
            except (TypeError, ValueError):
                raise ValueError(f"n must be a non-negative int, got {n!r}") from None
            if n_int != n:
                raise ValueError(f"n must be a non-negative int, got {n!r}")
            n = n_int
        if n < 0:
            raise ValueError(f"n must be a non-negative int, got {n}")
        if not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating-point dtype, got {dtype}")
        device = generator.device if generator is not None else self._default_device()
        if n == 0:
            return torch.empty(0, self.dim, dtype=dtype, device=device)
        out = self._sample(n, generator, device)
        if out.shape != (n, self.dim):  # guards subclasses and wrapped user samplers
            raise RuntimeError(
                f"{self.name}: sampler returned shape {list(out.shape)}, expected [{n}, {self.dim}]"
            )
        return out.to(dtype=dtype)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, dim={self.dim}, log_z={self.log_z}"
