"""Seed ensembles: every seed of one config trained together as one batched model.

``train(config, seeds=[0, 1, 2, 3, 4], out_dir=D)`` (CLI: ``--seeds 0-4``) trains the listed seeds
in one process. The networks are tiny, so one seed leaves a machine mostly idle on per-op overhead;
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

Seed ``s`` of an ensemble therefore follows the single-seed run of ``s`` up to floating-point
rounding: batched matmuls sum in another order, and the ops run their pure-PyTorch references under
``vmap`` (the fused kernels have no batching rule), which ``env.fused_kernels`` records.

Checkpoints of an ensemble are committed together: every seed's new checkpoint is first written as
``checkpoint.next.pt``, then all are renamed to ``checkpoint.pt``. A kill between the two phases is
rolled forward (every seed's pending file is complete) or back (some are missing) on resume, so a
killed ensemble resumes with all seeds at one iteration, exactly.

``sampler.langevin`` runs with the target score taken by ``torch.func.grad``
(:func:`~ads_bench.ensemble.batched.functional_score`; ``Target.score`` calls
``torch.autograd.grad``, which ``vmap`` cannot batch). ``train.compile`` runs the iteration through
the compiled graphs of :mod:`ads_bench.update` (all but objective ``kl``).

Modules, one concept each:

- :mod:`ads_bench.ensemble.loop`: the entry point :func:`~ads_bench.ensemble.loop.train_ensemble`
  (run folders, resume, the training loop), ``--seeds`` parsing;
- :mod:`ads_bench.ensemble.seed_ensemble`: :class:`~ads_bench.ensemble.seed_ensemble.SeedEnsemble`,
  the runs of one iteration stepped together (eager or compiled), divergence per seed;
- :mod:`ads_bench.ensemble.batched`: the single-seed code batched over seeds (stacked parameters,
  ``vmap`` of a ``functional_call``, per-seed gradient clipping, a ``vmap``-able target score);
- :mod:`ads_bench.ensemble.checkpoints`: the two-phase checkpoint commit and the stacked Adam state
  as each seed's own.
"""
