"""Training speed against two public peer code bases, in one run: ads_bench beside GFNOrg/gfn-diffusion
(PyTorch) and DenisBless/variational_sampling_methods (JAX), each peer run from its own checkout.

    python reproduce/peer_speed.py --gfn-diffusion DIR --vsm DIR --jax-python PATH
                                   [--gfn-python PATH] [--gfn-diffusion-commit SHA] [--vsm-commit SHA]
                                   [--steps 10 100] [--iterations 50] [--threads 2] [--out results]
                                   [--backend inductor] [--pairs gfn-diffusion vsm]
                                   [--rows eager compiled ensemble]

Getting the peers (their code is imported from their checkout and run, never copied into ours)::

    git clone https://github.com/GFNOrg/gfn-diffusion /tmp/peers/gfn-diffusion
    git clone https://github.com/DenisBless/variational_sampling_methods /tmp/peers/vsm
    python -m venv --system-site-packages /tmp/peers/torchvenv   # gfn-diffusion: our torch + einops
    /tmp/peers/torchvenv/bin/pip install einops tqdm
    python -m venv /tmp/peers/jaxvenv                            # vsm: its requirements.txt pins
    /tmp/peers/jaxvenv/bin/pip install jax==0.4.28 jaxlib==0.4.28 flax==0.8.3 distrax==0.1.5 \\
        numpyro==0.15.0 tensorflow-probability==0.24.0 hydra-core==1.3.2 "numpy<2" "scipy<1.14" \\
        matplotlib==3.8.4 optax chex

then pass ``--gfn-python /tmp/peers/torchvenv/bin/python --jax-python /tmp/peers/jaxvenv/bin/python``.
A checkout without ``.git`` (e.g. ``git --git-dir=... archive HEAD | tar -x``) records its commit
only if given: ``--gfn-diffusion-commit`` / ``--vsm-commit``. ``wandb`` is never installed: both
peers import it at module level and get an empty stand-in module. A peer whose path is not given is
skipped; one that fails to import or run gets a one-line error in its row, the others still run.
``gfn-diffusion`` needs ``einops`` (its networks call ``rearrange``), hence the second venv, which
sees this interpreter's torch. The vsm commit ``32de621`` calls ``traverse_util`` in
``utils/helper.py`` without importing it; its driver binds ``flax.traverse_util`` there at run time
(recorded as ``runtime_patches``), no file of the checkout is changed.

Rows (per T; batch 300, target gmm25 or the peer's nearest; evaluation off everywhere):

- ``TB, learned variance`` — gfn-diffusion ``energy_sampling/train.py`` with ``--learned_variance
  --energy 25gmm --T T --batch_size 300`` (forward TB, ``--mode_fwd tb``, no Langevin, no
  exploration, its default network) against our ``fixed-learnvar``. The peer's own ``train()`` is
  run: its model, optimiser and loop are built by its code; the driver only replaces, in that
  module, ``train_step`` by a timer around the original (what the loop calls per iteration:
  ``zero_grad``, ``fwd_train_step`` -> ``fwd_tb`` rollout and loss, ``backward``, ``Adam.step``,
  ``loss.item()``), its periodic ``eval_step``/``plot_step`` by no-ops (ours evaluates nothing
  either), ``trange`` by ``range``, and stops the loop after the timed iterations.
- ``TB, fixed variance + Langevin`` — variational_sampling_methods ``algorithms/gfn/gfn_rnd.py``
  (``trajectory_balance``, model ``PISGRADNet``, cosine noise schedule: fixed variance) against our
  ``fixed`` with ``sampler.langevin=true``. Its config is composed by hydra from its own
  ``configs/`` (``algorithm=gfn target=gaussian_mixture target.num_components=25 algorithm.loss=tb
  algorithm.num_steps=T algorithm.batch_size=300``) and instantiated as its ``run.py`` does; the
  model and optimiser come from its ``init_model``; the timed call is what ``gfn_trainer`` calls per
  iteration, ``jax.jit(jax.grad(trajectory_balance, 2, has_aux=True), static_argnums=(3..7))``,
  followed by ``block_until_ready``. Its loop then applies the gradients *outside* jit
  (``model_state.apply_gradients``, eager optax); that is timed too and reported as "peer loop"
  (split + jitted grad + eager update), but the ratio uses the jitted call alone, the part the
  peer's own ``timer`` brackets (which flatters the peer, since our iteration includes Adam).
  The code base has no 25-mode grid: its nearest is ``GaussianMixtureModel`` (2-D, 25 components
  here, means uniform in [-10, 10]^2 and Wishart(df = 4) full covariances, seed 0) rather than our
  5x5 grid with covariance 0.3 I; it is also 2-D with 25 components, so the log-density costs the
  same order of work.

For each pair ours runs three ways with the API of ``reproduce/train_speed.py``: single seed eager
(reference), single seed with ``train.compile`` and a 5-seed ensemble with ``train.compile``
(``train(cfg, seeds=[0..4])``, per seed-iteration = ms_per_iteration / 5); each compiled row is warmed
up (compiled) by a 2-iteration run of the same config first. Peer numbers are the mean ms of
``--iterations`` timed calls after ``--peer-warmup`` warm-up calls (the median is recorded too);
ours is the mean over its timed run (``result.timing``). Ratio = peer ms / ours ms per seed-iteration.

"Like for like" means the same objective (trajectory balance with a learned scalar log Z), the same
kind of generation kernel (learned vs fixed variance, Langevin or not), the same T, batch, target
dimension, device and thread count; it does not mean identical networks or process details:

- gfn-diffusion's default network (hidden_dim = s_emb_dim = t_emb_dim = harmonics_dim = 64): time
  encoding ``[sin, cos](2 pi k t), k = 1..64`` -> Linear(128, 64) -> GELU -> Linear(64, 64) ->
  GELU, state encoding Linear(2, 64) -> GELU -> Linear(64, 64) -> GELU, joint policy on their
  concatenation Linear(128, 64) -> GELU -> Linear(64, 64) -> GELU -> Linear(64, 4) (mean and
  log-variance), log Z a scalar (Adam 1e-2, policy 1e-3); its fixed backward kernel is the Brownian
  bridge with t_scale 5, as ours. 41 926 parameters, counting an unused Langevin scaling net.
- variational_sampling_methods' ``PISGRADNet`` (num_hid 64, num_layers 2): Fourier time features
  (64 frequencies, learned phase) -> Linear(128, 64) -> GELU -> Linear(64, 64) concatenated with x,
  -> 2 x (Linear 64 + GELU) -> Linear(64, 2); plus a time-only net Linear(128, 64) -> 2 x (GELU,
  Linear 64) -> Linear(64, 2) scaling the clipped annealed score (t/T) grad log p; the sample paths
  are ``vmap``-ed per-sample ``lax.scan`` rollouts, the score a per-sample ``jax.grad``. Its
  diffusion coefficient follows a cosine schedule (sigma_max 60); optax: zero_nans, clip 1, Adam 1e-4
  (log Z 1e-2). 37 765 parameters.
- ours (hidden 64, layers 2, 64 frequencies): Fourier time embedding summed with a linear state
  embedding, 2 x (Linear 64 + GELU), output Linear(64, 4) (mean and log-variance, the variance part
  ignored for ``fixed``); ``sampler.langevin`` adds a time-only net times the clipped score.

Threads: every row runs on the same CPUs. The script pins itself (hence its subprocesses) to the
first ``--threads`` CPUs it may use (``sched_setaffinity``), ours uses ``train.threads`` and the
gfn-diffusion driver ``torch.set_num_threads``, and the peers get ``OMP_NUM_THREADS`` and
``MKL_NUM_THREADS`` = N. XLA on CPU has no intra-op thread-count flag (jaxlib 0.4.28 rejects
``--intra_op_parallelism_threads`` as unknown and ignores a bare ``intra_op_parallelism_threads=N``
token, which is a TensorFlow session option); its Eigen pool is sized from the schedulable CPUs, so
the affinity is what bounds it, and ``XLA_FLAGS`` gets ``--xla_cpu_multi_thread_eigen=false`` for N
= 1 (``=true`` otherwise). ``JAX_PLATFORMS=cpu``. Writes ``OUT/peer_speed.json`` (atomically) with
every row, the peers' commits, versions and exact settings.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch
from _peer_drivers import git_commit, peer_env, peer_row

import ads_bench
from ads_bench import update
from ads_bench.atomic_files import atomic_write_json
from ads_bench.methods import make_config
from ads_bench.ops import build_info
from ads_bench.training import train

PAIRS = (
    {
        "peer": "gfn-diffusion",
        "configuration": "TB, learned variance",
        "method": "fixed-learnvar",
        "overrides": {},
    },
    {
        "peer": "vsm",
        "configuration": "TB, fixed variance + Langevin",
        "method": "fixed",
        "overrides": {"sampler.langevin": True},
    },
)
OURS = (("eager", False, False), ("compiled", True, False), ("ensemble", True, True))


# ------------------------------------------------------------------------------------ ours


def _our_overrides(args, steps: int, compiled: bool, extra: dict) -> dict:
    """train_speed.py's overrides (evaluation and checkpoints off) plus the pair's own."""
    return {
        "sampler.steps": steps,
        "train.iterations": args.iterations,
        "train.batch_size": args.batch,
        "train.compile": compiled,
        "train.threads": args.threads,
        "train.checkpoint_every": 0,
        "eval.every": 0,
        "eval.n": 16,
        "eval.sample_metrics": False,
        **extra,
    }


def _time_ours(args, steps: int, pair: dict, kind: str, compiled: bool, ensemble: bool) -> dict:
    """One of our rows, exactly as reproduce/train_speed.py times it."""
    seeds = list(range(args.seeds)) if ensemble else None
    over = _our_overrides(args, steps, compiled, pair["overrides"])
    compile_s = None
    if compiled:  # compile outside the timed iterations
        warm = make_config(
            pair["method"], args.target, seed=0, overrides={**over, "train.iterations": 2}
        )
        start = time.perf_counter()
        train(warm, seeds=seeds, progress=False)
        compile_s = time.perf_counter() - start
    cfg = make_config(pair["method"], args.target, seed=0, overrides=over)
    result = train(cfg, seeds=seeds, progress=False)
    first = result[0] if isinstance(result, list) else result
    n = len(seeds) if seeds else 1
    ms = first.timing["ms_per_iteration"]
    return {
        "steps": steps,
        "configuration": pair["configuration"],
        "method": pair["method"],
        "overrides": pair["overrides"],
        "kind": kind,
        "compiled": compiled,
        "seeds": n,
        "ms_per_iteration": ms,
        "ms_per_seed_iteration": ms / n,
        "compile_s": compile_s,
        "fused_kernels": first.env["fused_kernels"],
        "config": cfg.as_dict(),
    }


# ------------------------------------------------------------------------------------ report


def _cell(ms: float | None) -> str:
    return "—" if ms is None else f"{ms:.2f}"


def _ours_ms(row: dict | None) -> float | None:
    """Our ms per seed-iteration, ``None`` for a row not run (``--rows``)."""
    return None if row is None else row["ms_per_seed_iteration"]


def _ratio(peer: dict, ours: dict | None) -> str:
    if peer["status"] != "ok" or ours is None:
        return "—"
    return f"{peer['ms_per_iteration'] / ours['ms_per_seed_iteration']:.2f}×"


def _peer_cells(peer: dict) -> tuple[str, str]:
    """The peer's two cells: ms per iteration (or its status) and its whole loop iteration."""
    if peer["status"] == "skipped":
        return f"skipped ({peer['reason']})", "—"
    if peer["status"] == "error":
        return f"error: {peer['error']}", "—"
    loop = peer.get("loop_ms_per_iteration", peer["ms_per_iteration"])
    return _cell(peer["ms_per_iteration"]), _cell(loop)


def _table(lines: list[dict], seeds: int) -> str:
    """Markdown: per T and pair, ours (ms per seed-iteration), the peer, and the ratios."""
    out = [
        "| T | configuration | peer | ours eager 1 seed | ours compiled 1 seed "
        f"| ours compiled {seeds} seeds (per seed) | peer ms / iteration | peer loop ms "
        f"| peer / ours 1 seed | peer / ours {seeds} seeds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for ln in lines:
        eager, single, ens, peer = (
            ln.get("eager"),
            ln.get("compiled"),
            ln.get("ensemble"),
            ln["peer"],
        )
        p_ms, p_loop = _peer_cells(peer)
        out.append(
            f"| {ln['steps']} | {ln['configuration']} | {peer['peer']} "
            f"| {_cell(_ours_ms(eager))} | {_cell(_ours_ms(single))} "
            f"| {_cell(_ours_ms(ens))} | {p_ms} | {p_loop} "
            f"| {_ratio(peer, single)} | {_ratio(peer, ens)} |"
        )
    return "\n".join(out)


def _pin_cpus(threads: int) -> list[int]:
    """Pin this process (and so its subprocesses) to the first ``threads`` CPUs it may use."""
    if not hasattr(os, "sched_setaffinity"):
        return []
    cpus = sorted(os.sched_getaffinity(0))[:threads]
    if len(cpus) < threads:
        print(f"note: only {len(cpus)} CPUs available for --threads {threads}", file=sys.stderr)
    os.sched_setaffinity(0, cpus)
    return cpus


def _peer_info(args) -> dict:
    """Per peer: status, checkout, commit, interpreter (its rows carry versions and settings)."""
    info = {}
    for peer, commit in (("gfn-diffusion", args.gfn_diffusion_commit), ("vsm", args.vsm_commit)):
        checkout = getattr(args, peer.replace("-", "_"))
        status = "skipped" if checkout is None else "run" if peer in args.pairs else "not selected"
        python = args.gfn_python if peer == "gfn-diffusion" else args.jax_python
        commit = git_commit(checkout, commit) if checkout else None
        info[peer] = {"status": status, "checkout": checkout, "python": python, "commit": commit}
    return info


def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--gfn-diffusion", metavar="DIR", help="GFNOrg/gfn-diffusion checkout (else skipped)")
    add("--vsm", metavar="DIR", help="variational_sampling_methods checkout (else skipped)")
    add("--jax-python", metavar="PATH", help="python of a venv with the vsm requirements")
    add(
        "--gfn-python",
        metavar="PATH",
        default=sys.executable,
        help="python for gfn-diffusion (needs torch and einops; default: this one)",
    )
    add("--gfn-diffusion-commit", help="commit of a --gfn-diffusion checkout without .git")
    add("--vsm-commit", help="commit of a --vsm checkout without .git")
    add(
        "--pairs",
        nargs="+",
        choices=[p["peer"] for p in PAIRS],
        default=[p["peer"] for p in PAIRS],
        help="which pairs of rows to run (default: both)",
    )
    add(
        "--rows",
        nargs="+",
        choices=[r[0] for r in OURS],
        default=[r[0] for r in OURS],
        help="which of our rows to time (default: all three)",
    )
    add("--steps", type=int, nargs="+", default=[10, 100])
    add("--iterations", type=int, default=50, help="timed iterations of every row")
    add("--peer-warmup", type=int, default=3, help="peer calls before the timed ones")
    add("--batch", type=int, default=300)
    add("--seeds", type=int, default=5, help="size of our compiled ensemble")
    add("--target", default="gmm25", help="our target")
    add("--threads", type=int, default=2, help="threads (and CPUs) of every row")
    add("--peer-timeout", type=float, default=3600.0, help="seconds per peer subprocess")
    add("--out", default="results")
    add(
        "--backend",
        default=update.BACKEND,
        help="torch.compile backend of our compiled rows (tests: eager)",
    )
    args = parser.parse_args(argv)
    if min(args.iterations, args.threads, args.seeds, args.batch) < 1 or args.peer_warmup < 0:
        parser.error("--iterations, --threads, --seeds, --batch must be >= 1, --peer-warmup >= 0")
    return args


def _one_pair(args, steps: int, pair: dict) -> dict:
    """Our rows (``--rows``) for ``pair`` at T, then the peer's row."""
    line = {"steps": steps, "configuration": pair["configuration"], "method": pair["method"]}
    for kind, compiled, ensemble in (r for r in OURS if r[0] in args.rows):
        row = _time_ours(args, steps, pair, kind, compiled, ensemble)
        line[kind] = row
        print(
            f"T={steps} ours {pair['method']} {kind} x{row['seeds']}: "
            f"{row['ms_per_seed_iteration']:.2f} ms per seed-iteration",
            file=sys.stderr,
        )
    line["peer"] = peer_row(args, pair["peer"], steps)
    cells = _peer_cells(line["peer"])
    print(f"T={steps} {pair['peer']}: {cells[0]}", file=sys.stderr)
    return line


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    update.BACKEND = args.backend
    cpus = _pin_cpus(args.threads)
    torch.set_num_threads(args.threads)
    threads_note = (
        f"{args.threads} threads on CPUs {cpus}: torch threads (ours, gfn-diffusion), "
        f"OMP_NUM_THREADS=MKL_NUM_THREADS={args.threads}, "
        f"XLA_FLAGS={peer_env(args.threads)['XLA_FLAGS'].strip()!r} and the CPU "
        "affinity (vsm)"
    )
    for peer in args.pairs:
        if getattr(args, peer.replace("-", "_")) is None:
            print(f"{peer}: skipped (--{peer} not given)", file=sys.stderr)
    pairs = [p for p in PAIRS if p["peer"] in args.pairs]
    lines = [_one_pair(args, steps, pair) for steps in args.steps for pair in pairs]
    print(
        f"\nbatch {args.batch}, {args.iterations} timed iterations, {threads_note}; "
        f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}"
    )
    print(_table(lines, args.seeds))
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "peer_speed.json")
    payload = {
        "args": vars(args),
        "threads": threads_note,
        "cpus": cpus,
        "lines": lines,
        "peers": _peer_info(args),
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "ads_bench": os.path.dirname(ads_bench.__file__),
        "build_info": build_info(),
    }
    atomic_write_json(path, payload)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
