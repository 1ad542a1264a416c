"""The training loop of a diffusion sampler: ``ads_bench.train(config, target=None)``.

Paper (arXiv 2506.01541) section 3. Each iteration (:meth:`_Run.step`):

1. a batch of trajectories: on-policy from the generation process (with scheduled exploration
   noise) or, on a ``replay_ratio`` share of iterations (:mod:`ads_bench.schedule`), off-policy:
   replay-buffer terminal states noised back to ``t_0`` by the destruction process;
2. the objective's losses (:func:`ads_bench.objectives.objective_losses`);
3. gradients, optional clipping, one Adam step per parameter group (generation, destruction, log Z);
4. the EMA update of the destruction target network.

Around it (:func:`train`): periodic evaluations (:func:`ads_bench.run_state.periodic_evaluation`), a
progress line, and the run folder (:class:`ads_bench.store.RunDir`), locked for the whole training,
with checkpoints every ``checkpoint_every`` iterations (:class:`ads_bench.run_state.RunState`): an
unfinished run with the same configuration is resumed exactly (the training generator's state is
checkpointed), a finished one served from disk untouched. A non-finite loss, log-weight or gradient
stops the run with :class:`NonFiniteError` *before* the optimiser step, so the last checkpoint is
good (one flag read per iteration); a run that stays finite but runs away is stopped by the
divergence guard (:mod:`ads_bench.guard`), before every periodic evaluation, checkpoint and the end.
"""

from __future__ import annotations

import os
import time

import torch

from ads_bench.config import Config
from ads_bench.evaluation import eval_generator
from ads_bench.guard import DivergenceError, NonFiniteError, check_divergence, guard_probe
from ads_bench.objectives import objective_losses
from ads_bench.progress import ProgressLine
from ads_bench.rollout import backward_rollout, forward_rollout
from ads_bench.run_result import RunResult, finish_run
from ads_bench.run_state import RunState, periodic_evaluation, run_target
from ads_bench.runtime import threads
from ads_bench.schedule import exploration_std, guard_due, is_off_policy
from ads_bench.store import RunDir, StoreError

__all__ = ["DivergenceError", "NonFiniteError", "divergence_guard", "train", "validate_config"]


def validate_config(cfg: Config) -> None:
    """Raise ``ValueError`` naming the first field whose value cannot be run
    (:meth:`Config.validate`)."""
    cfg.validate()


class _Run(RunState):
    """A :class:`~ads_bench.run_state.RunState` with its iteration (:meth:`step`)."""

    # -------------------------------------------------------------- one iteration
    def _on_policy_losses(self, noise: torch.Tensor, exploration: torch.Tensor):
        """Rollout + objective of an on-policy batch: a function of tensors only (no host sync, no
        branch on values), which ``train.compile`` hands whole to ``torch.compile``."""
        t = self.cfg.train
        traj = forward_rollout(
            self.model,
            t.batch_size,
            noise=noise,
            exploration_std=exploration,
            reparam=t.objective == "kl",
            impl=self.impl,
            log_probs=False,
        )
        x_T = traj.states[:, -1]
        log_r = self.target.log_prob(x_T)
        losses = objective_losses(
            self.model, traj, log_r, t.objective, use_target=self.use_target, impl=self.impl
        )
        return losses.gen, losses.dest, losses.log_w, x_T.detach(), log_r.detach()

    def _off_policy_losses(self, x_T: torch.Tensor, log_r: torch.Tensor, noise: torch.Tensor):
        """Destruction rollout from buffer states + objective (also compiled whole)."""
        t = self.cfg.train
        traj = backward_rollout(self.model, x_T, noise=noise, impl=self.impl, log_probs=False)
        losses = objective_losses(
            self.model, traj, log_r, t.objective, use_target=self.use_target, impl=self.impl
        )
        return losses.gen, losses.dest, losses.log_w

    def _compiled(self, name: str):
        fn = getattr(self, f"_{name}_losses")
        if not self.cfg.train.compile:
            return fn
        cache = self.__dict__.setdefault("_compiled_fns", {})
        if name not in cache:
            # Langevin's score uses torch.autograd.grad, which a full-graph trace cannot take.
            cache[name] = torch.compile(fn, fullgraph=not self.cfg.sampler.langevin)
        return cache[name]

    def step(self, it: int) -> float:
        """Train iteration ``it``; its loss (a Python float)."""
        cfg, t = self.cfg, self.cfg.train
        # Random draws happen here, outside the traced functions, from the run's generator.
        if is_off_policy(cfg, it) and len(self.buffer) > 0:
            x_T, log_r = self.buffer.sample(t.batch_size, self.generator)
            noise = self.model.draw_noise(t.batch_size, self.generator)
            gen, dest, log_w = self._compiled("off_policy")(x_T, log_r, noise)
        else:
            noise = self.model.draw_noise(t.batch_size, self.generator)
            exploration = torch.tensor(
                exploration_std(cfg, it), dtype=noise.dtype, device=noise.device
            )
            gen, dest, log_w, x_T, log_r = self._compiled("on_policy")(noise, exploration)
            if t.replay_ratio > 0:
                self.buffer.add(x_T, log_r)
        same = not self.use_target  # one loss trains every group
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=True)
        # gen reaches the generation parameters and log Z only (it uses the frozen target copy of
        # phi), dest reaches the destruction parameters only (generation terms detached), except a
        # shared trunk, which is meant to learn from both. So one backward pass over the sum gives
        # every group exactly its own loss's gradient, and runs a compiled graph's backward once.
        (gen if same else gen + dest).backward()
        loss_t = (gen if same else gen + dest).detach()
        # The step's one host synchronisation: the loss and every non-finite flag, read together,
        # before the optimiser step (so a NaN never reaches the parameters or a checkpoint).
        names = ["loss", "log-weight", *(f"gradient of the {g} parameters" for g in self.groups)]
        flags = [torch.isfinite(loss_t), torch.isfinite(log_w).all()]
        for params in self.groups.values():
            grads = [p.grad for p in params if p.grad is not None]
            flags.append(
                torch.stack([torch.isfinite(g).all() for g in grads]).all()
                if grads
                else torch.ones((), dtype=torch.bool, device=loss_t.device)
            )
        values = torch.cat([loss_t.reshape(1).double(), torch.stack(flags).double()]).tolist()
        loss = values[0]
        for name, ok in zip(names, values[1:], strict=True):
            if not ok:
                raise NonFiniteError(it, name, self._checkpoint_name())
        if t.grad_clip is not None:
            for params in self.groups.values():
                torch.nn.utils.clip_grad_norm_(params, t.grad_clip)
        for opt in self.optimizers.values():
            opt.step()
        if self.use_target:
            self.model.update_target(t.target_rate)
        return loss


def train(
    config: Config,
    target=None,
    *,
    out_dir: str | os.PathLike | RunDir | None = None,
    progress: bool = True,
    seeds: list[int] | None = None,
) -> RunResult | list[RunResult]:
    """Train the sampler described by ``config`` and evaluate it.

    Args:
        config: a :class:`~ads_bench.config.Config`, used as it is (build one with a method preset
            applied by :func:`ads_bench.methods.make_config`).
        target: a target object or ``"module:attr"`` path overriding ``config.target``.
        out_dir: run folder (:class:`ads_bench.store.RunDir`) for ``result.json``, ``history.csv``,
            ``config.json`` and ``checkpoint.pt``, locked while the run trains. An unfinished run
            there with the same configuration is resumed; a finished one is returned from disk
            (``cached=True``) without touching a file.
        seeds: train these seeds of ``config`` (its own ``seed`` is then ignored) as one batched
            ensemble (:mod:`ads_bench.ensemble`), into ``out_dir/seed-<s>/``.
    Returns:
        :class:`RunResult` with the final metrics, timing and environment; with ``seeds``, a list
        of them in seed order (a seed that diverged has ``error`` set).
    Raises:
        ValueError: an invalid config; :class:`ads_bench.targets.TargetError`: a target whose
            ``log_prob`` cannot be used; :class:`NonFiniteError`: training diverged;
            :class:`ads_bench.store.StoreError`: the folder is locked by another process
            (``RunLocked``), holds another config's run, or has a damaged checkpoint
            (``DamagedFileError``, naming it).
    """
    cfg = config
    validate_config(cfg)
    if seeds is not None:
        from ads_bench.ensemble.loop import train_ensemble

        return train_ensemble(cfg, seeds, target, out_dir=out_dir, progress=progress)
    if cfg.train.compile and cfg.train.objective != "kl":
        # The compiled update (ads_bench.update) is the ensemble's: one seed is a 1-seed ensemble.
        # (kl's gradient runs through the rollout; it keeps the per-batch compile of _Run.)
        from ads_bench.ensemble.loop import train_ensemble

        dirs = [out_dir if isinstance(out_dir, RunDir) else RunDir(out_dir)] if out_dir else None
        kw = {"run_dirs": dirs, "progress": progress, "raise_divergence": True}
        return train_ensemble(cfg, [cfg.seed], target, **kw)[0]
    if out_dir is None:
        return _train(cfg, target, None, progress)
    run_dir = (out_dir if isinstance(out_dir, RunDir) else RunDir(out_dir)).create()
    with run_dir.lock():
        state = run_dir.status(cfg.as_dict())
        if state == "done":
            return RunResult.from_disk(run_dir, run_dir.read_result())
        if state == "stale":
            raise StoreError(
                f"{run_dir.path} holds a run of a different configuration; use another --out or "
                "delete it"
            )
        run_dir.clear_error()
        return _train(cfg, target, run_dir, progress)


def _train(cfg: Config, target, run_dir: RunDir | None, progress: bool) -> RunResult:
    tgt = run_target(cfg, target)
    with threads(cfg.train.threads):
        return _train_loop(cfg, tgt, run_dir, progress)


def _train_loop(cfg: Config, tgt, run_dir: RunDir | None, progress: bool) -> RunResult:
    if run_dir is not None and run_dir.read_config() != cfg.as_dict():
        run_dir.write_config(cfg.as_dict())
    run = _Run(cfg, tgt, run_dir)
    resumed = run.try_resume()
    t = cfg.train
    bar = ProgressLine(t.iterations, f"{cfg.method}/{tgt.name}/T={cfg.sampler.steps}", progress)
    while run.iteration < t.iterations:
        it = run.iteration
        start = time.perf_counter()
        run.loss = run.step(it)
        run.train_seconds += time.perf_counter() - start
        run.iteration = it + 1
        divergence_guard(run)
        periodic_evaluation(run)
        if run_dir is not None and t.checkpoint_every and run.iteration % t.checkpoint_every == 0:
            run.save()
        bar.update(run.iteration, f"loss={run.loss:.4g}")
    return finish_run(run, resumed)


def divergence_guard(run: _Run) -> None:
    """After each iteration of ``run``: where the guard is due (before every periodic evaluation,
    checkpoint and the end of training), raise :class:`DivergenceError` if ``run`` has diverged by
    the rule of :mod:`ads_bench.guard` (``eval.guard_elbo_gap``, ``eval.guard_logw_std``; a probe of
    ``eval.n`` trajectories from a generator of its own, so no evaluation's numbers change)."""
    e = run.cfg.eval
    if (e.guard_elbo_gap is None and e.guard_logw_std is None) or not guard_due(
        run.cfg, run.iteration
    ):
        return
    seed, device = run.cfg.seed + 7_000_001, run.cfg.train.device
    gen = eval_generator(seed, run.iteration, final=False, device=device)
    probe = guard_probe(run.model, run.target, n=e.n, generator=gen, impl=run.impl)
    check_divergence(
        probe,
        iteration=run.iteration,
        max_elbo_gap=e.guard_elbo_gap,
        max_logw_std=e.guard_logw_std,
        checkpoint=run._checkpoint_name(),
    )
