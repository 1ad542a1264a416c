"""A seed ensemble's checkpoints: committed together, each one a single-seed checkpoint.

Every seed's new checkpoint is first written as ``checkpoint.next.pt`` (:data:`NEXT_CHECKPOINT`),
then all are renamed to ``checkpoint.pt`` (:func:`commit_checkpoints`); a kill between the two
phases is rolled forward or back on resume (:func:`settle_pending_checkpoints`), so a killed
ensemble resumes with all seeds at one iteration, exactly. Adam is elementwise, so the stacked
optimiser state ``[S, ...]`` is each seed's own state side by side: :func:`stack_adam_states` builds
it from the seeds' resumed optimisers, :func:`seed_adam_state` gives one seed's back in the format
of its own ``torch.optim.Adam``, so ``python -m ads_bench --seed s`` reads the checkpoint as its
own.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import torch

from ads_bench.store import CHECKPOINT, DamagedFileError, RunDir

__all__ = [
    "NEXT_CHECKPOINT",
    "commit_checkpoints",
    "seed_adam_state",
    "settle_pending_checkpoints",
    "stack_adam_states",
]

NEXT_CHECKPOINT = "checkpoint.next.pt"


def commit_checkpoints(run_dirs: list[RunDir], states: Iterable[dict]) -> None:
    """Write ``states`` (one per run folder, taken in order) as the folders' pending checkpoints,
    then rename every pending file to ``checkpoint.pt``."""
    for rd, state in zip(run_dirs, states, strict=True):
        rd.save_checkpoint(state, name=NEXT_CHECKPOINT)
    for rd in run_dirs:
        os.replace(rd.file(NEXT_CHECKPOINT), rd.file(CHECKPOINT))


def settle_pending_checkpoints(dirs: list[RunDir]) -> None:
    """Roll a half-committed ensemble checkpoint forward (every pending file readable and at one
    iteration with the already-committed ones) or back (delete the pending files)."""
    pending = [rd for rd in dirs if rd.file(NEXT_CHECKPOINT).exists()]
    if not pending:
        return
    iterations = set()
    complete = True
    for rd in dirs:
        try:
            name = NEXT_CHECKPOINT if rd in pending else CHECKPOINT
            state = rd.load_checkpoint(name=name)
        except DamagedFileError:
            state = None
        if state is None:
            complete = False
            break
        iterations.add(state["iteration"])
    if complete and len(iterations) == 1:
        for rd in pending:
            os.replace(rd.file(NEXT_CHECKPOINT), rd.file(CHECKPOINT))
    else:
        for rd in pending:
            rd.file(NEXT_CHECKPOINT).unlink(missing_ok=True)


def stack_adam_states(
    optimizers: dict[str, torch.optim.Optimizer], groups: dict[str, list[torch.Tensor]], runs: list
) -> None:
    """Stack the per-seed Adam states a resume loaded into the seeds' own optimisers
    (``run.optimizers``) into the stacked ``optimizers`` over the stacked parameters ``groups``."""
    for g, opt in optimizers.items():
        per_seed = [run.optimizers[g].state_dict()["state"] for run in runs]
        for i, p in enumerate(groups[g]):
            if i not in per_seed[0]:
                continue
            first = per_seed[0][i]
            opt.state[p] = {
                "step": first["step"].clone(),
                **{
                    k: torch.stack([st[i][k] for st in per_seed]).to(p)
                    for k in ("exp_avg", "exp_avg_sq")
                },
            }


def seed_adam_state(
    optimizers: dict[str, torch.optim.Optimizer],
    groups: dict[str, list[torch.Tensor]],
    runs: list,
    compiled,
    s: int,
) -> dict:
    """Seed ``s``'s optimiser state dicts, in the format of its own ``torch.optim.Adam``: read from
    the stacked ``optimizers``, or from the compiled update (:mod:`ads_bench.update`) if given."""
    out = {}
    for g, opt in optimizers.items():
        state = {}
        for i, p in enumerate(groups[g]):
            st = opt.state.get(p)
            if compiled is not None:
                st = compiled.adam_of(compiled.groups[g][i])
            if st:
                state[i] = {
                    "step": st["step"].clone(),
                    "exp_avg": st["exp_avg"][s].clone(),
                    "exp_avg_sq": st["exp_avg_sq"][s].clone(),
                }
        param_groups = runs[s].optimizers[g].state_dict()["param_groups"]
        out[g] = {"state": state, "param_groups": param_groups}
    return out
