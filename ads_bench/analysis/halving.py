"""Successive halving (Jamieson & Talwalkar 2016; Li et al. 2018, *Hyperband*): score candidates on
a short run, keep the best fraction, give the survivors a longer run, repeat.

Used by the adaptive-destruction study (README, *The adaptive-destruction study*). A candidate's
score in a rung is its mean rank over cells (target, T) and metrics, so that no single target
decides; a failed run ranks last. A candidate with a diverged run ranks after every candidate
without one, whatever its score.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from ads_bench.analysis.runs import record_metric
from ads_bench.sweep.records import RunRecord

#: (metric, sign) pairs of the score: lower ``sign * metric`` is better
SCORE_METRICS = (("delta_logz_elbo", 1.0), ("w2", 1.0), ("modes", -1.0))


def mean_ranks(
    records: Sequence[RunRecord],
    n_cands: int,
    cells: Sequence[tuple[str, int]],
    candidate: Callable[[RunRecord], int],
    metrics: Sequence[tuple[str, float]] = SCORE_METRICS,
) -> list[float]:
    """Mean rank (0 is best) of each of ``n_cands`` candidates over ``cells`` x ``metrics``.

    ``candidate(record)`` names the candidate a record belongs to (0 .. n_cands - 1). Per cell and
    metric the candidates are ranked by their mean over seeds of ``sign * metric``; a candidate with
    no value there gets rank ``n_cands``; a (cell, metric) where no candidate has a value is left
    out. A candidate ranked nowhere scores ``n_cands``."""
    by: dict[tuple, list[RunRecord]] = {}
    for r in records:
        by.setdefault((candidate(r), r.spec.target, r.spec.steps), []).append(r)
    ranks: list[list[int]] = [[] for _ in range(n_cands)]
    for target, steps in cells:
        for key, sign in metrics:
            vals = []
            for i in range(n_cands):
                xs = [record_metric(r, key) for r in by.get((i, target, steps), [])]
                xs = [x for x in xs if x is not None]
                vals.append(sign * sum(xs) / len(xs) if xs else None)
            if all(v is None for v in vals):
                continue
            order = sorted(range(n_cands), key=lambda i: (vals[i] is None, vals[i] or 0.0))
            for rank, i in enumerate(order):
                ranks[i].append(rank if vals[i] is not None else n_cands)
    return [sum(r) / len(r) if r else float(n_cands) for r in ranks]


def rung_order(scores: Sequence[float], diverged: Sequence[int]) -> list[int]:
    """Candidate indices best first: those without a diverged run (``diverged[i] == 0``) before
    the others, each group by score (lower is better; ties keep index order)."""
    return sorted(range(len(scores)), key=lambda j: (diverged[j] > 0, scores[j]))


def survivors(n_live: int, keep: int, last: bool) -> int:
    """How many candidates go on after a rung of ``n_live``: the best third, at least ``keep``;
    after the ``last`` rung one (the winner)."""
    return 1 if last else max(keep, math.ceil(n_live / 3))
