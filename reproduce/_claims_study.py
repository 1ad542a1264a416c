"""Claim 1 as the adaptive-destruction studies judge it, rendered for ``claims.md``.

The tuned study (``adaptive_study.py``, quick budget) and the paper-scale study (``--budget paper``,
README *The adaptive-destruction study*) each write ``adaptive_study.json``; this module loads them
and renders their verdict rows as Markdown, for the claims check and for the study's own report.
"""

from __future__ import annotations

import json
from pathlib import Path

from ads_bench.analysis.tables import fmt, md_table

#: where the paper-scale study writes (``adaptive_study.py --budget paper --out OUT/PAPER_STUDY``)
PAPER_STUDY = "adaptive_study_paper"
PAPER_STUDY_COMMAND = (
    f"python reproduce/adaptive_study.py --budget paper --out results/{PAPER_STUDY}"
)


def load_study(out: Path) -> dict | None:
    """``OUT/adaptive_study.json`` (issue 11's tuned comparison) if the study has been run."""
    path = Path(out) / "adaptive_study.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _divergence_line(rows: list[dict]) -> str:
    """Per cell, the diverged runs of each family (the verdict's rows carry them per cell)."""
    cells = {}
    for r in rows:
        if "diverged_adaptive" in r:
            cells[(r["target"], r["steps"])] = (
                r["diverged_adaptive"],
                r["diverged_fixed-learnvar"],
            )
    if not cells:
        return ""
    total = [sum(c[i] for c in cells.values()) for i in (0, 1)]
    text = ", ".join(f"{t} T={s}: {a}/{f}" for (t, s), (a, f) in cells.items())
    return (
        f"Diverged runs (adaptive/fixed-learnvar; counted, left out of every paired difference): "
        f"{total[0]}/{total[1]} in all — {text}."
    )


def render_study(study: dict, heading: str = "1 (tuned)") -> list[str]:
    """Claim 1 after tuning: the study's verdict on its held-out seeds, as Markdown lines."""
    budget = study["budget"]
    command = "python reproduce/adaptive_study.py" + (
        "" if budget == "quick" else f" --budget {budget}"
    )
    lines = [
        f"## {heading}. {study['summary']}",
        "",
        f"From `{command}` ({budget} budget; {study.get('compute', {}).get('worker_hours', 0):.1f} "
        "worker-hours): each family's settings selected on seeds 0–4, effects fixed-learnvar − "
        "adaptive on seeds 5–9 (positive = adaptive better; modes sign-flipped), full table in "
        "`adaptive_study.md`.",
        "",
    ]
    diverged = _divergence_line(study["verdict"])
    return [*lines, *([diverged, ""] if diverged else []), verdict_table(study["verdict"]), ""]


def render_paper_study(study: dict | None) -> list[str]:
    """The main claim-1 verdict: the paper-scale study (25 000 iterations), or where it stands."""
    if study is None:
        return [
            "## 1 (paper scale, the main verdict). Not available yet",
            "",
            f"The paper-scale study has not finished here: `{PAPER_STUDY_COMMAND}` (resumable; "
            "its committed run records count as done).",
            "",
        ]
    return render_study(study, "1 (paper scale, the main verdict)")


def ci_text(e: dict) -> str:
    """An effect's 95 % interval as table text (``—`` without data)."""
    return "—" if not e["n"] else f"[{fmt(e['ci_low'])}, {fmt(e['ci_high'])}]"


def effect_rows(effects: list[dict]) -> list[list[str]]:
    """Paired effects as table rows: comparison, seeds, mean, 95 % interval."""
    return [[e["comparison"], str(e["n"]), fmt(e["mean"]), ci_text(e)] for e in effects]


def verdict_table(rows: list[dict]) -> str:
    """The study's per-(cell, metric) verdict rows as a Markdown table (``adaptive_study.md`` too)."""
    return md_table(
        ["target", "T", "metric", "seeds", "mean", "95 % CI", "result"],
        [
            [
                r["target"],
                str(r["steps"]),
                r["metric"],
                str(r["n"]),
                fmt(r["mean"]),
                ci_text(r),
                r["result"],
            ]
            for r in rows
        ],
    )
