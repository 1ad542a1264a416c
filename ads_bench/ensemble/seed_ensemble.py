"""One seed ensemble: the runs of one config, one per seed, stepped together as one batched model.

:class:`SeedEnsemble` holds one :class:`~ads_bench.training._Run` per seed, all at one iteration,
whose parameters are views of stacked ``[S, ...]`` tensors (:mod:`ads_bench.ensemble.batched`),
with one Adam per parameter group over the stacked tensors (Adam is elementwise, so this is exactly
one Adam per seed). :meth:`SeedEnsemble.step` runs one training iteration of every active seed:
eagerly, under ``vmap`` of the single-seed losses, or through the compiled update of
:mod:`ads_bench.update`; each seed draws its own noise and replay samples from its own generator
and buffer, in the order of a single-seed run. A seed whose loss, log-weights or gradients become
non-finite is stopped before the optimiser step (its parameters left as they were, its
``error.json`` written) while the others go on. The loop around it is
:mod:`ads_bench.ensemble.loop`.
"""

from __future__ import annotations

import torch

from ads_bench.ensemble.batched import (
    SeedCall,
    batched_call,
    clip_grad_norm_per_seed,
    functional_score,
    stack_parameters,
)
from ads_bench.ensemble.checkpoints import commit_checkpoints, seed_adam_state, stack_adam_states

__all__ = ["SeedEnsemble"]


class SeedEnsemble:
    """Runs (one :class:`~ads_bench.training._Run` per seed, all at one iteration) whose parameters
    are views of stacked ``[S, ...]`` tensors, stepped together.

    ``group`` is a list of ``(run, resumed)`` pairs; ``all_seeds`` (every seed of the ensemble,
    whatever iteration it resumed at) and ``progress`` are for the loop's report."""

    def __init__(self, group: list, all_seeds: list[int], progress: bool):
        from ads_bench.run_state import learning_rates

        self.runs = [run for run, _ in group]
        self.resumed = [resumed for _, resumed in group]
        self.all_seeds, self.progress = all_seeds, progress
        self.cfg = self.runs[0].cfg
        self.S = len(self.runs)
        for run in self.runs:
            run.impl = "reference"  # the fused ops have no vmap batching rule
            if run.cfg.sampler.langevin:  # Target.score's autograd.grad cannot be vmapped
                object.__setattr__(run.model.generation, "score_fn", functional_score(run.target))
        base = self.runs[0].model
        self.stacked = stack_parameters(self.runs)
        ids = {id(p): n for n, p in base.named_parameters()}
        self.groups = {
            g: [self.stacked[ids[id(p)]] for p in params]
            for g, params in base.parameter_groups().items()
            if params
        }
        lrs = learning_rates(self.cfg)
        self.optimizers = {g: torch.optim.Adam(ps, lr=lrs[g]) for g, ps in self.groups.items()}
        stack_adam_states(self.optimizers, self.groups, self.runs)
        self.call = SeedCall(self.runs[0])
        self.params = {f"model.{n}": t for n, t in self.stacked.items()}
        self.active = [True] * self.S
        self.errors: dict[int, str] = {}
        self.failures: dict[int, Exception] = {}  # seed -> its NonFiniteError
        self.compiled = self._build_compiled(ids) if self.cfg.train.compile else None

    def _build_compiled(self, ids: dict[int, str]):
        """The compiled update (:mod:`ads_bench.update`), holding the resumed Adam state."""
        from ads_bench.run_state import learning_rates
        from ads_bench.update import CompiledUpdate

        model = self.runs[0].model
        groups = {
            g: [f"model.{ids[id(p)]}" for p in params]
            for g, params in model.parameter_groups().items()
            if params
        }
        ema = None
        if self.runs[0].use_target:
            pairs = zip(
                model.target_destruction.parameters(), model.destruction.parameters(), strict=True
            )
            names = [(f"model.{ids[id(a)]}", f"model.{ids[id(b)]}") for a, b in pairs]
            ema = (names, self.cfg.train.target_rate)
        update = CompiledUpdate(
            self.call,
            self.params,
            groups,
            learning_rates(self.cfg),
            grad_clip=self.cfg.train.grad_clip,
            ema=ema,
        )
        for g, opt in self.optimizers.items():
            for p, name in zip(self.groups[g], groups[g], strict=True):
                st = opt.state.get(p)
                if st:
                    update.load_adam({name: st}, float(st["step"]))
        return update

    def _checkpoint_state(self, s: int) -> dict:
        """Seed ``s``'s single-seed checkpoint (its tensors copied out of the stacked ones)."""
        run = self.runs[s]
        state = run.state()
        state["model"] = {k: v.detach().clone() for k, v in state["model"].items()}
        state["optimizers"] = seed_adam_state(
            self.optimizers, self.groups, self.runs, self.compiled, s
        )
        return state

    def save(self) -> None:
        """Commit every active seed's checkpoint at the current iteration, in two phases
        (:func:`~ads_bench.ensemble.checkpoints.commit_checkpoints`)."""
        todo = [
            s
            for s, run in enumerate(self.runs)
            if self.active[s] and run.run_dir is not None and run.saved_iteration != run.iteration
        ]
        dirs = [self.runs[s].run_dir for s in todo]
        commit_checkpoints(dirs, (self._checkpoint_state(s) for s in todo))
        for s in todo:
            self.runs[s].saved_iteration = self.runs[s].iteration

    # ------------------------------------------------------------------ one iteration
    def _batched(self, kind: str, *args, in_dims):
        return batched_call(self.call, self.params, kind, *args, in_dims=in_dims)

    def _compiled_step(self, it: int) -> list[float]:
        """:meth:`step` through the compiled graphs (:mod:`ads_bench.update`): the same random
        draws, one host synchronisation (the losses and flags, after the guarded update)."""
        from ads_bench.schedule import exploration_std, is_off_policy

        cfg, t, runs, up = self.cfg, self.cfg.train, self.runs, self.compiled
        if is_off_policy(cfg, it) and len(runs[0].buffer) > 0:
            x_T, log_r, noise = self._replay_draws()
            states = up.rollout_backward(x_T, noise)
        else:
            noise = torch.stack([run.model.draw_noise(t.batch_size, run.generator) for run in runs])
            expl = torch.tensor(exploration_std(cfg, it), dtype=noise.dtype, device=noise.device)
            states, log_r = up.rollout_forward(noise, expl)
            self._store(states[:, :, -1], log_r)
        active = torch.tensor(self.active, device=states.device)
        losses_t, flags = up.update(states, log_r, active)
        return self._read_and_stop(it, losses_t, flags, list(up.groups))

    def _replay_draws(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every seed's replayed ``x_T`` ``[S, B, D]``, ``log R`` ``[S, B]`` and noise, drawn from
        its own buffer and generator in the order of a single-seed off-policy step."""
        xs, rs, noises = [], [], []
        b = self.cfg.train.batch_size
        for run in self.runs:
            x_T, log_r = run.buffer.sample(b, run.generator)
            xs.append(x_T)
            rs.append(log_r)
            noises.append(run.model.draw_noise(b, run.generator))
        return torch.stack(xs), torch.stack(rs), torch.stack(noises)

    def _store(self, x_T: torch.Tensor, log_r: torch.Tensor) -> None:
        """Add each active seed's on-policy terminal states to its replay buffer."""
        if self.cfg.train.replay_ratio > 0:
            for s, run in enumerate(self.runs):
                if self.active[s]:
                    run.buffer.add(x_T[s], log_r[s])

    def _read_and_stop(self, it: int, losses: torch.Tensor, flags: torch.Tensor, groups) -> list:
        """The iteration's one host synchronisation: every seed's loss ``[S]`` and non-finite flags
        ``[2 + len(groups), S]``; an active seed with a false flag is stopped, naming the first."""
        from ads_bench.guard import NonFiniteError

        values = torch.cat([losses.double()[None], flags.double()]).tolist()
        names = ["loss", "log-weight", *(f"gradient of the {g} parameters" for g in groups)]
        for s in range(self.S):
            if self.active[s]:
                bad = next(
                    (n for n, row in zip(names, values[1:], strict=True) if not row[s]), None
                )
                if bad is not None:
                    self.stop(s, NonFiniteError(it, bad, self.runs[s]._checkpoint_name()))
        return values[0]

    def step(self, it: int) -> list[float]:
        """One training iteration of every active seed; every seed's loss (``[S]`` floats)."""
        from ads_bench.schedule import exploration_std, is_off_policy

        if self.compiled is not None:
            return self._compiled_step(it)

        cfg, t, runs = self.cfg, self.cfg.train, self.runs
        lead = runs[0]
        if is_off_policy(cfg, it) and len(lead.buffer) > 0:
            gen, dest, log_w = self._batched("off_policy", *self._replay_draws(), in_dims=(0, 0, 0))
        else:
            noise = torch.stack([run.model.draw_noise(t.batch_size, run.generator) for run in runs])
            expl = torch.tensor(exploration_std(cfg, it), dtype=noise.dtype, device=noise.device)
            gen, dest, log_w, x_T, log_r = self._batched(
                "on_policy", noise, expl, in_dims=(0, None)
            )
            self._store(x_T, log_r)
        same = not lead.use_target
        for p in self.stacked.values():
            p.grad = None
        total = gen if same else gen + dest  # [S]
        total.sum().backward()  # seeds do not interact: each slice gets its own seed's gradient
        loss_t = total.detach()
        flags = [torch.isfinite(loss_t), torch.isfinite(log_w).flatten(1).all(1)]
        for params in self.groups.values():
            per_tensor = [
                torch.isfinite(p.grad).reshape(self.S, -1).all(1)
                for p in params
                if p.grad is not None
            ]
            flags.append(
                torch.stack(per_tensor).all(0)
                if per_tensor
                else torch.ones(self.S, dtype=torch.bool, device=loss_t.device)
            )
        losses = self._read_and_stop(it, loss_t, torch.stack(flags), list(self.groups))
        if t.grad_clip is not None:
            for params in self.groups.values():
                clip_grad_norm_per_seed(params, t.grad_clip, self.S)
        stopped = [s for s in range(self.S) if not self.active[s]]
        frozen = (
            {n: p.detach()[stopped].clone() for n, p in self.stacked.items()} if stopped else {}
        )
        for opt in self.optimizers.values():
            opt.step()
        with torch.no_grad():
            for n, old in frozen.items():  # stopped seeds keep their parameters as they were
                self.stacked[n][stopped] = old
        if lead.use_target:
            for s, run in enumerate(runs):
                if self.active[s]:
                    run.model.update_target(t.target_rate)
        return losses

    def stop(self, s: int, err: Exception) -> None:
        """Stop seed ``s`` (its parameters frozen from now on) and write its ``error.json``
        (``"diverged"``, naming ``err``)."""
        self.active[s] = False
        run = self.runs[s]
        self.errors[s] = f"{type(err).__name__}: {err}"
        self.failures[run.cfg.seed] = err
        if run.run_dir is not None:
            run.run_dir.write_error(run.cfg.as_dict(), self.errors[s], "", kind="diverged")
