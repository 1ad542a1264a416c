"""GAN-latent conditional sampling (README *GAN-latent conditional sampling*): fixed vs adaptive destruction at few steps.

    python reproduce/gan_latent.py                     # quick budget: ~8 min on 2 busy cores
    python reproduce/gan_latent.py --budget smoke      # plumbing check for tests (seconds)
    python reproduce/gan_latent.py --budget full       # paper-scale training of the samplers
    python reproduce/gan_latent.py --figures-dir paper_figures   # replace the committed figure
    python reproduce/gan_latent.py --classes 3 8 --beta 2 --methods fixed adaptive

Target: ``gan-latent:y=<class>,beta=<β>,models=<preset>``, i.e. p(z | y) ∝ N(z; 0, I) c(y | G(z))^β
in d = 32 for the digits generator G and classifier c of :mod:`ads_bench.gan` (trained once and
cached; the smoke budget uses the seconds-to-train ``smoke`` models). Rows: the samplers ``fixed``
(fixed destruction and generation variance), ``fixed-learnvar`` and ``adaptive`` (the paper's
method) at T in {5, 10}, per class. Columns, mean ± std over seeds:

- ELBO, IS log Z and ESS of the trained sampler (``result.json``; N = the budget's ``eval_n``), and
  the ELBO's gap to a Monte-Carlo log Z = log E_{N(0, I)}[c(y | G(z))^β] from prior draws;
- from ``n_samples`` latents drawn from the trained sampler: mean log c(y | G(z)), the share
  classified as y, and the diversity (mean pairwise L2 distance of the decoded images, pixels in
  [-1, 1]).

Reference rows per class: the prior N(0, I) itself (ignores the classifier; its ELBO is what the
untrained zero-drift sampler scores), sampling-importance-resampling of prior draws with weights
c^β (≈ exact p(z | y) when class y is not rare under the prior), and the real test digits of
class y (diversity only).

Writes ``OUT/gan_latent.{md,json}`` and ``FIGURES_DIR/gan_latent_samples.{png,pdf}`` (decoded
samples: one row per sampler and T plus the SIR reference, one column per class; ``FIGURES_DIR``
is ``--figures-dir``, default ``OUT/figures``: the committed ``paper_figures/`` only when named, so
``--budget smoke`` never replaces them). Runs go through
the resumable sweep runner (``OUT/runs/``); the models are trained (or loaded from the cache) in
this process before the sweep starts, so worker processes only load them.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import textwrap
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import torch
from _common import (
    BUDGETS,
    Budget,
    add_figures_argument,
    add_sweep_arguments,
    atomic_write,
    figures_dir,
    sweep,
    write_json,
)
from _plotting import save_figure

from ads_bench.analysis.paired import finite, mean_std
from ads_bench.analysis.tables import fmt, md_table
from ads_bench.gan import conditional_metrics, get_preset, load_models, prior_log_z, sir_latents
from ads_bench.gan.data import to_unit_range
from ads_bench.rollout import forward_rollout
from ads_bench.store import RunDir
from ads_bench.sweep.specs import RunSpec, expand_grid
from ads_bench.targets import get_target

METHODS = ["fixed", "fixed-learnvar", "adaptive"]
STEPS = [5, 10]
FIGURE = "gan_latent_samples"
GRID = (4, 8)  # decoded digits per panel: rows x columns
COLORS = {"fixed": "#4C72B0", "fixed-learnvar": "#DD8452", "adaptive": "#C44E52"}


@dataclass(frozen=True)
class GanBudget:
    """A sweep budget plus the experiment's own sizes: the model preset, the classes, the number
    of latents drawn from each trained sampler, and the prior draws of the Monte-Carlo references."""

    sweep: Budget
    models: str
    classes: tuple[int, ...]
    n_samples: int
    n_prior: int


def _budget(base: str, note: str, **changes) -> Budget:
    return dataclasses.replace(BUDGETS[base], note=note, **changes)


QUICK = _budget(
    "quick", iterations=1500, batch_size=128, seeds=(0, 1, 2), eval_n=1000,
    overrides={"train.checkpoint_every": 500},
    note="quick budget: 1500 iterations, batch 128, 3 seeds, N = 1000 (paper scale: 25 000, 300, "
    "5, 2000); in d = 32 the samplers are still improving at this length (Table 1's quick budget "
    "runs 600); conclusions are provisional",
)  # fmt: skip
GAN_BUDGETS = {
    "smoke": GanBudget(BUDGETS["smoke"], "smoke", (3,), n_samples=64, n_prior=2000),
    "quick": GanBudget(QUICK, "default", (3,), n_samples=2000, n_prior=100_000),
    "full": GanBudget(BUDGETS["full"], "default", tuple(range(10)), n_samples=2000,
                      n_prior=1_000_000),
    "paper": GanBudget(BUDGETS["paper"], "default", tuple(range(10)), n_samples=2000,
                       n_prior=1_000_000),
}  # fmt: skip


def target_name(y: int, beta: float, models: str) -> str:
    """The registered-name form of the target (what configs and worker processes read)."""
    return f"gan-latent:y={y},beta={beta:g},models={models}"


def build_specs(gb: GanBudget, classes, methods, steps, beta: float) -> list[RunSpec]:
    targets = [target_name(y, beta, gb.models) for y in classes]
    over = gb.sweep.config_overrides()
    return expand_grid(targets, methods, steps, gb.sweep.seeds, overrides=over, tag="gan_latent")


# ---------------------------------------------------------------------------------- evaluation


@torch.no_grad()
def sampler_latents(run_dir: str, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` terminal states ``z [n, d]`` of a trained run's generation process."""
    _, model, _ = RunDir(run_dir).load_model()
    gen = torch.Generator().manual_seed(seed)
    return forward_rollout(model, n, generator=gen, log_probs=False).states[:, -1].float()


@torch.no_grad()
def latent_stats(target, z: torch.Tensor, keep: int = GRID[0] * GRID[1]) -> tuple[dict, np.ndarray]:
    """Conditional metrics of latents ``z [n, d]`` and the first ``keep`` decoded images in
    [0, 1], ``[keep, 8, 8]``."""
    images = target.decode(z)
    stats = conditional_metrics(target.class_log_probs(z), target.y, images)
    return stats, to_unit_range(images[:keep]).reshape(-1, 8, 8).numpy()


def references(target, gb: GanBudget, seed: int = 0) -> dict:
    """Prior, SIR and real-data reference statistics of one class."""
    rng = torch.Generator().manual_seed(seed)
    mc = prior_log_z(target, gb.n_prior, rng)
    prior_stats, prior_images = latent_stats(target, torch.randn(gb.n_samples, target.dim,
                                                                 generator=rng))  # fmt: skip
    sir_z = sir_latents(target, gb.n_samples, gb.n_prior, rng)
    sir_stats, sir_images = latent_stats(target, sir_z, keep=4 * GRID[0] * GRID[1])
    return {"mc": mc, "prior": prior_stats, "sir": sir_stats,
            "images": {"prior": prior_images, "sir": sir_images}}  # fmt: skip


COLUMNS = [  # (key, title)
    ("elbo", "ELBO"),
    ("logz_is", "log Z (IS)"),
    ("ess", "ESS"),
    ("elbo_gap", "log Ẑ_MC − ELBO"),
    ("mean_log_c", "mean log c(y \\| G(z))"),
    ("share_y", "share = y"),
    ("diversity", "diversity"),
]


def aggregate(records, gb: GanBudget, refs: dict[int, dict]) -> tuple[list[dict], dict]:
    """One row per (class, T, method) with per-seed values and mean ± std; first-seed images."""
    groups: dict[tuple, list] = defaultdict(list)
    for r in records:
        groups[(r.spec.target, r.spec.steps, r.spec.method)].append(r)
    rows, images = [], {}
    targets: dict[str, object] = {}
    for (name, steps, method), recs in groups.items():
        target = targets.setdefault(name, get_target(name))
        y = target.y
        ok = sorted((r for r in recs if r.ok), key=lambda r: r.spec.seed)
        per_seed: dict[str, list] = defaultdict(list)
        for r in ok:
            z = sampler_latents(r.path, gb.n_samples, seed=r.spec.seed)
            stats, imgs = latent_stats(target, z)
            images.setdefault((y, steps, method), imgs)
            for key in ("elbo", "logz_is", "ess"):
                per_seed[key].append(r.metrics.get(key))
            elbo = r.metrics.get("elbo")
            log_z = refs[y]["mc"]["log_z"]
            per_seed["elbo_gap"].append(None if elbo is None else log_z - elbo)
            for key, value in stats.items():
                per_seed[key].append(value)
        row = {"class": y, "target": name, "steps": steps, "method": method,
               "seeds": [r.spec.seed for r in ok], "n_runs": len(recs),
               "n_failed": len(recs) - len(ok),
               "errors": sorted({r.error or r.status for r in recs if not r.ok}),
               "keys": sorted({r.key for r in recs}), "per_seed": dict(per_seed),
               "train_seconds": sum(r.timing["train_seconds"] for r in ok if r.timing) or None}  # fmt: skip
        for key, _ in COLUMNS:
            row[key], row[key + "_std"] = mean_std(finite(per_seed.get(key, [])))
        rows.append(row)
    rows.sort(key=lambda r: (r["class"], r["steps"], _order(r["method"])))
    return rows, images


def _order(method: str) -> int:
    return METHODS.index(method) if method in METHODS else len(METHODS)


# ---------------------------------------------------------------------------------- rendering


def render(rows: list[dict], refs: dict[int, dict], models_report: dict, gb: GanBudget,
           beta: float, wall: float, provenance: str) -> str:  # fmt: skip
    gen = models_report["generator"]
    lines = [
        f"# GAN-latent conditional sampling — {gb.sweep.note}",
        "",
        f"Target p(z | y) ∝ N(z; 0, I) c(y | G(z))^β, d = {models_report['latent_dim']}, "
        f"β = {beta:g}, models `{gb.models}` (key {models_report['key']}): classifier held-out "
        f"accuracy {models_report['classifier_test_accuracy']:.3f}; generator samples classified "
        f"as a digit (top probability ≥ 0.9) {gen['digit_rate']:.3f}. Sample statistics from "
        f"{gb.n_samples} latents per run; log Ẑ_MC from {gb.n_prior} prior draws. "
        f"Wall time of this invocation {wall / 60:.1f} min ({provenance}). Mean ± std over seeds.",
        "",
    ]
    header = ["T", "sampler", *[title for _, title in COLUMNS], "seeds"]
    for y in sorted(refs):
        ref = refs[y]
        mc = ref["mc"]
        lines += [f"## class y = {y}  (log Ẑ_MC = {mc['log_z']:.4f} ± {mc['log_z_se']:.1g})", ""]
        body = []
        for row in (r for r in rows if r["class"] == y):
            if row["n_failed"] == row["n_runs"]:
                cells = ["failed"] * len(COLUMNS)
            else:
                cells = [fmt(row[k], row[k + "_std"]) for k, _ in COLUMNS]
            note = f" ({row['n_failed']} failed)" if row["n_failed"] else ""
            body.append([str(row["steps"]), row["method"] + note, *cells, str(len(row["seeds"]))])
        p, s = ref["prior"], ref["sir"]
        body.append(["—", "prior N(0, I), classifier ignored", fmt(mc["prior_elbo"]), "—", "—",
                     fmt(mc["log_z"] - mc["prior_elbo"]), fmt(p["mean_log_c"]), fmt(p["share_y"]),
                     fmt(p["diversity"]), "—"])  # fmt: skip
        body.append(["—", "SIR from the prior (≈ exact p(z \\| y))", "—", fmt(mc["log_z"]),
                     fmt(mc["ess"]), "—", fmt(s["mean_log_c"]), fmt(s["share_y"]),
                     fmt(s["diversity"]), "—"])  # fmt: skip
        real = models_report.get("data_diversity")
        if real:
            body.append(["—", f"real test digits of class {y}", "—", "—", "—", "—", "—", "—",
                         fmt(real[y]), "—"])  # fmt: skip
        lines += [md_table(header, body), ""]
    lines += [
        "ELBO ≤ log Z; the gap log Ẑ_MC − ELBO is the sampler's KL to p(z | y) (smaller is better; "
        "the SIR row's ESS is that of its importance weights). Diversity: mean pairwise L2 "
        "distance of decoded 8×8 images (pixels in [-1, 1]); collapse onto few images lowers it.",
        "",
    ]
    return "\n".join(lines)


def _mosaic(imgs: np.ndarray, pad: int = 1) -> np.ndarray:
    """``[k, 8, 8]`` images in [0, 1] -> one ``GRID`` mosaic with ``pad`` blank pixels between."""
    gr, gc = GRID
    size = 8 + pad
    out = np.zeros((gr * size - pad, gc * size - pad))
    for i, img in enumerate(imgs[: gr * gc]):
        r, c = divmod(i, gc)
        out[r * size : r * size + 8, c * size : c * size + 8] = img
    return out


def plot_samples(images: dict, refs: dict, classes, methods, steps, note: str, path) -> list[str]:
    """Columns: the SIR reference, then the samplers; rows: (class, T). Each panel a grid of
    decoded digits (the SIR column shows different reference draws in each row)."""
    row_keys = [(y, t) for y in classes for t in steps]
    columns = ["sir", *methods]
    k = GRID[0] * GRID[1]
    fig, axes = plt.subplots(len(row_keys), len(columns),
                             figsize=(2.3 * len(columns) + 0.6, 1.3 * len(row_keys) + 1.0),
                             squeeze=False, layout="constrained")  # fmt: skip
    for i, (y, t) in enumerate(row_keys):
        for j, method in enumerate(columns):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if method == "sir":
                imgs = np.roll(refs[y]["images"]["sir"], -i * k, axis=0)
            else:
                imgs = images.get((y, t, method))
            if imgs is None:
                ax.text(0.5, 0.5, "run missing or failed", ha="center", va="center",
                        transform=ax.transAxes, fontsize=7)  # fmt: skip
            else:
                ax.imshow(_mosaic(imgs), cmap="gray_r", vmin=0.0, vmax=1.0,
                          interpolation="nearest")  # fmt: skip
            if i == 0:
                title = "SIR reference ≈ p(z | y)" if method == "sir" else method
                ax.set_title(title, fontsize=8, color=COLORS.get(method, "k"))
            if j == 0:
                ax.set_ylabel(f"y = {y}, T = {t}", fontsize=8)
    width = max(40, int(13 * fig.get_figwidth()))
    title = textwrap.fill("Decoded samples G(z) of z from each trained sampler (first seed; the "
                          "same rollout noise in every panel of a row)", width)  # fmt: skip
    fig.suptitle(title + "\n" + textwrap.fill(f"[{note}]", width), fontsize=8)
    return save_figure(fig, path)


# ---------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sweep_arguments(p)
    p.add_argument("--classes", type=int, nargs="+", help="classes y (default: the budget's)")
    p.add_argument("--beta", type=float, default=1.0, help="temperature exponent β (default 1)")
    p.add_argument("--methods", nargs="+", default=METHODS)
    p.add_argument("--steps", type=int, nargs="+", default=STEPS)
    add_figures_argument(p)
    args = p.parse_args(argv)
    fig_dir = figures_dir(args)
    gb = GAN_BUDGETS[args.budget]
    if args.seeds:
        note = f"{gb.sweep.note} [seeds overridden: {', '.join(map(str, args.seeds))}]"
        gb = dataclasses.replace(
            gb, sweep=dataclasses.replace(gb.sweep, seeds=tuple(args.seeds), note=note)
        )
    classes = tuple(args.classes or gb.classes)
    start = time.perf_counter()
    models = load_models(get_preset(gb.models), progress=not args.quiet)  # train once, here
    print(f"[gan_latent] models {models.path} ({'trained' if models.trained_now else 'cached'})",
          file=sys.stderr)  # fmt: skip
    report = {**models.report, "latent_dim": models.config.latent_dim}
    # Built here first, so that a bad option fails now rather than in every worker.
    refs = {y: references(get_target(target_name(y, args.beta, gb.models)), gb) for y in classes}
    specs = build_specs(gb, classes, args.methods, args.steps, args.beta)
    print(f"[gan_latent] {len(specs)} runs, {gb.sweep.note}", file=sys.stderr)
    records = sweep(specs, args)
    rows, images = aggregate(records, gb, refs)
    wall = time.perf_counter() - start
    out = Path(args.out)
    cached = sum(r.status == "cached" for r in records)
    provenance = (f"models {'trained' if models.trained_now else 'cached'}, "
                  f"{len(records) - cached} runs trained, {cached} cached")  # fmt: skip
    text = render(rows, refs, report, gb, args.beta, wall, provenance)
    files = plot_samples(images, refs, classes, args.methods, args.steps, gb.sweep.note,
                         fig_dir / FIGURE)  # fmt: skip
    atomic_write(out / "gan_latent.md", text)
    write_json(out / "gan_latent.json", {
        "budget": gb.sweep.name, "note": gb.sweep.note, "beta": args.beta, "classes": classes,
        "models": {"preset": gb.models, "config": models.config.as_dict(),
                   "path": str(models.path), "report": models.report},
        "n_samples": gb.n_samples, "n_prior": gb.n_prior, "wall_seconds": wall,
        "provenance": provenance,
        "references": {str(y): {k: v for k, v in r.items() if k != "images"}
                       for y, r in refs.items()},
        "rows": rows, "figure": files,
    })  # fmt: skip
    print(text)
    print(f"wrote {out / 'gan_latent.md'} (.json) and {', '.join(files)}; "
          f"wall time {wall / 60:.1f} min")  # fmt: skip
    failed = sum(r["n_failed"] for r in rows)
    if failed:
        print(f"{failed} run(s) failed; their rows say so (see {out / 'runs'}/*/error.json)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
