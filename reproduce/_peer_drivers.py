"""The peers' side of ``reproduce/peer_speed.py``: the two driver functions that run inside a peer's
own interpreter and checkout, and the plumbing that starts them (README, *Benchmarks*).

Each driver is a self-contained function: its source is written to a temporary file and run with
the peer's interpreter, ``driver(json.loads(sys.argv[1]))``; it prints :data:`MARK` + one JSON line.
:mod:`peer_speed`'s docstring says what each driver times and why.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import tempfile

MARK = "PEER_SPEED_RESULT "


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
        "ms_per_iteration": statistics.fmean(ms),
        "median_ms": statistics.median(ms),
        "ms": ms,
        "warmup_ms": [1e3 * t for t in times[: spec["warmup"]]],
        "args": {k: v for k, v in vars(peer.args).items() if k != "Experiment"},
        "versions": {
            "torch": torch.__version__,
            "einops": einops.__version__,
            "numpy": numpy.__version__,
            "python": sys.version.split()[0],
        },
        "torch_threads": torch.get_num_threads(),
        "device": str(peer.device),
        **info,
    }


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
        grads, _ = loss(
            key,
            model_state,
            model_state.params,
            alg.batch_size,
            aux_tuple,
            target,
            alg.num_steps,
            alg.noise_schedule,
        )
        jax.block_until_ready(grads)
        grad_ms.append(1e3 * (time.perf_counter() - t0))
        model_state = model_state.apply_gradients(grads=grads)
        jax.block_until_ready(model_state.params)
        loop_ms.append(1e3 * (time.perf_counter() - start))
    w = spec["warmup"]
    versions = {
        p: md.version(p)
        for p in (
            "jax",
            "jaxlib",
            "flax",
            "optax",
            "chex",
            "distrax",
            "numpyro",
            "hydra-core",
            "numpy",
        )
    }
    return {
        "ms_per_iteration": statistics.fmean(grad_ms[w:]),
        "median_ms": statistics.median(grad_ms[w:]),
        "loop_ms_per_iteration": statistics.fmean(loop_ms[w:]),
        "ms": grad_ms[w:],
        "loop_ms": loop_ms[w:],
        "warmup_ms": grad_ms[:w],
        "settings": settings,
        "parameters": sum(x.size for x in jax.tree_util.tree_leaves(model_state.params)),
        "target": type(target).__name__,
        "devices": [str(d) for d in jax.devices()],
        "versions": {**versions, "python": sys.version.split()[0]},
        "xla_flags": os.environ.get("XLA_FLAGS"),
        "runtime_patches": patches,
    }


DRIVERS = {"gfn-diffusion": _gfn_diffusion_driver, "vsm": _vsm_driver}


# ----------------------------------------------------------------------------------- peer plumbing


def peer_spec(args, peer: str, steps: int) -> dict:
    """The driver's input: checkout, thread count, loop sizes and the peer's own settings for T."""
    spec = {
        "checkout": os.path.abspath(getattr(args, peer.replace("-", "_"))),
        "threads": args.threads,
        "warmup": args.peer_warmup,
        "iterations": args.iterations,
    }
    if peer == "gfn-diffusion":
        spec["argv"] = [
            "--energy",
            "25gmm",
            "--T",
            str(steps),
            "--batch_size",
            str(args.batch),
            "--learned_variance",
            "--epochs",
            str(args.peer_warmup + args.iterations),
        ]
    else:
        spec["overrides"] = [
            "algorithm=gfn",
            "target=gaussian_mixture",
            "target.num_components=25",
            "algorithm.loss=tb",
            f"algorithm.num_steps={steps}",
            f"algorithm.batch_size={args.batch}",
            "use_wandb=False",
        ]
    return spec


def peer_env(threads: int) -> dict:
    """The peers' environment: N threads for OpenMP/MKL, Eigen single-threaded when N = 1, CPU JAX."""
    env = dict(
        os.environ,
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        JAX_PLATFORMS="cpu",
        MPLBACKEND="Agg",
        PYTHONDONTWRITEBYTECODE="1",
    )
    eigen = "false" if threads == 1 else "true"
    env["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_cpu_multi_thread_eigen={eigen}"
    return env


def driver_source(peer: str) -> str:
    """The driver function's source plus the two lines that call it and print its JSON result."""
    fn = DRIVERS[peer]
    return (
        f"{inspect.getsource(fn)}\n\nimport json, sys\n"
        f"print({MARK!r} + json.dumps({fn.__name__}(json.loads(sys.argv[1]))), flush=True)\n"
    )


def last_error_line(text: str) -> str:
    """The last non-empty line of a traceback (``ModuleNotFoundError: ...``), or a placeholder."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def run_driver(args, peer: str, python: str, steps: int) -> dict:
    """Run one peer at one T in a subprocess; its result dict or ``{"error": one line}``."""
    spec = peer_spec(args, peer, steps)
    with tempfile.NamedTemporaryFile("w", suffix=f"_{peer}_driver.py", delete=False) as f:
        f.write(driver_source(peer))
    try:
        proc = subprocess.run(
            [python, f.name, json.dumps(spec)],
            capture_output=True,
            text=True,
            env=peer_env(args.threads),
            timeout=args.peer_timeout,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "spec": spec}
    finally:
        os.unlink(f.name)
    found = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
    if proc.returncode != 0 or not found:
        return {"error": f"exit {proc.returncode}: {last_error_line(proc.stderr)}", "spec": spec}
    return {**json.loads(found[-1][len(MARK) :]), "spec": spec}


def git_commit(checkout: str, given: str | None) -> str | None:
    """The checkout's commit: the one passed, else ``git rev-parse HEAD`` if it is a work tree."""
    if given:
        return given
    try:
        out = subprocess.run(
            ["git", "-C", checkout, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=30
        )
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def peer_row(args, peer: str, steps: int) -> dict:
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
    result = run_driver(args, peer, python, steps)
    if "No module named 'einops'" in result.get("error", ""):
        result["error"] += " (pass --gfn-python: a venv with einops, see the docstring)"
    status = "error" if "error" in result else "ok"
    return {**row, "status": status, **result}
