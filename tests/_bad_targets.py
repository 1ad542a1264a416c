"""User targets that are wrong in one way each, named by import path in ``tests/test_cli_errors.py``
(``--target _bad_targets:WrongShape``; pytest.ini puts the tests folder on the path).

Each is a duck-typed target (``dim`` and ``log_prob``), as a user's own code would be."""

from __future__ import annotations

import torch


class _Gauss:
    dim = 2

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return -0.5 * (x**2).sum(-1)


class WrongShape(_Gauss):
    """Keeps the last dimension: ``[B, 1]`` instead of ``[B]``."""

    def log_prob(self, x):
        return super().log_prob(x).unsqueeze(-1)


class Raises(_Gauss):
    def log_prob(self, x):
        raise RuntimeError("boom in the user's log_prob")


class ReturnsNaN(_Gauss):
    def log_prob(self, x):
        return torch.full(x.shape[:-1], float("nan"), dtype=x.dtype)


class ReturnsPosInf(_Gauss):
    def log_prob(self, x):
        return super().log_prob(x) + float("inf")


class NotATensor(_Gauss):
    def log_prob(self, x):
        return 0.0


class WrongDtype(_Gauss):
    def log_prob(self, x):
        return super().log_prob(x).to(torch.float16)


class NoDim:
    def log_prob(self, x):
        return -0.5 * (x**2).sum(-1)


class HalfPlane(_Gauss):
    """A density with bounded support: ``-inf`` where ``x_0 < 0`` (legitimate)."""

    def log_prob(self, x):
        lp = super().log_prob(x)
        return torch.where(x[..., 0] >= 0, lp, torch.full_like(lp, -float("inf")))


class NanLater(_Gauss):
    """Finite at the probe and for the first training batch, NaN from the second training batch on
    (training batches are the only ones of 4 points: the target probe has 3, the divergence guard's
    and the evaluations' have ``eval.n`` = 8), so the run stops at iteration 1."""

    def __init__(self):
        self.batches = 0

    def log_prob(self, x):
        lp = super().log_prob(x)
        if x.shape[0] == 4:
            self.batches += 1
            if self.batches >= 2:
                return lp * float("nan")
        return lp
