"""Replay buffer of terminal states with rank-based prioritised sampling (README *Training a sampler*).

Off-policy training draws terminal states ``x_T`` from this buffer and noises them back to ``t_0`` with
the destruction process. With prioritisation, the state of reward rank ``r`` (0 = highest ``log R``)
among ``N`` stored ones is drawn with probability proportional to ``1 / (k N + r)``, ``k = 0.01``
(the rank-based replay of Tripp et al. 2020, used for diffusion samplers by Sendera et al. 2024).
Storage is a ring buffer: when full, the oldest state is overwritten. The reward order of the stored
states is kept up to date as states arrive (the new ones sorted and merged into it, the overwritten
ones dropped), so sampling does not re-sort the whole buffer every batch; it is rebuilt by one full
sort only after :meth:`ReplayBuffer.load_state_dict`. Ties in ``log R`` may be ordered differently
from a fresh sort (a measure-zero event for continuous rewards).

Shapes: ``x`` ``[B, D]``, ``log_r`` ``[B]``.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["ReplayBuffer"]


class ReplayBuffer:
    def __init__(
        self,
        capacity: int,
        dim: int,
        *,
        prioritized: bool = True,
        k: float = 0.01,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ):
        if capacity < 1:
            raise ValueError(f"replay capacity must be >= 1, got {capacity}")
        if k <= 0:
            raise ValueError(f"replay k must be > 0, got {k}")
        self.capacity, self.dim, self.prioritized, self.k = int(capacity), int(dim), prioritized, k
        self.x = torch.zeros(capacity, dim, dtype=dtype, device=device)
        self.log_r = torch.zeros(capacity, dtype=dtype, device=device)
        self.size = 0
        self.next = 0
        self._order: Tensor | None = None  # stored slots by descending log_r (None: not built)

    def __len__(self) -> int:
        return self.size

    def add(self, x: Tensor, log_r: Tensor) -> None:
        """Store detached ``x`` ``[B, D]`` with ``log_r`` ``[B]`` (non-finite rewards are dropped)."""
        if x.ndim != 2 or x.shape[1] != self.dim or log_r.shape != x.shape[:1]:
            raise ValueError(
                f"replay add: expected x [B, {self.dim}] and log_r [B], "
                f"got {tuple(x.shape)} and {tuple(log_r.shape)}"
            )
        keep = torch.isfinite(log_r) & torch.isfinite(x).all(-1)
        x, log_r = x.detach()[keep], log_r.detach()[keep]
        n = min(x.shape[0], self.capacity)
        x, log_r = x[-n:], log_r[-n:]
        idx = (self.next + torch.arange(n, device=self.x.device)) % self.capacity
        self.x[idx] = x.to(self.x.dtype)
        self.log_r[idx] = log_r.to(self.log_r.dtype)
        self.next = (self.next + n) % self.capacity
        self.size = min(self.size + n, self.capacity)
        if self._order is not None and n > 0:
            self._order = self._merged_order(idx)

    def _merged_order(self, idx: Tensor) -> Tensor:
        """The reward order after slots ``idx`` were (over)written: the old order without them,
        merged with them sorted (O(N + B log B) instead of a sort of all N stored states)."""
        order = self._order
        written = torch.zeros(self.capacity, dtype=torch.bool, device=order.device)
        written[idx] = True
        kept = order[~written[order]]
        new = idx[torch.argsort(self.log_r[idx], descending=True)]
        # descending log_r = ascending -log_r; each new slot goes after the kept ones it ties with
        pos = torch.searchsorted(-self.log_r[kept], -self.log_r[new], right=True)
        at = pos + torch.arange(new.numel(), device=order.device)
        merged = torch.empty(kept.numel() + new.numel(), dtype=order.dtype, device=order.device)
        is_new = torch.zeros(merged.numel(), dtype=torch.bool, device=order.device)
        is_new[at] = True
        merged[at] = new
        merged[~is_new] = kept
        return merged

    def order(self) -> Tensor:
        """Stored slots ``[size]`` by descending ``log R`` (rank 0 first)."""
        if self._order is None:
            self._order = torch.argsort(self.log_r[: self.size], descending=True)
        return self._order

    def probabilities(self) -> Tensor:
        """Sampling probabilities of the stored states ``[size]``."""
        if self.size == 0:
            raise RuntimeError("replay buffer is empty")
        if not self.prioritized:
            return torch.full((self.size,), 1.0 / self.size, device=self.x.device)
        order = self.order()
        ranks = torch.empty_like(order)
        ranks[order] = torch.arange(self.size, device=order.device)
        weights = 1.0 / (self.k * self.size + ranks.to(torch.float64))
        return weights / weights.sum()

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``n`` states (with replacement) and their log-rewards."""
        probs = self.probabilities()
        idx = torch.multinomial(probs, n, replacement=True, generator=generator)
        return self.x[idx], self.log_r[idx]

    def state_dict(self) -> dict:
        return {"x": self.x, "log_r": self.log_r, "size": self.size, "next": self.next}

    def load_state_dict(self, state: dict) -> None:
        self.x.copy_(state["x"])
        self.log_r.copy_(state["log_r"])
        self.size, self.next = int(state["size"]), int(state["next"])
        self._order = None  # rebuilt by one full sort when first needed
