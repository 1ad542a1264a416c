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
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time

import torch

import ads_bench
from ads_bench import update
from ads_bench.atomic_files import atomic_write_json
from ads_bench.methods import make_config
from ads_bench.ops import build_info
from ads_bench.training import train

MARK = "PEER_SPEED_RESULT "
PAIRS = (
    {"peer": "gfn-diffusion", "configuration": "TB, learned variance",
     "method": "fixed-learnvar", "overrides": {}},
    {"peer": "vsm", "configuration": "TB, fixed variance + Langevin",
     "method": "fixed", "overrides": {"sampler.langevin": True}},
)  # fmt: skip
OURS = (("eager", False, False), ("compiled", True, False), ("ensemble", True, True))


# --------------------------------------------------------------------- peer drivers (subprocesses)
# Each driver is a self-contained function: its source is written to a temporary file and run with
# the peer's interpreter, ``driver(json.loads(sys.argv[1]))``; it prints MARK + one JSON line.


def _gfn_diffusion_driver(spec):
    """Run gfn-diffusion's own ``train()`` with ``train_step`` timed; stop after the timed calls."""
    import os
    import shutil
    import statistics
    import sys
    import tempfile
    import time
    import types

    sys.path.insert(0, os.path.join(spec["checkout"], "energy_sampling"))
    stub = types.ModuleType("wandb")  # imported at module level by train.py; never logs
    stub.init = stub.log = stub.Image = lambda *a, **k: None
    sys.modules["wandb"] = stub
    try:
        import tqdm  # noqa: F401  (only its trange, replaced below)
    except ImportError:
        sys.modules["tqdm"] = types.SimpleNamespace(trange=range)
    import einops
    import numpy
    import torch

    torch.set_num_threads(spec["threads"])
    sys.argv = ["train.py", *spec["argv"]]  # train.py parses its arguments at import
    run_dir = tempfile.mkdtemp(prefix="gfn-diffusion-run-")
    os.chdir(run_dir)  # train() writes its run folder (and model.pt at iteration 0) here
    import train as peer

    times, info = [], {}
    original = peer.train_step

    class Stop(Exception):
        pass

    def timed_train_step(energy, model, optimizer, it, *rest):
        if not info:
            info["network"] = str(model)
            info["parameters"] = sum(p.numel() for p in model.parameters())
        start = time.perf_counter()
        loss = original(energy, model, optimizer, it, *rest)
        times.append(time.perf_counter() - start)
        if len(times) == spec["warmup"] + spec["iterations"]:
            raise Stop
        return loss

    peer.train_step, peer.trange = timed_train_step, range
    peer.eval_step = peer.plot_step = lambda *a, **k: {}
    try:
        peer.train()
    except Stop:
        pass
    finally:
        os.chdir("/")
        shutil.rmtree(run_dir, ignore_errors=True)
    ms = [1e3 * t for t in times[spec["warmup"] :]]
    return {
        "ms_per_iteration": statistics.fmean(ms), "median_ms": statistics.median(ms),
        "ms": ms, "warmup_ms": [1e3 * t for t in times[: spec["warmup"]]],
        "args": {k: v for k, v in vars(peer.args).items() if k != "Experiment"},
        "versions": {"torch": torch.__version__, "einops": einops.__version__,
                     "numpy": numpy.__version__, "python": sys.version.split()[0]},
        "torch_threads": torch.get_num_threads(), "device": str(peer.device), **info,
    }  # fmt: skip


def _vsm_driver(spec):
    """Time variational_sampling_methods' jitted TB gradient (and its eager update) per iteration."""
    import importlib.metadata as md
    import os
    import statistics
    import sys
    import time
    import types

    sys.path.insert(0, spec["checkout"])
    stub = types.ModuleType("wandb")  # imported at module level by its targets; never logs
    stub.init = stub.log = stub.Image = lambda *a, **k: None
    sys.modules["wandb"] = stub
    import distrax
    import jax
    import jax.numpy as jnp
    from algorithms.common.diffusion_related.init_model import init_model
    from algorithms.gfn.gfn_rnd import trajectory_balance
    from flax import traverse_util
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from omegaconf import OmegaConf
    from utils import helper

    patches = []
    if not hasattr(helper, "traverse_util"):  # its flattened_traversal uses it, never imports it
        helper.traverse_util = traverse_util
        patches.append("utils.helper.traverse_util = flax.traverse_util (a missing import)")

    with initialize_config_dir(os.path.join(spec["checkout"], "configs"), version_base=None):
        raw = compose(config_name="base_conf", overrides=spec["overrides"])
    settings = {k: OmegaConf.to_container(raw[k], resolve=True) for k in ("algorithm", "target")}
    cfg = instantiate(raw)  # as its run.py does
    target, alg = cfg.target.fn, cfg.algorithm
    dim = target.dim
    key_gen = jax.random.PRNGKey(cfg.seed)
    key, key_gen = jax.random.split(key_gen)
    model_state = init_model(key, dim, alg)

    def normal_log_prob(x, sigma):  # gfn_trainer's reference density; gfn_rnd does not use it
        return distrax.MultivariateNormalDiag(jnp.zeros(dim), jnp.ones(dim) * sigma).log_prob(x)

    aux_tuple = (dim, normal_log_prob)
    loss = jax.jit(jax.grad(trajectory_balance, 2, has_aux=True), static_argnums=(3, 4, 5, 6, 7))
    grad_ms, loop_ms = [], []
    for _ in range(spec["warmup"] + spec["iterations"]):
        start = time.perf_counter()
        key, key_gen = jax.random.split(key_gen)
        t0 = time.perf_counter()
        grads, _ = loss(key, model_state, model_state.params, alg.batch_size, aux_tuple, target,
                        alg.num_steps, alg.noise_schedule)  # fmt: skip
        jax.block_until_ready(grads)
        grad_ms.append(1e3 * (time.perf_counter() - t0))
        model_state = model_state.apply_gradients(grads=grads)
        jax.block_until_ready(model_state.params)
        loop_ms.append(1e3 * (time.perf_counter() - start))
    w = spec["warmup"]
    versions = {p: md.version(p) for p in ("jax", "jaxlib", "flax", "optax", "chex", "distrax",
                                           "numpyro", "hydra-core", "numpy")}  # fmt: skip
    return {
        "ms_per_iteration": statistics.fmean(grad_ms[w:]), "median_ms": statistics.median(grad_ms[w:]),
        "loop_ms_per_iteration": statistics.fmean(loop_ms[w:]), "ms": grad_ms[w:],
        "loop_ms": loop_ms[w:], "warmup_ms": grad_ms[:w], "settings": settings,
        "parameters": sum(x.size for x in jax.tree_util.tree_leaves(model_state.params)),
        "target": type(target).__name__, "devices": [str(d) for d in jax.devices()],
        "versions": {**versions, "python": sys.version.split()[0]},
        "xla_flags": os.environ.get("XLA_FLAGS"), "runtime_patches": patches,
    }  # fmt: skip


DRIVERS = {"gfn-diffusion": _gfn_diffusion_driver, "vsm": _vsm_driver}


# ----------------------------------------------------------------------------------- peer plumbing


def _peer_spec(args, peer: str, steps: int) -> dict:
    """The driver's input: checkout, thread count, loop sizes and the peer's own settings for T."""
    spec = {"checkout": os.path.abspath(getattr(args, peer.replace("-", "_"))),
            "threads": args.threads, "warmup": args.peer_warmup, "iterations": args.iterations}  # fmt: skip
    if peer == "gfn-diffusion":
        spec["argv"] = ["--energy", "25gmm", "--T", str(steps), "--batch_size", str(args.batch),
                        "--learned_variance", "--epochs", str(args.peer_warmup + args.iterations)]  # fmt: skip
    else:
        spec["overrides"] = ["algorithm=gfn", "target=gaussian_mixture", "target.num_components=25",
                             "algorithm.loss=tb", f"algorithm.num_steps={steps}",
                             f"algorithm.batch_size={args.batch}", "use_wandb=False"]  # fmt: skip
    return spec


def _peer_env(threads: int) -> dict:
    """The peers' environment: N threads for OpenMP/MKL, Eigen single-threaded when N = 1, CPU JAX."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               JAX_PLATFORMS="cpu", MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")  # fmt: skip
    eigen = "false" if threads == 1 else "true"
    env["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_cpu_multi_thread_eigen={eigen}"
    return env


def _driver_source(peer: str) -> str:
    """The driver function's source plus the two lines that call it and print its JSON result."""
    fn = DRIVERS[peer]
    return (f"{inspect.getsource(fn)}\n\nimport json, sys\n"
            f"print({MARK!r} + json.dumps({fn.__name__}(json.loads(sys.argv[1]))), flush=True)\n")  # fmt: skip


def _last_error_line(text: str) -> str:
    """The last non-empty line of a traceback (``ModuleNotFoundError: ...``), or a placeholder."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def _run_driver(args, peer: str, python: str, steps: int) -> dict:
    """Run one peer at one T in a subprocess; its result dict or ``{"error": one line}``."""
    spec = _peer_spec(args, peer, steps)
    with tempfile.NamedTemporaryFile("w", suffix=f"_{peer}_driver.py", delete=False) as f:
        f.write(_driver_source(peer))
    try:
        proc = subprocess.run([python, f.name, json.dumps(spec)], capture_output=True, text=True,
                              env=_peer_env(args.threads), timeout=args.peer_timeout)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "spec": spec}
    finally:
        os.unlink(f.name)
    found = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
    if proc.returncode != 0 or not found:
        return {"error": f"exit {proc.returncode}: {_last_error_line(proc.stderr)}", "spec": spec}
    return {**json.loads(found[-1][len(MARK) :]), "spec": spec}


def _git_commit(checkout: str, given: str | None) -> str | None:
    """The checkout's commit: the one passed, else ``git rev-parse HEAD`` if it is a work tree."""
    if given:
        return given
    try:
        out = subprocess.run(["git", "-C", checkout, "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=30)  # fmt: skip
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _peer_row(args, peer: str, steps: int) -> dict:
    """One peer's row at T: skipped (no checkout given), an error line, or its timings."""
    checkout = getattr(args, peer.replace("-", "_"))
    python = args.gfn_python if peer == "gfn-diffusion" else args.jax_python
    row = {"peer": peer, "steps": steps, "checkout": checkout, "python": python}
    if checkout is None:
        return {**row, "status": "skipped", "reason": f"--{peer} not given"}
    if python is None:
        return {**row, "status": "error", "error": "--jax-python not given (the JAX venv's python)"}
    if not os.path.isdir(checkout):
        return {**row, "status": "error", "error": f"checkout {checkout} is not a directory"}
    result = _run_driver(args, peer, python, steps)
    if "No module named 'einops'" in result.get("error", ""):
        result["error"] += " (pass --gfn-python: a venv with einops, see the docstring)"
    status = "error" if "error" in result else "ok"
    return {**row, "status": status, **result}


# ------------------------------------------------------------------------------------ ours


def _our_overrides(args, steps: int, compiled: bool, extra: dict) -> dict:
    """train_speed.py's overrides (evaluation and checkpoints off) plus the pair's own."""
    return {
        "sampler.steps": steps, "train.iterations": args.iterations,
        "train.batch_size": args.batch, "train.compile": compiled, "train.threads": args.threads,
        "train.checkpoint_every": 0, "eval.every": 0, "eval.n": 16, "eval.sample_metrics": False,
        **extra,
    }  # fmt: skip


def _time_ours(args, steps: int, pair: dict, kind: str, compiled: bool, ensemble: bool) -> dict:
    """One of our rows, exactly as reproduce/train_speed.py times it."""
    seeds = list(range(args.seeds)) if ensemble else None
    over = _our_overrides(args, steps, compiled, pair["overrides"])
    compile_s = None
    if compiled:  # compile outside the timed iterations
        warm = make_config(pair["method"], args.target, seed=0,
                           overrides={**over, "train.iterations": 2})  # fmt: skip
        start = time.perf_counter()
        train(warm, seeds=seeds, progress=False)
        compile_s = time.perf_counter() - start
    cfg = make_config(pair["method"], args.target, seed=0, overrides=over)
    result = train(cfg, seeds=seeds, progress=False)
    first = result[0] if isinstance(result, list) else result
    n = len(seeds) if seeds else 1
    ms = first.timing["ms_per_iteration"]
    return {
        "steps": steps, "configuration": pair["configuration"], "method": pair["method"],
        "overrides": pair["overrides"], "kind": kind, "compiled": compiled, "seeds": n,
        "ms_per_iteration": ms, "ms_per_seed_iteration": ms / n, "compile_s": compile_s,
        "fused_kernels": first.env["fused_kernels"], "config": cfg.as_dict(),
    }  # fmt: skip


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
        commit = _git_commit(checkout, commit) if checkout else None
        info[peer] = {"status": status, "checkout": checkout, "python": python, "commit": commit}
    return info


def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--gfn-diffusion", metavar="DIR", help="GFNOrg/gfn-diffusion checkout (else skipped)")
    add("--vsm", metavar="DIR", help="variational_sampling_methods checkout (else skipped)")
    add("--jax-python", metavar="PATH", help="python of a venv with the vsm requirements")
    add("--gfn-python", metavar="PATH", default=sys.executable,
        help="python for gfn-diffusion (needs torch and einops; default: this one)")  # fmt: skip
    add("--gfn-diffusion-commit", help="commit of a --gfn-diffusion checkout without .git")
    add("--vsm-commit", help="commit of a --vsm checkout without .git")
    add("--pairs", nargs="+", choices=[p["peer"] for p in PAIRS],
        default=[p["peer"] for p in PAIRS], help="which pairs of rows to run (default: both)")  # fmt: skip
    add("--rows", nargs="+", choices=[r[0] for r in OURS], default=[r[0] for r in OURS],
        help="which of our rows to time (default: all three)")  # fmt: skip
    add("--steps", type=int, nargs="+", default=[10, 100])
    add("--iterations", type=int, default=50, help="timed iterations of every row")
    add("--peer-warmup", type=int, default=3, help="peer calls before the timed ones")
    add("--batch", type=int, default=300)
    add("--seeds", type=int, default=5, help="size of our compiled ensemble")
    add("--target", default="gmm25", help="our target")
    add("--threads", type=int, default=2, help="threads (and CPUs) of every row")
    add("--peer-timeout", type=float, default=3600.0, help="seconds per peer subprocess")
    add("--out", default="results")
    add("--backend", default=update.BACKEND,
        help="torch.compile backend of our compiled rows (tests: eager)")  # fmt: skip
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
        print(f"T={steps} ours {pair['method']} {kind} x{row['seeds']}: "
              f"{row['ms_per_seed_iteration']:.2f} ms per seed-iteration", file=sys.stderr)  # fmt: skip
    line["peer"] = _peer_row(args, pair["peer"], steps)
    cells = _peer_cells(line["peer"])
    print(f"T={steps} {pair['peer']}: {cells[0]}", file=sys.stderr)
    return line


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    update.BACKEND = args.backend
    cpus = _pin_cpus(args.threads)
    torch.set_num_threads(args.threads)
    threads_note = (f"{args.threads} threads on CPUs {cpus}: torch threads (ours, gfn-diffusion), "
                    f"OMP_NUM_THREADS=MKL_NUM_THREADS={args.threads}, "
                    f"XLA_FLAGS={_peer_env(args.threads)['XLA_FLAGS'].strip()!r} and the CPU "
                    "affinity (vsm)")  # fmt: skip
    for peer in args.pairs:
        if getattr(args, peer.replace("-", "_")) is None:
            print(f"{peer}: skipped (--{peer} not given)", file=sys.stderr)
    pairs = [p for p in PAIRS if p["peer"] in args.pairs]
    lines = [_one_pair(args, steps, pair) for steps in args.steps for pair in pairs]
    print(f"\nbatch {args.batch}, {args.iterations} timed iterations, {threads_note}; "
          f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}")  # fmt: skip
    print(_table(lines, args.seeds))
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "peer_speed.json")
    payload = {"args": vars(args), "threads": threads_note, "cpus": cpus, "lines": lines,
               "peers": _peer_info(args), "torch": torch.__version__,
               "cpu_capability": torch.backends.cpu.get_cpu_capability(),
               "ads_bench": os.path.dirname(ads_bench.__file__), "build_info": build_info()}  # fmt: skip
    atomic_write_json(path, payload)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
