"""The adaptive-destruction study's report (:mod:`adaptive_study`; README, *The
adaptive-destruction study*): the evidence per search-space value, ``adaptive_study.md`` and the
study's figures (``adaptive_study_logw_var``, ``adaptive_study_destruction_variance_T<T>``).

The numbers it renders come from :mod:`_study_verdict`; the Markdown verdict table is the one the
claims check prints too (:func:`_claims_study.verdict_table`).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path

from _claims_study import verdict_table
from _study_verdict import REPORT_SEEDS, by_family, load_model, summary_line

from ads_bench.analysis.destruction import destruction_correction
from ads_bench.analysis.runs import DIVERGED_GAP
from ads_bench.analysis.tables import fmt, md_table
from ads_bench.store import StoreError
from ads_bench.sweep.records import RunRecord


def _settings(w: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(w["overrides"].items())) or "study base as is"


def _label(value: dict) -> str:
    return ", ".join(f"{k.split('.')[-1]}={v}" for k, v in value.items())


def _overrides_key(c: dict) -> str:
    return repr(sorted(c["overrides"].items()))


def axis_evidence(log: list[dict], family: str, space: dict, base: dict) -> list[dict]:
    """Per axis value of ``family``'s ``space`` (on its ``base``): how many candidates had it, their
    mean first-rung score (mean rank, lower is better) and the furthest rung any of them reached."""
    entries = [e for e in log if e["family"] == family]
    if not entries:
        return []
    reached: dict[str, int] = {}
    for e in entries:
        for c in e["candidates"]:
            reached[_overrides_key(c)] = max(reached.get(_overrides_key(c), -1), e["rung"])
    rows = []
    for axis, values in space.items():
        for value in values:
            hits = [
                c
                for c in entries[0]["candidates"]
                if all({**base, **c["overrides"]}.get(k, object()) == v for k, v in value.items())
            ]
            rows.append(
                {
                    "axis": axis,
                    "value": _label(value),
                    "candidates": len(hits),
                    "mean_score": statistics.fmean(c["score"] for c in hits) if hits else None,
                    "furthest_rung": max((reached[_overrides_key(c)] for c in hits), default=None),
                }
            )
    return rows


def _diag_table(diag: dict) -> str:
    drows = []
    for r in diag["rows"]:
        sh = r.get("shift")
        curve = r["logw_var_curve"]
        mixture = "modes_of" in r
        drows.append(
            [
                r["family"],
                r["target"],
                str(r["steps"]),
                f"{r['runs'] - r['failed']}/{r['runs']}",
                str(r["diverged"]),
                f"{fmt(r['modes_mean'])}/{r['modes_of']}" if mixture else "—",
                str(r["single_mode"]) if mixture else "—",
                str(r["under_half"]) if mixture else "—",
                f"{fmt(curve[0][1])} → {fmt(curve[-1][1])}" if curve else "—",
                fmt(sh["mean_shift"]) if sh else "0 (fixed)",
                f"{fmt(sh['logvar_shift'])} [{fmt(sh['logvar_min'])}, {fmt(sh['logvar_max'])}]"
                if sh
                else "0 (fixed)",
            ]
        )
    header = [
        "family",
        "target",
        "T",
        "ok runs",
        "diverged",
        "modes (mean)",
        "≤ 1 mode",
        "< K/2 modes",
        "Var[log w] first → last",
        "mean shift (base stds)",
        "mean abs log-var shift [min, max]",
    ]
    return md_table(header, drows)


def _rung_table(entry: dict) -> str:
    rows = [
        [
            str(i + 1),
            f"{c['score']:.2f}",
            str(c["failed"]),
            ", ".join(f"{k}={v}" for k, v in sorted(c["overrides"].items())) or "base",
        ]
        for i, c in enumerate(entry["candidates"])
    ]
    return md_table(["rank", "score (mean rank)", "failed runs", "overrides on the base"], rows)


def render(
    log, winners, rows, diag, confirm, note, wall, cost, *, bases, spaces, cells, select_seeds
) -> str:
    """``adaptive_study.md``: chosen settings, verdict, confirmation, diagnostics, the evidence
    per setting and every screening rung. ``bases``/``spaces`` are the families' study bases and
    search spaces, ``cells`` and ``select_seeds`` the selection's."""
    cell_text = ", ".join(f"{t} T={s}" for t, s in cells)
    md = [
        f"# Adaptive-destruction study — {note}",
        "",
        f"{cost['runs']} distinct runs, {cost['worker_hours']:.2f} worker-hours of training and "
        f"evaluation in total. This invocation: {wall / 60:.1f} min wall (cached runs cost "
        f"nothing). Selection on seeds {list(select_seeds)} over {cell_text}; verdict on seeds "
        f"{list(REPORT_SEEDS)} over those cells and gmm40 (never used for selection).",
        "",
    ]
    md += [
        "## Chosen settings",
        "",
        "Study bases (`reproduce/adaptive_study.py: BASES`) and the "
        "overrides the screening chose on them:",
        "",
    ]
    chosen = [
        [
            f,
            ", ".join(f"{k}={v}" for k, v in sorted(bases[f].items())),
            _settings(w),
            str(w["iterations"]),
        ]
        for f, w in winners.items()
    ]
    md.append(md_table(["family", "base", "chosen overrides", "report iterations"], chosen))
    md += [
        "",
        "## Verdict: fixed-learnvar − adaptive on the report seeds (positive = adaptive better)",
        "",
        summary_line(rows),
        "",
    ]
    md.append(verdict_table(rows))
    if confirm:
        md += [
            "",
            f"## Full-budget confirmation ({confirm['note']})",
            "",
            summary_line(confirm["verdict"]),
            "",
        ]
        md.append(verdict_table(confirm["verdict"]))
        md += [
            "",
            f"Diverged = ELBO gap above {DIVERGED_GAP:g} nats (finite, so training went on); "
            "a diverged run dominates a mean, so read the counts first.",
            "",
        ]
        md.append(_diag_table(confirm["diagnostics"]))
    md += [
        "",
        "## Diagnostics on the report seeds",
        "",
        "Collapse: runs covering at most one mode, and fewer than half the modes (a mode is covered "
        "when it gets at least a tenth of its share N/K). Shift of the learned destruction from its "
        "base kernel on the sampler's own trajectories: mean absolute mean shift in base standard "
        "deviations, mean absolute log-variance shift and its range. Var[log w] at the first and "
        f"last evaluation. Diverged: ELBO gap above {DIVERGED_GAP:g} nats.",
        "",
    ]
    md.append(_diag_table(diag))
    md += [
        "",
        "## Evidence per setting",
        "",
        "For every value of every axis: the candidates that had it (base values count), their "
        "mean score in the first rung (mean rank over cells and metrics, lower is better) and the "
        "furthest rung one of them reached (the last rung is the final).",
        "",
    ]
    for family in winners:
        ev = axis_evidence(log, family, spaces[family], bases[family])
        if not ev:
            continue
        md += [f"### {family}", ""]
        ev_rows = [
            [
                r["axis"],
                r["value"],
                str(r["candidates"]),
                fmt(r["mean_score"]),
                "—" if r["furthest_rung"] is None else str(r["furthest_rung"]),
            ]
            for r in ev
        ]
        header = ["axis", "value", "candidates", "mean first-rung score", "furthest rung"]
        md.append(md_table(header, ev_rows))
        md.append("")
    md += ["## Screening rungs", ""]
    for entry in log:
        md += [
            f"### {entry['family']}, rung {entry['rung']} ({entry['iterations']} iterations, "
            f"seeds {entry['seeds']})",
            "",
        ]
        md.append(_rung_table(entry))
        md.append("")
    return "\n".join(md)


def draw_figures(
    records: Sequence[RunRecord], diag: dict, fig_dir: Path, note: str, cells
) -> list[str]:
    """``adaptive_study_logw_var`` (log-weight variance over training per family, one panel per
    cell) and ``adaptive_study_destruction_variance_T<T>`` (the adaptive winner on each gmm25 cell
    of ``cells``, first report seed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from _plotting import save_figure
    from fig_destruction_variance import plot_destruction_variance

    files = []
    fig_dir.mkdir(parents=True, exist_ok=True)
    diag_cells = list(dict.fromkeys((r["target"], r["steps"]) for r in diag["rows"]))
    if diag_cells:
        fig, axes = plt.subplots(
            1,
            len(diag_cells),
            figsize=(3.2 * len(diag_cells), 3.2),
            squeeze=False,
            layout="constrained",
        )
        for ax, (target, steps) in zip(axes[0], diag_cells, strict=True):
            for row in diag["rows"]:
                if (row["target"], row["steps"]) == (target, steps) and row["logw_var_curve"]:
                    its, vals = zip(*row["logw_var_curve"], strict=True)
                    ax.plot(its, vals, marker="o", ms=3, label=row["family"])
            ax.set_yscale("log")
            ax.set_title(f"{target}, T = {steps}", fontsize=9)
            ax.set_xlabel("iteration")
        axes[0, 0].set_ylabel("Var[log w] (N eval samples)")
        axes[0, 0].legend(fontsize=7)
        fig.suptitle(
            f"Log-weight variance over training, mean over report seeds — {note}", fontsize=9
        )
        files += save_figure(fig, fig_dir / "adaptive_study_logw_var")
        plt.close(fig)
    by = by_family(records)
    seed = REPORT_SEEDS[0]
    for target, steps in [c for c in cells if c[0] == "gmm25"]:
        rec = by.get(("adaptive", target, steps, seed))
        if rec is None or not rec.ok:
            continue
        try:
            model = load_model(rec.path)
        except StoreError:
            continue
        files += plot_destruction_variance(
            destruction_correction(model),
            fig_dir / f"adaptive_study_destruction_variance_T{steps}",
            note,
            f" — study winner, {target}, T = {steps}, seed {seed}",
        )
        plt.close("all")
    return files
