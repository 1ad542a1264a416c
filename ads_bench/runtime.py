"""How a run executes on this machine: the dtypes ``train.dtype`` names and the intra-op threads.

Small networks gain nothing from many threads, and on a CPU shared with other jobs a multi-threaded
op can stall for a scheduler time slice (~5 ms) waiting for a descheduled worker, so training sets
its thread count (``train.threads``) for the run's duration (:func:`threads`) and the metrics run
their many small tensor ops on one thread (:func:`single_threaded`). Both restore the caller's
setting.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["DTYPES", "single_threaded", "threads"]

#: ``train.dtype`` -> the dtype of the run's model, target and states.
DTYPES = {"float32": torch.float32, "float64": torch.float64}


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, then restore the caller's setting."""
    before = torch.get_num_threads()
    if n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Run the block on one intra-op thread (the previous setting is restored).

    Used around many small tensor ops (Sinkhorn inner loops, small MMD problems, the GAN-latent
    models' training): they gain nothing from threads (module docstring).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
