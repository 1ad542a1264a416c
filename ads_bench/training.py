"""The training loop of a diffusion sampler: ``ads_bench.train(config, target=None)``.

Each iteration (SPEC section 3):

1. a batch of trajectories — on-policy from the generation process (with scheduled exploration noise),
   or, on a ``replay_ratio`` share of iterations, off-policy: terminal states from the rank-prioritised
   replay buffer noised back to ``t_0`` by the destruction process;
2. the objective's losses (:func:`ads_bench.objectives.objective_losses`);
3. gradients, optional clipping, one Adam step per parameter group (generation, destruction, log Z);
4. the EMA update of the destruction target network.

Around it: periodic evaluation (:func:`ads_bench.evaluation.evaluate`), a progress line, checkpoints
written atomically every ``checkpoint_every`` iterations, and resume from the checkpoint of an
unfinished run with the same configuration. A non-finite loss or log-weight stops the run with
:class:`NonFiniteError` naming the iteration and quantity, *before* the optimiser step, so the last
checkpoint is good. All randomness comes from one ``torch.Generator`` seeded with ``config.seed`` (and
``torch.manual_seed`` for the initial weights); its state is checkpointed, so a resumed run continues
exactly where it stopped.
"""

from __future__ import annotations

import csv
import json
import math
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
from ads_bench.kernels import Sampler, get_scheme
from ads_bench.objectives import OBJECTIVES, objective_losses
from ads_bench.ops._dispatch import use_fused
from ads_bench.replay import ReplayBuffer
from ads_bench.rollout import backward_rollout, forward_rollout
from ads_bench.targets import get_target

__all__ = ["NonFiniteError", "RunResult", "build_sampler", "train", "validate_config"]

_MIXTURES = ("gmm25", "gmm40", "gmm9")
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class NonFiniteError(FloatingPointError):
    """A loss or log-weight became NaN/inf; ``iteration`` and ``quantity`` say where."""

    def __init__(self, iteration: int, quantity: str, checkpoint: str | None):
        self.iteration, self.quantity, self.checkpoint = iteration, quantity, checkpoint
        kept = f"; last good checkpoint: {checkpoint}" if checkpoint else ""
        super().__init__(f"non-finite {quantity} at iteration {iteration}{kept}")


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

    def to_json(self) -> dict:
        return {
            "config": self.config,
            "metrics": self.metrics,
            "metrics_eval_steps": self.metrics_eval_steps,
            "timing": self.timing,
            "env": self.env,
        }


def validate_config(cfg: Config) -> None:
    """Raise ``ValueError`` naming the first field whose value cannot be run."""
    s, t = cfg.sampler, cfg.train
    checks = [
        (s.steps >= 1, f"sampler.steps must be >= 1, got {s.steps}"),
        (s.destruction in ("fixed", "bounded", "adaptive"), f"unknown sampler.destruction {s.destruction!r}"),
        (s.prior in ("pinned", "gaussian"), f"unknown sampler.prior {s.prior!r}"),
        (t.objective in OBJECTIVES, f"train.objective must be one of {OBJECTIVES}, got {t.objective!r}"),
        (t.iterations >= 0, f"train.iterations must be >= 0, got {t.iterations}"),
        (t.batch_size >= 1, f"train.batch_size must be >= 1, got {t.batch_size}"),
        (0.0 <= t.replay_ratio <= 1.0, f"train.replay_ratio must be in [0, 1], got {t.replay_ratio}"),
        (t.dtype in _DTYPES, f"train.dtype must be one of {list(_DTYPES)}, got {t.dtype!r}"),
        (t.impl in ("auto", "fused", "reference"), f"unknown train.impl {t.impl!r}"),
        (t.objective != "tlm" or t.target_rate is not None,
         "train.objective='tlm' needs a target network: set train.target_rate"),
        (t.objective != "kl" or t.replay_ratio == 0.0,
         "train.objective='kl' trains on reparameterised on-policy trajectories: replay_ratio must be 0"),
        (t.target_rate is None or 0.0 < t.target_rate <= 1.0,
         f"train.target_rate must be in (0, 1] or None, got {t.target_rate}"),
        (cfg.eval.n >= 1 and cfg.eval.every >= 0, "eval.n must be >= 1 and eval.every >= 0"),
        (cfg.eval.steps is None or cfg.eval.steps >= 1,
         f"eval.steps must be >= 1 or None, got {cfg.eval.steps}"),
        (s.prior_std is None or s.prior_std > 0, f"sampler.prior_std must be > 0, got {s.prior_std}"),
        (s.r_a is None or s.r_a > 0, f"sampler.r_a must be > 0 or None, got {s.r_a}"),
        (s.r_m is None or s.r_m > 0, f"sampler.r_m must be > 0 or None, got {s.r_m}"),
        (0.0 < s.beta_min <= s.beta_max,
         f"need 0 < sampler.beta_min <= sampler.beta_max, got {s.beta_min}, {s.beta_max}"),
    ]  # fmt: skip
    for ok, message in checks:
        if not ok:
            raise ValueError(message)
    get_scheme(s.scheme)  # an unknown scheme fails here, by name


def build_sampler(cfg: Config, target) -> Sampler:
    """The :class:`Sampler` of ``cfg.sampler`` for ``target`` (target-dependent defaults resolved)."""
    s = cfg.sampler
    t_scale = s.t_scale if s.t_scale is not None else (5.0 if target.name in _MIXTURES else 1.0)
    prior_std = s.prior_std if s.prior_std is not None else math.sqrt(t_scale)
    use_target = cfg.train.target_rate is not None and s.destruction != "fixed"
    model = Sampler(
        target.dim, s.steps, t_scale=t_scale, prior=s.prior, prior_std=prior_std,
        learn_var=s.learn_var, r_f=s.r_f, langevin=s.langevin,
        score_fn=target.score if s.langevin else None, destruction=s.destruction, r_b=s.r_b,
        r_a=s.r_a, r_m=s.r_m, shared_backbone=s.shared_backbone, hidden=s.hidden, layers=s.layers,
        n_freq=s.n_freq, target_network=use_target, beta_min=s.beta_min, beta_max=s.beta_max,
        scheme=get_scheme(s.scheme),
    )  # fmt: skip
    return model.to(device=cfg.train.device, dtype=_DTYPES[cfg.train.dtype])


def _optimizers(model: Sampler, cfg: Config) -> dict[str, torch.optim.Optimizer]:
    t = cfg.train
    groups = model.parameter_groups()
    lr_dest = t.lr_dest if t.separate_optimizers else t.lr_gen
    lrs = {"generation": t.lr_gen, "destruction": lr_dest, "log_z": t.lr_logz}
    return {
        name: torch.optim.Adam(params, lr=lrs[name]) for name, params in groups.items() if params
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


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class _Run:
    """State of one training run (model, optimisers, buffer, RNG, history) and its checkpointing."""

    def __init__(self, cfg: Config, target, out_dir: Path | None):
        self.cfg, self.target, self.out_dir = cfg, target, out_dir
        torch.manual_seed(cfg.seed)
        self.model = build_sampler(cfg, target)
        self.optimizers = _optimizers(self.model, cfg)
        dtype, device = _DTYPES[cfg.train.dtype], torch.device(cfg.train.device)
        self.buffer = ReplayBuffer(
            cfg.train.replay_capacity, target.dim, prioritized=cfg.train.replay_prioritized,
            k=cfg.train.replay_k, dtype=dtype, device=device,
        )  # fmt: skip
        self.generator = torch.Generator(device=device).manual_seed(cfg.seed)
        self.eval_generator = torch.Generator(device=device).manual_seed(cfg.seed + 1_000_003)
        self.iteration = 0
        self.train_seconds = 0.0
        self.eval_seconds = 0.0
        self.history: list[dict] = []
        self.use_target = self.model.target_destruction is not None
        self.checkpoint_path = out_dir / "checkpoint.pt" if out_dir else None

    # -------------------------------------------------------------- checkpoints
    def state(self) -> dict:
        return {
            "config_key": self.cfg.key(),
            "iteration": self.iteration,
            "model": self.model.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "buffer": self.buffer.state_dict(),
            "generator": self.generator.get_state(),
            "eval_generator": self.eval_generator.get_state(),
            "train_seconds": self.train_seconds,
            "eval_seconds": self.eval_seconds,
            "history": self.history,
        }

    def save(self) -> None:
        if self.checkpoint_path is None:
            return
        tmp = self.checkpoint_path.with_suffix(".pt.tmp")
        torch.save(self.state(), tmp)
        os.replace(tmp, self.checkpoint_path)

    def try_resume(self) -> bool:
        if self.checkpoint_path is None or not self.checkpoint_path.exists():
            return False
        state = torch.load(
            self.checkpoint_path, map_location=self.cfg.train.device, weights_only=False
        )
        if state.get("config_key") != self.cfg.key():
            raise ValueError(
                f"{self.checkpoint_path} belongs to a different configuration "
                f"(key {state.get('config_key')} != {self.cfg.key()}); use another --out or delete it"
            )
        self.model.load_state_dict(state["model"])
        for k, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        self.buffer.load_state_dict(state["buffer"])
        self.generator.set_state(state["generator"])
        self.eval_generator.set_state(state["eval_generator"])
        self.iteration = state["iteration"]
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
            reparam=t.objective == "kl", impl=t.impl, log_probs=False,
        )  # fmt: skip
        x_T = traj.states[:, -1]
        log_r = self.target.log_prob(x_T)
        losses = objective_losses(
            self.model, traj, log_r, t.objective, use_target=self.use_target, impl=t.impl
        )
        return losses.gen, losses.dest, losses.log_w, x_T.detach(), log_r.detach()

    def _off_policy_losses(self, x_T: torch.Tensor, log_r: torch.Tensor, noise: torch.Tensor):
        """Destruction rollout from buffer states + objective (also compiled whole)."""
        t = self.cfg.train
        traj = backward_rollout(self.model, x_T, noise=noise, impl=t.impl, log_probs=False)
        losses = objective_losses(
            self.model, traj, log_r, t.objective, use_target=self.use_target, impl=t.impl
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
        # The step's host synchronisations: the non-finite checks, before the optimiser step.
        loss = float(gen.detach() + (0.0 if same else dest.detach()))
        if not math.isfinite(loss):
            raise NonFiniteError(it, "loss", self._checkpoint_name())
        if not bool(torch.isfinite(log_w).all()):
            raise NonFiniteError(it, "log-weight", self._checkpoint_name())
        if t.grad_clip is not None:
            for params in self.model.parameter_groups().values():
                if params:
                    torch.nn.utils.clip_grad_norm_(params, t.grad_clip)
        for opt in self.optimizers.values():
            opt.step()
        if self.use_target:
            self.model.update_target(t.target_rate)
        return loss

    def _checkpoint_name(self) -> str | None:
        return (
            str(self.checkpoint_path)
            if self.checkpoint_path and self.checkpoint_path.exists()
            else None
        )

    def evaluate(self, model: Sampler | None = None) -> dict:
        e = self.cfg.eval
        start = time.perf_counter()
        metrics = evaluate(
            model or self.model, self.target, n=e.n, generator=self.eval_generator,
            learned_log_z=self.cfg.train.objective in ("tb", "tlm"),
            sample_metrics=e.sample_metrics, sinkhorn_eps=e.sinkhorn_eps, impl=self.cfg.train.impl,
        )  # fmt: skip
        self.eval_seconds += time.perf_counter() - start
        return metrics


def _env(cfg: Config) -> dict:
    dtype = _DTYPES[cfg.train.dtype]
    probe = torch.empty(0, dtype=dtype, device=cfg.train.device)
    return {
        "ads_bench": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(probe.device),
        "fused_kernels": use_fused("train", cfg.train.impl, probe),
        "git_commit": _git_commit(),
        "seed": cfg.seed,
    }


def train(
    config: Config,
    target=None,
    *,
    out_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> RunResult:
    """Train the sampler described by ``config`` and evaluate it.

    Args:
        config: a :class:`~ads_bench.config.Config`, used as it is (build one with a method preset
            applied by :func:`ads_bench.methods.make_config`).
        target: a target object or ``"module:attr"`` path overriding ``config.target`` (a user target).
        out_dir: folder for ``result.json``, ``history.csv``, ``config.json`` and ``checkpoint.pt``;
            an unfinished run there with the same configuration is resumed.
    Returns:
        :class:`RunResult` with the final metrics, timing and environment.
    """
    cfg = config
    validate_config(cfg)
    tgt = get_target(target if target is not None else cfg.target)
    tgt = tgt.to(device=cfg.train.device, dtype=_DTYPES[cfg.train.dtype])
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        _atomic_write(out / "config.json", json.dumps(cfg.as_dict(), indent=2))
    run = _Run(cfg, tgt, out)
    resumed = run.try_resume()
    t = cfg.train
    bar = _Progress(t.iterations, f"{cfg.method}/{tgt.name}/T={cfg.sampler.steps}", progress)
    loss = float("nan")
    while run.iteration < t.iterations:
        it = run.iteration
        start = time.perf_counter()
        loss = run.step(it)
        run.train_seconds += time.perf_counter() - start
        run.iteration = it + 1
        if cfg.eval.every and run.iteration % cfg.eval.every == 0 and run.iteration < t.iterations:
            metrics = run.evaluate()
            run.history.append(
                {
                    "iteration": run.iteration,
                    "loss": loss,
                    "train_seconds": run.train_seconds,
                    **metrics,
                }
            )
        if out is not None and t.checkpoint_every and run.iteration % t.checkpoint_every == 0:
            run.save()
        bar.update(run.iteration, f"loss={loss:.4g}")
    final = run.evaluate()
    run.history.append(
        {"iteration": run.iteration, "loss": loss, "train_seconds": run.train_seconds, **final}
    )
    reduced = None
    if cfg.eval.steps is not None:
        # The step-reduction control: the same networks sampled on a coarser (or finer) grid.
        reduced = {"steps": cfg.eval.steps, **run.evaluate(run.model.with_steps(cfg.eval.steps))}
    iters = t.iterations
    result = RunResult(
        config=cfg.as_dict(),
        metrics=final,
        metrics_eval_steps=reduced,
        timing={
            "train_seconds": run.train_seconds,
            "iterations": iters,
            "ms_per_iteration": 1e3 * run.train_seconds / iters if iters else None,
            "eval_seconds": run.eval_seconds,
            "resumed": resumed,
        },
        env=_env(cfg),
        history=run.history,
        out_dir=str(out) if out is not None else None,
    )
    if out is not None:
        run.save()
        _write_history(out / "history.csv", run.history)
        _atomic_write(out / "result.json", json.dumps(result.to_json(), indent=2))
    return result


def _write_history(path: Path, history: list[dict]) -> None:
    columns = ["iteration", "loss", "train_seconds", *METRIC_KEYS]
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in history:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    os.replace(tmp, path)
