"""The training loop of a diffusion sampler: ``ads_bench.train(config, target=None)``.

Each iteration (SPEC section 3):

1. a batch of trajectories — on-policy from the generation process (with scheduled exploration noise),
   or, on a ``replay_ratio`` share of iterations, off-policy: terminal states from the rank-prioritised
   replay buffer noised back to ``t_0`` by the destruction process;
2. the objective's losses (:func:`ads_bench.objectives.objective_losses`);
3. gradients, optional clipping, one Adam step per parameter group (generation, destruction, log Z);
4. the EMA update of the destruction target network.

Around it: periodic evaluation (:func:`ads_bench.evaluation.evaluate`), a progress line, and the run
folder (:class:`ads_bench.store.RunDir`): its lock held for the whole training, checkpoints every
``checkpoint_every`` iterations, resume from the checkpoint of an unfinished run with the same
configuration, and a finished run served from disk untouched. A non-finite loss, log-weight or
gradient stops the run with :class:`NonFiniteError` naming the iteration and quantity (the parameter
group, for a gradient), *before* the optimiser step, so the last checkpoint is good; the check reads
one flag per iteration. A run that stays finite but runs away is stopped by the divergence guard
(:mod:`ads_bench.guard`, :class:`DivergenceError`), checked before every periodic evaluation, every
checkpoint and the final one, so no checkpoint holds a diverged model.

Randomness: training draws from one ``torch.Generator`` seeded with ``config.seed`` (and
``torch.manual_seed`` for the initial weights); its state is checkpointed, so a resumed run continues
exactly where it stopped. Every evaluation draws from a fresh generator of its own, derived from the
seed and the iteration it evaluates (:func:`eval_generator`), so how often a run is evaluated changes
neither its training nor its final metrics, and a finished run re-evaluated from its final checkpoint
gets the same numbers. The intra-op thread count (``train.threads``) is set for the run's duration.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ads_bench import __version__
from ads_bench.config import Config
from ads_bench.evaluation import METRIC_KEYS, evaluate
from ads_bench.guard import DivergenceError, NonFiniteError, check_divergence, guard_probe
from ads_bench.kernels import Sampler
from ads_bench.objectives import objective_losses
from ads_bench.ops._dispatch import use_fused
from ads_bench.replay import ReplayBuffer
from ads_bench.rollout import backward_rollout, forward_rollout
from ads_bench.store import RunDir, StoreError
from ads_bench.targets import check_target, get_target

__all__ = [
    "DivergenceError",
    "NonFiniteError",
    "RunResult",
    "build_sampler",
    "eval_generator",
    "train",
    "validate_config",
]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass
class RunResult:
    config: dict
    metrics: dict
    timing: dict
    env: dict
    history: list[dict] = field(default_factory=list)
    out_dir: str | None = None
    #: metrics of the same networks on ``eval.steps`` steps (``None`` unless configured)
    metrics_eval_steps: dict | None = None
    #: True when the run was already finished in ``out_dir`` and served from disk untouched
    cached: bool = False
    #: why a seed of an ensemble stopped (it has no metrics then); ``None`` for a finished run
    error: str | None = None

    @classmethod
    def from_disk(cls, run_dir: RunDir, data: dict) -> RunResult:
        """The result of a finished run, as :func:`train` returned it (``cached=True``)."""
        return cls(
            config=data["config"], metrics=data["metrics"], timing=data.get("timing") or {},
            env=data.get("env") or {}, history=run_dir.read_history(), out_dir=str(run_dir.path),
            metrics_eval_steps=data.get("metrics_eval_steps"), cached=True,
        )  # fmt: skip

    def to_json(self) -> dict:
        return {
            "config": self.config,
            "metrics": self.metrics,
            "metrics_eval_steps": self.metrics_eval_steps,
            "timing": self.timing,
            "env": self.env,
        }


def validate_config(cfg: Config) -> None:
    """Raise ``ValueError`` naming the first field whose value cannot be run (:meth:`Config.validate`)."""
    cfg.validate()


def build_sampler(cfg: Config, target) -> Sampler:
    """The :class:`Sampler` of ``cfg.sampler`` for ``target`` (:meth:`Sampler.from_config`)."""
    return Sampler.from_config(
        cfg.sampler, target, target_network=cfg.train.target_rate is not None,
        device=cfg.train.device, dtype=_DTYPES[cfg.train.dtype],
    )  # fmt: skip


def learning_rates(cfg: Config) -> dict[str, float]:
    """Adam learning rate of each parameter group (:meth:`Sampler.parameter_groups`)."""
    t = cfg.train
    sep = t.separate_optimizers
    return {
        "generation": t.lr_gen,
        "destruction": t.lr_dest if sep else t.lr_gen,
        "trunk": t.lr_trunk if sep else t.lr_gen,  # only sampler.backbone="shared" has this group
        "log_z": t.lr_logz,
    }


def _optimizers(model: Sampler, cfg: Config) -> dict[str, torch.optim.Optimizer]:
    lrs = learning_rates(cfg)
    return {
        name: torch.optim.Adam(params, lr=lrs[name])
        for name, params in model.parameter_groups().items()
        if params
    }


def _exploration(cfg: Config, it: int) -> float:
    t = cfg.train
    horizon = t.exploration_share * t.iterations
    if t.exploration_std == 0.0 or horizon <= 0:
        return 0.0
    return t.exploration_std * max(0.0, 1.0 - it / horizon)


def _off_policy(cfg: Config, it: int) -> bool:
    r = cfg.train.replay_ratio
    return r > 0 and int((it + 1) * r) > int(it * r)


class _Progress:
    """One status line on stderr: in place on a terminal, every 10 % otherwise."""

    def __init__(self, total: int, label: str, enabled: bool):
        self.total, self.label, self.enabled = total, label, enabled
        self.tty = sys.stderr.isatty()
        self.start = time.perf_counter()
        self.last = -1.0
        self.last_decile = -1

    def update(self, it: int, info: str = "") -> None:
        if not self.enabled or self.total == 0:
            return
        now = time.perf_counter()
        decile = (10 * it) // self.total
        if self.tty and now - self.last < 0.5 and it < self.total:
            return
        if not self.tty and decile == self.last_decile and it < self.total:
            return
        self.last, self.last_decile = now, decile
        rate = it / max(now - self.start, 1e-9)
        line = f"{self.label} [{it}/{self.total}] {rate:.1f} it/s {info}"
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr)
        if self.tty and it >= self.total:
            print(file=sys.stderr)


def _git_commit() -> str | None:
    try:
        root = Path(__file__).resolve().parents[1]
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


#: Stream of the evaluation with ``eval.steps`` steps (the step-reduction control).
_STREAM_PERIODIC, _STREAM_REDUCED = 1, 2


def eval_generator(seed: int, iteration: int, *, final: bool, device="cpu") -> torch.Generator:
    """The generator of the evaluation of the run with ``seed`` at ``iteration``.

    The final evaluation uses ``seed + 1_000_003`` (the stream every finished run of this package has
    used); periodic ones a stream derived from ``(seed, iteration)`` with NumPy's ``SeedSequence``. So
    no evaluation depends on whether or how often another one ran."""
    gen = torch.Generator(device=device)
    if final:
        return gen.manual_seed(seed + 1_000_003)
    import numpy as np

    state = np.random.SeedSequence([seed, _STREAM_PERIODIC, iteration]).generate_state(1, np.uint64)
    return gen.manual_seed(int(state[0]) >> 1)


@contextlib.contextmanager
def _threads(n: int):
    """Run the block with ``n`` torch intra-op threads, then restore the caller's setting."""
    before = torch.get_num_threads()
    if n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


class _Run:
    """State of one training run (model, optimisers, buffer, RNG, history) and its checkpointing."""

    def __init__(self, cfg: Config, target, run_dir: RunDir | None):
        self.cfg, self.target, self.run_dir = cfg, target, run_dir
        self.impl = cfg.train.impl  # of the training step's ops (an ensemble uses "reference")
        torch.manual_seed(cfg.seed)
        self.model = build_sampler(cfg, target)
        self.optimizers = _optimizers(self.model, cfg)
        dtype, device = _DTYPES[cfg.train.dtype], torch.device(cfg.train.device)
        self.buffer = ReplayBuffer(
            cfg.train.replay_capacity, target.dim, prioritized=cfg.train.replay_prioritized,
            k=cfg.train.replay_k, dtype=dtype, device=device,
        )  # fmt: skip
        self.generator = torch.Generator(device=device).manual_seed(cfg.seed)
        self.iteration = 0
        self.loss = float("nan")  # of the last iteration trained
        self.train_seconds = 0.0
        # iterations that compiled a graph (train.compile), timed apart; not checkpointed
        self.compile_seconds, self.compile_iterations = 0.0, 0
        self.eval_seconds = 0.0
        self.history: list[dict] = []
        self.use_target = self.model.target_destruction is not None
        self.saved_iteration: int | None = None
        self.groups = {k: v for k, v in self.model.parameter_groups().items() if v}

    # -------------------------------------------------------------- checkpoints
    def state(self) -> dict:
        return {
            "config_key": self.cfg.key(),
            "iteration": self.iteration,
            "loss": self.loss,
            "model": self.model.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "buffer": self.buffer.state_dict(),
            "generator": self.generator.get_state(),
            "train_seconds": self.train_seconds,
            "eval_seconds": self.eval_seconds,
            "history": self.history,
        }

    def save(self) -> None:
        if self.run_dir is None or self.saved_iteration == self.iteration:
            return
        self.run_dir.save_checkpoint(self.state())
        self.saved_iteration = self.iteration

    def try_resume(self) -> bool:
        if self.run_dir is None:
            return False
        state = self.run_dir.load_checkpoint(map_location=self.cfg.train.device)
        if state is None:
            return False
        path = self.run_dir.file("checkpoint.pt")
        if state.get("config_key") != self.cfg.key():
            raise StoreError(
                f"{path} belongs to a different configuration "
                f"(key {state.get('config_key')} != {self.cfg.key()}); use another --out or delete it"
            )
        try:
            self.model.load_state_dict(state["model"])
            for k, o in self.optimizers.items():
                o.load_state_dict(state["optimizers"][k])
            self.buffer.load_state_dict(state["buffer"])
            self.generator.set_state(state["generator"])
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            from ads_bench.store import DamagedFileError

            raise DamagedFileError(path, f"does not fit this run's model ({exc})") from None
        self.iteration = self.saved_iteration = state["iteration"]
        self.loss = state.get("loss", float("nan"))
        self.train_seconds, self.eval_seconds = state["train_seconds"], state["eval_seconds"]
        self.history = state["history"]
        return True

    # -------------------------------------------------------------- one iteration
    def _on_policy_losses(self, noise: torch.Tensor, exploration: torch.Tensor):
        """Rollout + objective of an on-policy batch: a function of tensors only (no host sync, no
        branch on values), which ``train.compile`` hands whole to ``torch.compile``."""
        t = self.cfg.train
        traj = forward_rollout(
            self.model, t.batch_size, noise=noise, exploration_std=exploration,
            reparam=t.objective == "kl", impl=self.impl, log_probs=False,
        )  # fmt: skip
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
        cfg, t = self.cfg, self.cfg.train
        # Random draws happen here, outside the traced functions, from the run's generator.
        if _off_policy(cfg, it) and len(self.buffer) > 0:
            x_T, log_r = self.buffer.sample(t.batch_size, self.generator)
            noise = self.model.draw_noise(t.batch_size, self.generator)
            gen, dest, log_w = self._compiled("off_policy")(x_T, log_r, noise)
        else:
            noise = self.model.draw_noise(t.batch_size, self.generator)
            exploration = torch.tensor(
                _exploration(cfg, it), dtype=noise.dtype, device=noise.device
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

    def _checkpoint_name(self) -> str | None:
        if self.run_dir is None or self.saved_iteration is None:
            return None
        return f"{self.run_dir.file('checkpoint.pt')} (iteration {self.saved_iteration})"

    def evaluate(self, generator: torch.Generator, model: Sampler | None = None) -> dict:
        e = self.cfg.eval
        start = time.perf_counter()
        metrics = evaluate(
            model or self.model, self.target, n=e.n, generator=generator,
            learned_log_z=self.cfg.train.objective in ("tb", "tlm"),
            sample_metrics=e.sample_metrics, sinkhorn_eps=e.sinkhorn_eps, impl=self.cfg.train.impl,
        )  # fmt: skip
        self.eval_seconds += time.perf_counter() - start
        return metrics


def _env(cfg: Config, impl: str | None = None) -> dict:
    dtype = _DTYPES[cfg.train.dtype]
    probe = torch.empty(0, dtype=dtype, device=cfg.train.device)
    impl = cfg.train.impl if impl is None else impl
    return {
        "ads_bench": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(probe.device),
        "fused_kernels": use_fused("train", impl, probe),
        "git_commit": _git_commit(),
        "seed": cfg.seed,
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "machine": platform.machine(),
    }


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
        target: a target object or ``"module:attr"`` path overriding ``config.target`` (a user target).
        out_dir: run folder (:class:`ads_bench.store.RunDir`) for ``result.json``, ``history.csv``,
            ``config.json`` and ``checkpoint.pt``, locked while the run trains. An unfinished run there
            with the same configuration is resumed; a finished one is returned from disk
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
        return train_ensemble(cfg, [cfg.seed], target, run_dirs=dirs, progress=progress,
                              raise_divergence=True)[0]  # fmt: skip
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
    dtype = _DTYPES[cfg.train.dtype]
    tgt = get_target(target if target is not None else cfg.target)
    tgt = tgt.to(device=cfg.train.device, dtype=dtype)
    check_target(tgt, dtype=dtype, device=torch.device(cfg.train.device))
    with _threads(cfg.train.threads):
        return _train_loop(cfg, tgt, run_dir, progress)


def _train_loop(cfg: Config, tgt, run_dir: RunDir | None, progress: bool) -> RunResult:
    if run_dir is not None and run_dir.read_config() != cfg.as_dict():
        run_dir.write_config(cfg.as_dict())
    run = _Run(cfg, tgt, run_dir)
    resumed = run.try_resume()
    t = cfg.train
    bar = _Progress(t.iterations, f"{cfg.method}/{tgt.name}/T={cfg.sampler.steps}", progress)
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


def _guard_due(run: _Run) -> bool:
    """Whether the divergence guard runs after ``run``'s current iteration: before every periodic
    evaluation, every checkpoint and the end of training."""
    cfg, it = run.cfg, run.iteration
    every, ckpt = cfg.eval.every, cfg.train.checkpoint_every
    return (
        it >= cfg.train.iterations
        or bool(every and it % every == 0)
        or bool(ckpt and it % ckpt == 0)
    )


def divergence_guard(run: _Run) -> None:
    """After each iteration of ``run``: where the guard is due (before every periodic evaluation,
    checkpoint and the end of training), raise :class:`DivergenceError` if ``run`` has diverged by
    the rule of :mod:`ads_bench.guard` (``eval.guard_elbo_gap``, ``eval.guard_logw_std``; a probe of
    ``eval.n`` trajectories from a generator of its own, so no evaluation's numbers change)."""
    e = run.cfg.eval
    if (e.guard_elbo_gap is None and e.guard_logw_std is None) or not _guard_due(run):
        return
    gen = eval_generator(run.cfg.seed + 7_000_001, run.iteration, final=False,
                         device=run.cfg.train.device)  # fmt: skip
    probe = guard_probe(run.model, run.target, n=e.n, generator=gen, impl=run.impl)
    check_divergence(
        probe, iteration=run.iteration, max_elbo_gap=e.guard_elbo_gap,
        max_logw_std=e.guard_logw_std, checkpoint=run._checkpoint_name(),
    )  # fmt: skip


def periodic_evaluation(run: _Run) -> None:
    """The evaluation of ``run`` after its current iteration, if ``eval.every`` asks for one."""
    cfg = run.cfg
    every, it = cfg.eval.every, run.iteration
    if every and it % every == 0 and it < cfg.train.iterations:
        gen = eval_generator(cfg.seed, it, final=False, device=cfg.train.device)
        row = {"iteration": it, "loss": run.loss, "train_seconds": run.train_seconds}
        run.history.append({**row, **run.evaluate(gen)})


def finish_run(run: _Run, resumed: bool, env: dict | None = None) -> RunResult:
    """Final checkpoint, final evaluation and the run's records (``result.json``, history);
    ``env`` adds fields to the recorded environment (e.g. the ensemble a seed was trained in)."""
    cfg, t = run.cfg, run.cfg.train
    seed, device, run_dir = cfg.seed, t.device, run.run_dir
    # The final checkpoint (the trained model) is written before the final evaluation, so a run
    # re-evaluated from it (damaged result.json) appends the same final row once, not twice.
    run.save()
    final_gen = eval_generator(seed, run.iteration, final=True, device=device)
    final = run.evaluate(final_gen)
    history = [
        *run.history,
        {"iteration": run.iteration, "loss": run.loss, "train_seconds": run.train_seconds, **final},
    ]
    reduced = None
    if cfg.eval.steps is not None:
        # The step-reduction control: the same networks sampled on a coarser (or finer) grid; it
        # continues the final evaluation's stream.
        reduced = {
            "steps": cfg.eval.steps,
            **run.evaluate(final_gen, run.model.with_steps(cfg.eval.steps)),
        }
    iters = t.iterations
    timed = iters - run.compile_iterations  # iterations that did not compile a graph
    result = RunResult(
        config=cfg.as_dict(),
        metrics=final,
        metrics_eval_steps=reduced,
        timing={
            "train_seconds": run.train_seconds,
            "iterations": iters,
            "ms_per_iteration": 1e3 * run.train_seconds / timed if timed > 0 else None,
            "compile_seconds": run.compile_seconds,
            "compile_iterations": run.compile_iterations,
            "eval_seconds": run.eval_seconds,
            "resumed": resumed,
        },
        env={**_env(cfg, run.impl), **(env or {})},
        history=history,
        out_dir=str(run_dir.path) if run_dir is not None else None,
    )
    if run_dir is not None:
        run_dir.write_history(history, ["iteration", "loss", "train_seconds", *METRIC_KEYS])
        run_dir.write_result(result.to_json())
    return result
