"""Seed ensembles: every seed of one config trained together as one batched model.

``train(config, seeds=[0, 1, 2, 3, 4], out_dir=D)`` (CLI: ``--seeds 0-4``) trains the listed seeds in
one process. The networks are tiny, so one seed leaves a machine mostly idle on per-op overhead;
here every parameter of the :class:`~ads_bench.sampler.Sampler` is stacked on a leading seed
dimension ``S`` and one iteration runs the rollout and objective of all seeds at once under
``torch.func.vmap`` of a ``functional_call`` of the ordinary single-seed code, so each matmul is
batched over seeds.

What stays per seed, exactly as in a single-seed run of that seed:

- the initial weights (``torch.manual_seed(seed)`` before each seed's model is built), its training
  ``torch.Generator`` (each seed draws its own noise and replay samples, in the single run's order),
  its replay buffer and its log Z;
- Adam: one optimiser per parameter group over the stacked tensors. Adam is elementwise, so a
  stacked Adam is exactly one Adam per seed; gradient-norm clipping is computed per seed;
- the run folder ``D/seed-<s>/`` (:class:`ads_bench.store.RunDir`, locked while training) with the
  same files and fields as a single-seed run: its checkpoint is a single-seed checkpoint, so
  ``python -m ads_bench --seed s --out D/seed-<s>`` reads it as its own;
- evaluation (each seed's own module, whose parameters are views of the stacked tensors);
- divergence: a seed whose loss, log-weights or gradients become non-finite is stopped before the
  optimiser step (its parameters are left as they were, its last good checkpoint kept, its
  ``error.json`` names the iteration and quantity) while the others go on.

Seed ``s`` of an ensemble therefore follows the single-seed run of ``s`` up to floating-point rounding:
batched matmuls sum in another order, and the ops run their pure-PyTorch references under ``vmap``
(the fused kernels have no batching rule), which ``env.fused_kernels`` records.

Checkpoints of an ensemble are committed together: every seed's new checkpoint is first written as
``checkpoint.next.pt``, then all are renamed to ``checkpoint.pt``. A kill between the two phases is
rolled forward (every seed's pending file is complete) or back (some are missing) on resume, so a
killed ensemble resumes with all seeds at one iteration, exactly.

``sampler.langevin`` runs with the target score taken by ``torch.func.grad`` (:func:`functional_score`;
``Target.score`` calls ``torch.autograd.grad``, which ``vmap`` cannot batch). ``train.compile`` runs
the iteration through the compiled graphs of :mod:`ads_bench.update` (all but objective ``kl``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torch.func import functional_call, vmap

from ads_bench.config import Config
from ads_bench.store import CHECKPOINT, DamagedFileError, RunDir, StoreError

__all__ = ["NEXT_CHECKPOINT", "check_ensemble_config", "parse_seeds", "seed_dir", "train_ensemble"]

NEXT_CHECKPOINT = "checkpoint.next.pt"


def seed_dir(out_dir: str | os.PathLike, seed: int) -> Path:
    """The run folder of ``seed`` in an ensemble's ``out_dir``: ``out_dir/seed-<seed>``."""
    return Path(out_dir) / f"seed-{seed}"


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` -> ``[0, 1, 2, 3, 4]``; ``"0,2,7"``, ``"3"`` and mixtures (``"0-2,9"``) too."""
    seeds: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise ValueError(f"--seeds: cannot parse {part!r} (use e.g. 0-4, 0,2,7 or 3)")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise ValueError(f"--seeds: empty range {part!r}")
        seeds += range(lo, hi + 1)
    return _check_seeds(seeds)


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds: at least one seed is needed")
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, int) or s < 0]
    if bad:
        raise ValueError(f"seeds must be integers >= 0, got {bad}")
    dupes = sorted({s for s in seeds if seeds.count(s) > 1})
    if dupes:
        raise ValueError(f"seeds: {dupes} listed more than once")
    return seeds


# ---------------------------------------------------------------------------------- entry point
def check_ensemble_config(config: Config) -> None:
    """Raise ``ValueError`` if ``config`` cannot be trained as a seed ensemble (yet)."""
    if config.train.compile and config.train.objective == "kl":
        raise ValueError(
            "train.compile of a seed ensemble does not cover objective 'kl' (its gradient runs "
            "through the rollout); drop train.compile or train its seeds one by one"
        )


def train_ensemble(
    config: Config,
    seeds: Sequence[int],
    target=None,
    *,
    out_dir: str | os.PathLike | None = None,
    run_dirs: Sequence[RunDir] | None = None,
    progress: bool = True,
    raise_divergence: bool = False,
) -> list:
    """Train ``config`` for every seed in ``seeds`` as one batched ensemble.

    Returns one :class:`~ads_bench.run_result.RunResult` per seed, in the order of ``seeds``; a seed that
    diverged has ``error`` set (and the metrics of nothing: ``{}``). Seeds already finished in
    ``out_dir`` are served from disk untouched; the others train together (seeds resumed at
    different iterations train as one ensemble per iteration). ``run_dirs`` (one per seed, e.g. a
    sweep's ``OUT/runs/<key>/``) replaces the ``out_dir/seed-<s>/`` layout. Raises like
    :func:`ads_bench.training.train` for a bad config, target or folder; with
    ``raise_divergence``, also a diverged seed's ``NonFiniteError`` (after the others finished)."""
    from ads_bench.run_result import RunResult
    from ads_bench.run_state import run_target
    from ads_bench.runtime import threads
    from ads_bench.training import validate_config

    seeds = _check_seeds(seeds)
    validate_config(config)
    check_ensemble_config(config)
    cfgs = [dataclasses.replace(config, seed=s) for s in seeds]
    if run_dirs is not None:
        if out_dir is not None or len(run_dirs) != len(seeds):
            raise ValueError("give out_dir or one run folder per seed, not both")
        dirs = list(run_dirs)
    else:
        dirs = [RunDir(seed_dir(out_dir, s)) if out_dir is not None else None for s in seeds]
    tgt = run_target(config, target)
    results: dict[int, RunResult] = {}
    with contextlib.ExitStack() as held:
        todo = []
        for cfg, rd in zip(cfgs, dirs, strict=True):
            if rd is not None:
                rd.create()
                held.enter_context(rd.lock())
                state = rd.status(cfg.as_dict())
                if state == "done":
                    results[cfg.seed] = RunResult.from_disk(rd, rd.read_result())
                    continue
                if state == "stale":
                    raise StoreError(
                        f"{rd.path} holds a run of a different configuration; use another --out "
                        "or delete it"
                    )
                rd.clear_error()
                if rd.read_config() != cfg.as_dict():
                    rd.write_config(cfg.as_dict())
            todo.append((cfg, rd))
        with threads(config.train.threads):
            failures: dict[int, Exception] = {}
            for group in _resume_groups(todo, tgt):
                ensemble = _Ensemble(group, seeds, progress)
                results.update(ensemble.train())
                failures.update(ensemble.failures)
    if raise_divergence and failures:
        raise failures[min(failures)]
    return [results[s] for s in seeds]


def _resume_groups(todo, target) -> list[list]:
    """Build every seed's run, resume it from its checkpoint (committing or discarding a pending
    ensemble checkpoint first), and group the runs by the iteration they resume at."""
    from ads_bench.training import _Run

    _settle_pending_checkpoints([rd for _, rd in todo if rd is not None])
    by_iteration: dict[int, list] = {}
    for cfg, rd in todo:
        run = _Run(cfg, target, rd)
        resumed = run.try_resume()
        by_iteration.setdefault(run.iteration, []).append((run, resumed))
    return [by_iteration[k] for k in sorted(by_iteration)]


def _settle_pending_checkpoints(dirs: list[RunDir]) -> None:
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


# ---------------------------------------------------------------------------------- the ensemble
class _Call(nn.Module):
    """``forward(kind, *tensors)`` = one piece of the single-seed code on ``self.model``: what
    ``functional_call`` swaps the stacked parameters into. Kinds: ``on_policy`` / ``off_policy``
    (``run._<kind>_losses``, the eager ensemble's), and the compiled update's pieces
    (:mod:`ads_bench.update`): ``gen_step``, ``dest_step`` (one sampling step) and ``objective``
    (the loss on given states)."""

    def __init__(self, run):
        super().__init__()
        self.model = run.model
        self.run = run
        self._losses = {"on_policy": run._on_policy_losses, "off_policy": run._off_policy_losses}

    def forward(self, kind: str, *args):
        if kind in self._losses:
            return self._losses[kind](*args)
        return getattr(self, f"_{kind}")(*args)

    def _gen_step(self, x, i, noise_i, exploration):
        """``x_{i+1}`` from ``x_i`` ``[B, D]`` (step ``i`` a tensor), as :func:`forward_rollout`."""
        mean, log_var = self.model.generation(x, i)
        return mean + torch.sqrt(torch.exp(log_var) + exploration**2) * noise_i

    def _dest_step(self, x, i, noise_i):
        """``x_i`` from ``x_{i+1}`` ``[B, D]``, as :func:`backward_rollout` (live destruction)."""
        mean, log_var = self.model.destruction(x, i)
        return mean + torch.exp(0.5 * log_var) * noise_i

    def _objective(self, states, log_r):
        """The loss that one backward pass of :meth:`_Run.step` differentiates, and the
        log-weights, of trajectories ``states`` ``[B, T+1, D]`` with log-rewards ``[B]``."""
        from ads_bench.objectives import objective_losses
        from ads_bench.rollout import _finish

        run = self.run
        traj = _finish(self.model, states, None, use_target=False, impl="reference",
                       log_probs=False)  # fmt: skip
        losses = objective_losses(self.model, traj, log_r, run.cfg.train.objective,
                                  use_target=run.use_target, impl="reference")  # fmt: skip
        total = losses.gen if not run.use_target else losses.gen + losses.dest
        return total, losses.log_w

    def log_reward(self, x):
        return self.run.target.log_prob(x)


def functional_score(target):
    """``x [..., D] -> grad_x log R(x)`` through ``torch.func.grad`` (composable with ``vmap`` and
    ``torch.compile``), the same values as ``target.score`` (the samples are independent, so the
    gradient of the summed log density is every sample's own score)."""

    def score(x):
        return torch.func.grad(lambda y: target.log_prob(y).sum())(x)

    return score


def _set_parameter(module: nn.Module, dotted: str, param: nn.Parameter) -> None:
    *path, leaf = dotted.split(".")
    for name in path:
        module = getattr(module, name)
    module._parameters[leaf] = param


class _Ensemble:
    """Runs (one :class:`~ads_bench.training._Run` per seed, all at one iteration) whose parameters
    are views of stacked ``[S, ...]`` tensors, stepped together."""

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
        names = [n for n, _ in base.named_parameters()]
        per_run = [dict(run.model.named_parameters()) for run in self.runs]
        self.stacked: dict[str, torch.Tensor] = {}
        for n in names:
            grad = per_run[0][n].requires_grad
            stacked = torch.stack([d[n].detach() for d in per_run]).requires_grad_(grad)
            self.stacked[n] = stacked
            for s, run in enumerate(self.runs):
                _set_parameter(run.model, n, nn.Parameter(stacked.detach()[s], requires_grad=grad))
        ids = {id(p): n for n, p in base.named_parameters()}
        self.groups = {
            g: [self.stacked[ids[id(p)]] for p in params]
            for g, params in base.parameter_groups().items()
            if params
        }
        lrs = learning_rates(self.cfg)
        self.optimizers = {g: torch.optim.Adam(ps, lr=lrs[g]) for g, ps in self.groups.items()}
        self._load_adam_state()
        self.call = _Call(self.runs[0])
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
            pairs = zip(model.target_destruction.parameters(), model.destruction.parameters(),
                        strict=True)  # fmt: skip
            names = [(f"model.{ids[id(a)]}", f"model.{ids[id(b)]}") for a, b in pairs]
            ema = (names, self.cfg.train.target_rate)
        update = CompiledUpdate(self.call, self.params, groups, learning_rates(self.cfg),
                                grad_clip=self.cfg.train.grad_clip, ema=ema)  # fmt: skip
        for g, opt in self.optimizers.items():
            for p, name in zip(self.groups[g], groups[g], strict=True):
                st = opt.state.get(p)
                if st:
                    update.load_adam({name: st}, float(st["step"]))
        return update

    # ------------------------------------------------------------------ Adam state <-> seeds
    def _load_adam_state(self) -> None:
        """Stack the per-seed Adam states a resume loaded into the seeds' own optimisers."""
        for g, opt in self.optimizers.items():
            per_seed = [run.optimizers[g].state_dict()["state"] for run in self.runs]
            for i, p in enumerate(self.groups[g]):
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

    def _adam_state_of(self, s: int) -> dict:
        """Seed ``s``'s optimiser state dicts, in the format of its own ``torch.optim.Adam``."""
        out = {}
        for g, opt in self.optimizers.items():
            state = {}
            for i, p in enumerate(self.groups[g]):
                st = opt.state.get(p)
                if self.compiled is not None:
                    st = self.compiled.adam_of(self.compiled.groups[g][i])
                if st:
                    state[i] = {
                        "step": st["step"].clone(),
                        "exp_avg": st["exp_avg"][s].clone(),
                        "exp_avg_sq": st["exp_avg_sq"][s].clone(),
                    }
            groups = self.runs[s].optimizers[g].state_dict()["param_groups"]
            out[g] = {"state": state, "param_groups": groups}
        return out

    def _checkpoint_state(self, s: int) -> dict:
        run = self.runs[s]
        state = run.state()
        state["model"] = {k: v.detach().clone() for k, v in state["model"].items()}
        state["optimizers"] = self._adam_state_of(s)
        return state

    def save(self) -> None:
        """Commit every active seed's checkpoint at the current iteration (two phases, above)."""
        todo = [
            s
            for s, run in enumerate(self.runs)
            if self.active[s] and run.run_dir is not None and run.saved_iteration != run.iteration
        ]
        for s in todo:
            self.runs[s].run_dir.save_checkpoint(self._checkpoint_state(s), name=NEXT_CHECKPOINT)
        for s in todo:
            rd = self.runs[s].run_dir
            os.replace(rd.file(NEXT_CHECKPOINT), rd.file(CHECKPOINT))
            self.runs[s].saved_iteration = self.runs[s].iteration

    # ------------------------------------------------------------------ one iteration
    def _batched(self, kind: str, *args, in_dims):
        fn = vmap(
            # tie_weights=False: a shared trunk is one module, so swapping its parameters under one
            # name swaps them for both networks (re-swapping the alias would leak batched tensors).
            lambda params, *a: functional_call(self.call, params, (kind, *a), tie_weights=False),
            in_dims=(0, *in_dims),
        )
        return fn(self.params, *args)

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
                    self._stop(s, NonFiniteError(it, bad, self.runs[s]._checkpoint_name()))
        return values[0]

    def step(self, it: int) -> list[float]:
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
                self._clip(params, t.grad_clip)
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

    def _clip(self, params: list[torch.Tensor], max_norm: float) -> None:
        """``clip_grad_norm_`` per seed: each seed's gradients of the group scaled by
        ``min(1, max_norm / (||g_s|| + 1e-6))``."""
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        # Seed by seed, each norm reduced like torch.nn.utils.clip_grad_norm_ reduces one seed's
        # tensors (a reduction over a [S, n] view would sum in an order that depends on S).
        total = torch.stack(
            [
                torch.linalg.vector_norm(
                    torch.stack([torch.linalg.vector_norm(g[s]) for g in grads])
                )
                for s in range(self.S)
            ]
        )  # [S]
        coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef.view(-1, *([1] * (g.ndim - 1))))

    def _stop(self, s: int, err: Exception) -> None:
        self.active[s] = False
        run = self.runs[s]
        self.errors[s] = f"{type(err).__name__}: {err}"
        self.failures[run.cfg.seed] = err
        if run.run_dir is not None:
            run.run_dir.write_error(run.cfg.as_dict(), self.errors[s], "", kind="diverged")

    # ------------------------------------------------------------------ the loop
    def train(self) -> dict:
        from ads_bench.guard import NonFiniteError
        from ads_bench.progress import ProgressLine
        from ads_bench.run_result import RunResult, finish_run
        from ads_bench.run_state import periodic_evaluation
        from ads_bench.training import divergence_guard

        cfg, t = self.cfg, self.cfg.train
        seeds = [run.cfg.seed for run in self.runs]
        label = f"{cfg.method}/{cfg.target}/T={cfg.sampler.steps}/seeds={_span(seeds)}"
        bar = ProgressLine(t.iterations, label, self.progress)
        it = self.runs[0].iteration
        while it < t.iterations and any(self.active):
            graphs = _graphs_compiled()
            start = time.perf_counter()
            try:
                losses = self.step(it)
            except RuntimeError as exc:
                if it == self.runs[0].iteration and "vmap" in str(exc).lower():
                    raise ValueError(
                        f"the target or method cannot be batched over seeds with torch.func.vmap "
                        f"({str(exc).splitlines()[0][:200]}); train its seeds one by one"
                    ) from exc
                raise
            seconds = time.perf_counter() - start
            compiled_now = _graphs_compiled() != graphs  # this iteration compiled a graph
            it += 1
            for s, run in enumerate(self.runs):
                if not self.active[s]:
                    continue
                run.loss = losses[s]
                if compiled_now:  # compilation is timed apart from training (timing.compile_*)
                    run.compile_seconds += seconds
                    run.compile_iterations += 1
                else:
                    run.train_seconds += seconds
                run.iteration = it
                try:
                    divergence_guard(run)
                except NonFiniteError as err:  # this seed diverged: it stops alone
                    self._stop(s, err)
                    continue
                periodic_evaluation(run)
            if t.checkpoint_every and it % t.checkpoint_every == 0:
                self.save()
            live = [loss for s, loss in enumerate(losses) if self.active[s]]
            bar.update(it, f"loss={sum(live) / max(len(live), 1):.4g} (mean of {len(live)})")
        self.save()
        out = {}
        env = {"ensemble_seeds": self.all_seeds, "ensemble_size": self.S}
        for s, run in enumerate(self.runs):
            if self.active[s]:
                out[run.cfg.seed] = finish_run(run, self.resumed[s], env=env)
            else:
                out[run.cfg.seed] = RunResult(
                    config=run.cfg.as_dict(), metrics={}, timing={}, env=env,
                    history=run.history, error=self.errors[s],
                    out_dir=str(run.run_dir.path) if run.run_dir is not None else None,
                )  # fmt: skip
        return out


def _graphs_compiled() -> int:
    """How many graphs torch.compile has compiled in this process (since the last dynamo reset)."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def _span(seeds: list[int]) -> str:
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))
