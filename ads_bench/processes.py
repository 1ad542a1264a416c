"""Generation and destruction processes of a diffusion sampler (SPEC sections 2-3), one import.

The implementation is split in two modules, re-exported here:

* :mod:`ads_bench.kernels`: the time grid, the VP schedule, :class:`GenerationKernel`,
  :class:`DestructionKernel` (fixed / bounded / adaptive) and the :class:`Sampler` module;
* :mod:`ads_bench.rollout`: :class:`Trajectory`, :func:`forward_rollout`, :func:`backward_rollout`.
"""

from ads_bench.kernels import (
    BOUNDED_VAR_FLOOR,
    DESTRUCTIONS,
    PRIORS,
    UNBOUNDED_LOG_VAR_CLAMP,
    DestructionKernel,
    GenerationKernel,
    Sampler,
    uniform_grid,
    vp_betas,
)
from ads_bench.rollout import Trajectory, backward_rollout, forward_rollout

__all__ = [
    "BOUNDED_VAR_FLOOR",
    "DESTRUCTIONS",
    "PRIORS",
    "UNBOUNDED_LOG_VAR_CLAMP",
    "DestructionKernel",
    "GenerationKernel",
    "Sampler",
    "Trajectory",
    "backward_rollout",
    "forward_rollout",
    "uniform_grid",
    "vp_betas",
]
