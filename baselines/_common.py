"""Overrides every continuous-time baseline shares (see :mod:`baselines`)."""

from __future__ import annotations

from typing import Any

#: fixed destruction = the reference's reversal, generation variance from the same diffusion
#: coefficient, on-policy training only, no stabilisers of the paper's method
CONTINUOUS_TIME: dict[str, Any] = {
    "sampler.destruction": "fixed",
    "sampler.learn_var": False,
    "sampler.backbone": "separate",
    "train.replay_ratio": 0.0,
    "train.target_rate": None,
    "train.exploration_std": 0.0,
}
