"""Policy networks of the generation and destruction processes (README *Training a sampler*).

The architecture shared by the diffusion-sampler literature (PIS, DIS, DDS, GFlowNet samplers):

* a Fourier time embedding: 64 fixed frequencies ``linspace(0.1, 100)`` with a learned phase,
  ``[sin, cos] -> Linear -> GELU -> Linear`` to the hidden width (:class:`FourierTimeEmbedding`);
* a linear state embedding to the hidden width;
* their sum through GELU and ``layers`` hidden layers (Linear + GELU) of width ``hidden``
  (:class:`Trunk`: the state/time encoder);
* a zero-initialised output layer of ``2 d`` units: a mean part and a log-variance part
  (:class:`PolicyNet`), so a fresh network outputs exactly ``(0, 0)``.

The destruction network either owns its trunk or reuses the generation network's trunk object
("shared backbone", :class:`PolicyNet` built with ``trunk=``); each always has its own head. A
network built with ``detach_trunk=True`` reads the shared trunk's features through ``detach()``, so
its own loss trains only its head (which parameter group owns what: ``Sampler.parameter_groups``).

For the Langevin parameterisation of the generation drift, :class:`TimeScaleNet` is the time-only
network ``NN_2(t)`` multiplying the clipped target score. Its output layer has zero weights and a bias
of ``init`` (default 1), so at initialisation ``NN_2(t) = 1`` for every ``t``: the drift starts at
the (clipped) target score, as in PIS-style code, rather than at zero.

Shapes: states ``x`` are ``[N, d]``, times ``t`` are ``[N]``; outputs are ``[N, d]``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["FourierTimeEmbedding", "PolicyNet", "TimeScaleNet", "Trunk"]


class FourierTimeEmbedding(nn.Module):
    """``t [N] -> [N, hidden]``: ``[sin(w t + phi), cos(w t + phi)] -> Linear -> GELU -> Linear``.

    ``w`` = ``linspace(0.1, 100, n_freq)`` (a buffer, not trained), ``phi`` a learned phase per
    frequency (initialised at 0).
    """

    def __init__(self, hidden: int = 64, n_freq: int = 64):
        super().__init__()
        self.register_buffer("freqs", torch.linspace(0.1, 100.0, n_freq))
        self.phase = nn.Parameter(torch.zeros(n_freq))
        self.mlp = nn.Sequential(
            nn.Linear(2 * n_freq, hidden), nn.GELU(), nn.Linear(hidden, hidden)
        )

    def forward(self, t: Tensor) -> Tensor:
        arg = t.unsqueeze(-1) * self.freqs + self.phase  # [N, n_freq]
        return self.mlp(torch.cat([torch.sin(arg), torch.cos(arg)], dim=-1))


class Trunk(nn.Module):
    """State/time encoder ``(x [N, d], t [N]) -> [N, hidden]``.

    ``GELU(Linear(x) + time_embedding(t))`` followed by ``layers`` blocks ``Linear -> GELU``.
    """

    def __init__(self, dim: int, hidden: int = 64, layers: int = 2, n_freq: int = 64):
        super().__init__()
        self.dim = int(dim)
        self.hidden = int(hidden)
        self.state_embed = nn.Linear(dim, hidden)
        self.time_embed = FourierTimeEmbedding(hidden, n_freq)
        blocks: list[nn.Module] = []
        for _ in range(layers):
            blocks += [nn.Linear(hidden, hidden), nn.GELU()]
        self.body = nn.Sequential(nn.GELU(), *blocks)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        # t may be any shape broadcastable to x[..., 0] (e.g. [] or [T] for x [B, T, d]): the time
        # embedding is then computed once per distinct time and broadcast over the batch.
        return self.body(self.state_embed(x) + self.time_embed(t))


class PolicyNet(nn.Module):
    """Trunk + zero-initialised head: ``(x [N, d], t [N]) -> (mean part [N, d], log-var part [N, d])``.

    Args:
        dim: state dimension ``d``.
        hidden, layers, n_freq: trunk width, number of hidden layers, Fourier frequencies (ignored
            when ``trunk`` is given).
        trunk: an existing :class:`Trunk` to share (the "shared backbone"); the module object is
            reused, not copied, so its parameters are trained through both networks unless
            ``detach_trunk``.
        detach_trunk: the head reads ``trunk(x, t).detach()``: no gradient of this network's
            outputs reaches the trunk (the trunk is trained by the other network's loss only).
    """

    def __init__(
        self,
        dim: int,
        hidden: int = 64,
        layers: int = 2,
        n_freq: int = 64,
        *,
        trunk: Trunk | None = None,
        detach_trunk: bool = False,
    ):
        super().__init__()
        if trunk is None:
            trunk = Trunk(dim, hidden, layers, n_freq)
        elif trunk.dim != dim:
            raise ValueError(f"shared trunk has dim {trunk.dim}, expected {dim}")
        self.dim = int(dim)
        self.trunk = trunk
        self.detach_trunk = bool(detach_trunk)
        self.head = nn.Linear(trunk.hidden, 2 * dim)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        h = self.trunk(x, t)
        out = self.head(h.detach() if self.detach_trunk else h)
        return out[..., : self.dim], out[..., self.dim :]


class TimeScaleNet(nn.Module):
    """Langevin coefficient ``NN_2(t)``: ``t [N] -> [N, d]``, equal to ``init`` at initialisation.

    ``FourierTimeEmbedding -> GELU -> Linear(hidden, d)`` with zero weights and bias ``init``.
    """

    def __init__(self, dim: int, hidden: int = 64, n_freq: int = 64, init: float = 1.0):
        super().__init__()
        self.embed = FourierTimeEmbedding(hidden, n_freq)
        self.act = nn.GELU()
        self.out = nn.Linear(hidden, dim)
        nn.init.zeros_(self.out.weight)
        nn.init.constant_(self.out.bias, float(init))

    def forward(self, t: Tensor) -> Tensor:
        return self.out(self.act(self.embed(t)))
