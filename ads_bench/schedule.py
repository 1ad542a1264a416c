"""Which iterations of a run do what: the schedules of ``train`` and ``eval`` (pure functions).

Paper (arXiv 2506.01541) section 3: a ``train.replay_ratio`` share of the iterations is off-policy
(trajectories from the replay buffer), the exploration noise decays linearly to zero over
``train.exploration_share`` of training, and the divergence guard (:mod:`ads_bench.guard`) runs
before every periodic evaluation, every checkpoint and the end of training. Iterations count from
0; ``after`` is the number of iterations trained so far.
"""

from __future__ import annotations

from ads_bench.config import Config

__all__ = ["evaluation_due", "exploration_std", "guard_due", "is_off_policy"]


def exploration_std(cfg: Config, it: int) -> float:
    """Std of the exploration noise at iteration ``it``: ``train.exploration_std``, decayed
    linearly to 0 over the first ``train.exploration_share`` of training."""
    t = cfg.train
    horizon = t.exploration_share * t.iterations
    if t.exploration_std == 0.0 or horizon <= 0:
        return 0.0
    return t.exploration_std * max(0.0, 1.0 - it / horizon)


def is_off_policy(cfg: Config, it: int) -> bool:
    """Whether iteration ``it`` is off-policy: a ``train.replay_ratio`` share, evenly spread."""
    r = cfg.train.replay_ratio
    return r > 0 and int((it + 1) * r) > int(it * r)


def evaluation_due(cfg: Config, after: int) -> bool:
    """Whether a periodic evaluation follows iteration ``after`` (every ``eval.every``; the final
    evaluation, after the last iteration, is not periodic)."""
    every = cfg.eval.every
    return bool(every and after % every == 0 and after < cfg.train.iterations)


def guard_due(cfg: Config, after: int) -> bool:
    """Whether the divergence guard runs after iteration ``after``: before every periodic
    evaluation, every checkpoint and the end of training."""
    every, ckpt = cfg.eval.every, cfg.train.checkpoint_every
    return (
        after >= cfg.train.iterations
        or bool(every and after % every == 0)
        or bool(ckpt and after % ckpt == 0)
    )
