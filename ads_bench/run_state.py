"""The state of one training run and its checkpoint: model, optimisers, replay buffer, RNG, history.

Paper (arXiv 2506.01541) section 3: one Adam optimiser per parameter group (generation, destruction,
a shared trunk, log Z), each at its own learning rate (:func:`learning_rates`). A :class:`RunState`
is what a checkpoint holds (:meth:`RunState.state`): saved into the run folder
(:class:`ads_bench.store.RunDir`) every ``train.checkpoint_every`` iterations and loaded back by
:meth:`RunState.try_resume`, so a resumed run continues exactly where it stopped (its training
generator's state included). The iteration itself is :class:`ads_bench.training._Run`'s.
"""

from __future__ import annotations

import time

import torch

from ads_bench.config import Config
from ads_bench.evaluation import eval_generator, evaluate
from ads_bench.replay import ReplayBuffer
from ads_bench.runtime import DTYPES
from ads_bench.sampler import Sampler, build_sampler
from ads_bench.schedule import evaluation_due
from ads_bench.store import DamagedFileError, RunDir, StoreError
from ads_bench.targets import check_target, get_target

__all__ = ["RunState", "learning_rates", "make_optimizers", "periodic_evaluation", "run_target"]


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


def make_optimizers(model: Sampler, cfg: Config) -> dict[str, torch.optim.Optimizer]:
    """One Adam per non-empty parameter group of ``model``, at :func:`learning_rates`."""
    lrs = learning_rates(cfg)
    return {
        name: torch.optim.Adam(params, lr=lrs[name])
        for name, params in model.parameter_groups().items()
        if params
    }


def run_target(cfg: Config, target=None):
    """The target of a run of ``cfg``: ``target`` (an object or ``"module:attr"`` path) or else
    ``cfg.target``, on ``train.device`` in ``train.dtype``, checked (:func:`check_target`)."""
    dtype = DTYPES[cfg.train.dtype]
    tgt = get_target(target if target is not None else cfg.target)
    tgt = tgt.to(device=cfg.train.device, dtype=dtype)
    check_target(tgt, dtype=dtype, device=torch.device(cfg.train.device))
    return tgt


class RunState:
    """State of one training run (model, optimisers, buffer, RNG, history) and its checkpointing.

    ``torch.manual_seed(cfg.seed)`` before the model is built fixes the initial weights; every
    training draw comes from ``generator``, seeded with ``cfg.seed``.
    """

    def __init__(self, cfg: Config, target, run_dir: RunDir | None):
        self.cfg, self.target, self.run_dir = cfg, target, run_dir
        self.impl = cfg.train.impl  # of the training step's ops (an ensemble uses "reference")
        torch.manual_seed(cfg.seed)
        self.model = build_sampler(cfg, target)
        self.optimizers = make_optimizers(self.model, cfg)
        dtype, device = DTYPES[cfg.train.dtype], torch.device(cfg.train.device)
        self.buffer = ReplayBuffer(
            cfg.train.replay_capacity,
            target.dim,
            prioritized=cfg.train.replay_prioritized,
            k=cfg.train.replay_k,
            dtype=dtype,
            device=device,
        )
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
        """What a checkpoint holds (``checkpoint.pt``): everything needed to resume exactly."""
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
        """Write the checkpoint of the current iteration (once; a no-op without a run folder)."""
        if self.run_dir is None or self.saved_iteration == self.iteration:
            return
        self.run_dir.save_checkpoint(self.state())
        self.saved_iteration = self.iteration

    def try_resume(self) -> bool:
        """Load the run folder's checkpoint, if there is one; True if the run was resumed.

        Raises :class:`~ads_bench.store.StoreError` for a checkpoint of another configuration and
        :class:`~ads_bench.store.DamagedFileError` for one that does not fit this run's model."""
        if self.run_dir is None:
            return False
        state = self.run_dir.load_checkpoint(map_location=self.cfg.train.device)
        if state is None:
            return False
        path = self.run_dir.file("checkpoint.pt")
        if state.get("config_key") != self.cfg.key():
            raise StoreError(
                f"{path} belongs to a different configuration "
                f"(key {state.get('config_key')} != {self.cfg.key()}); "
                "use another --out or delete it"
            )
        try:
            self.model.load_state_dict(state["model"])
            for k, o in self.optimizers.items():
                o.load_state_dict(state["optimizers"][k])
            self.buffer.load_state_dict(state["buffer"])
            self.generator.set_state(state["generator"])
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise DamagedFileError(path, f"does not fit this run's model ({exc})") from None
        self.iteration = self.saved_iteration = state["iteration"]
        self.loss = state.get("loss", float("nan"))
        self.train_seconds, self.eval_seconds = state["train_seconds"], state["eval_seconds"]
        self.history = state["history"]
        return True

    def _checkpoint_name(self) -> str | None:
        """``"<path> (iteration i)"`` of the last checkpoint written or loaded, or None."""
        if self.run_dir is None or self.saved_iteration is None:
            return None
        return f"{self.run_dir.file('checkpoint.pt')} (iteration {self.saved_iteration})"

    # -------------------------------------------------------------- evaluation
    def evaluate(self, generator: torch.Generator, model: Sampler | None = None) -> dict:
        """The metrics of ``model`` (default: the run's) drawn from ``generator``
        (:func:`ads_bench.evaluation.evaluate` with ``cfg.eval``), timed into ``eval_seconds``."""
        e = self.cfg.eval
        start = time.perf_counter()
        metrics = evaluate(
            model or self.model,
            self.target,
            n=e.n,
            generator=generator,
            learned_log_z=self.cfg.train.objective in ("tb", "tlm"),
            sample_metrics=e.sample_metrics,
            sinkhorn_eps=e.sinkhorn_eps,
            impl=self.cfg.train.impl,
        )
        self.eval_seconds += time.perf_counter() - start
        return metrics


def periodic_evaluation(run: RunState) -> None:
    """The evaluation of ``run`` after its current iteration, if ``eval.every`` asks for one: a
    row of ``run.history`` (iteration, loss, training time so far and the metrics)."""
    cfg, it = run.cfg, run.iteration
    if evaluation_due(cfg, it):
        gen = eval_generator(cfg.seed, it, final=False, device=cfg.train.device)
        row = {"iteration": it, "loss": run.loss, "train_seconds": run.train_seconds}
        run.history.append({**row, **run.evaluate(gen)})
