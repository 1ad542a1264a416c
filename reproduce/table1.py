"""Table 1 (README, *Reproducing the paper*): targets x steps T x methods, mean ± std over seeds,
and the claims check.

    python reproduce/table1.py                      # quick budget (<= 30 min on 2 cores)
    python reproduce/table1.py --budget full        # paper scale (25 000 iterations, 5 seeds)
    python reproduce/table1.py --steps 100 --methods fixed pis dis dds   # + published T = 100 rows

Rows: the six methods of this package (fixed, fixed-learnvar, bounded, adaptive, adaptive-vargrad,
adaptive-tlm) and the continuous-time baselines PIS, DIS and DDS, each at T in {5, 10, 20}, on gmm25,
gmm40, funnel and manywell. Columns: Δlog Z (ELBO), Δlog Z (IS), EUBO gap, W2 and ESS. Writes
``OUT/table1.{md,csv,json,tex}`` (the best value per column within each (target, T) block is marked);
a row whose runs failed says so. Where T = 100 rows are run for methods that Sendera et al. (2024)
report, their published numbers are printed beside ours. Runs go through the resumable sweep runner
(``OUT/runs/``): re-running skips finished runs and resumes an interrupted sweep. Ends with the
claims check (:mod:`claims`).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import math
import sys
import time
from collections import defaultdict
from pathlib import Path

from _common import (
    TABLE1_METHODS,
    TABLE1_STEPS,
    TABLE1_TARGETS,
    add_sweep_arguments,
    budget_of,
    sweep,
    write_tables,
)

from ads_bench.analysis.paired import finite, mean_std
from ads_bench.analysis.tables import fmt, mark_best, md_table, mean_cell, tex_escape
from ads_bench.published import SENDERA2024_METHODS, sendera2024
from ads_bench.store import RunDir
from ads_bench.sweep.specs import RunSpec, expand_grid

#: (metric key, column title, better)
COLUMNS = [
    ("delta_logz_elbo", "Δlog Z (ELBO)", "min"),
    ("delta_logz_is", "Δlog Z (IS)", "min"),
    ("eubo_gap", "EUBO gap", "min"),
    ("w2", "W2", "min"),
    ("ess", "ESS", "max"),
    ("modes", "modes ≥ N/10K", "max"),  # mixtures only: modes with a tenth of their share
]
HISTORY_POINTS = 4  # periodic evaluations per run (the convergence claim reads them)


def build_specs(budget, targets, methods, steps) -> list[RunSpec]:
    """Every (target, T, method, seed) run at ``budget``, evaluated :data:`HISTORY_POINTS` times."""
    every = max(1, budget.iterations // HISTORY_POINTS)
    over = budget.config_overrides(**{"eval.every": every})
    return expand_grid(targets, methods, steps, budget.seeds, overrides=over, tag="table1")


def like_table1(budget, targets, methods, steps, seeds, tag: str) -> list[RunSpec]:
    """Table 1's runs (:func:`build_specs`) of ``targets`` x ``methods`` x ``steps`` on ``seeds``
    only, tagged ``tag``: the same configs, so the same run folders as Table 1's (shared cache)."""
    specs = build_specs(budget, targets, methods, steps)
    return [dataclasses.replace(s, tag=tag) for s in specs if s.seed in seeds]


def _history(path: str) -> list[dict]:
    """The ELBO and W2 curves of a run's ``history.csv`` (:meth:`RunDir.read_history`)."""
    return [
        {"iteration": int(row["iteration"]), "elbo": row.get("elbo"), "w2": row.get("w2")}
        for row in RunDir(path).read_history()
    ]


def aggregate(records) -> list[dict]:
    """One row per (target, T, method): per-seed metrics, mean ± std, failures."""
    groups: dict[tuple, list] = defaultdict(list)
    for r in records:
        groups[(r.spec.target, r.spec.steps, r.spec.method)].append(r)
    rows = []
    for (target, steps, method), recs in groups.items():
        ok = [r for r in recs if r.ok]
        errors = sorted({r.error or r.status for r in recs if not r.ok and r.status != "diverged"})
        row = {
            "target": target,
            "steps": steps,
            "method": method,
            "seeds": [r.spec.seed for r in ok],
            "n_runs": len(recs),
            "n_failed": len(recs) - len(ok),
            "n_diverged": sum(r.status == "diverged" for r in recs),
            "errors": errors,
            "per_seed": {},
            "history": {},
            "seconds": sum(r.timing["train_seconds"] for r in ok if r.timing) or None,
        }
        for key, _, _ in COLUMNS:
            vals = [r.metrics.get(key) for r in ok]
            row["per_seed"][key] = vals
            row[key], row[key + "_std"] = mean_std(finite(vals))
        row["per_seed"]["elbo"] = [r.metrics.get("elbo") for r in ok]
        row["history"] = {str(r.spec.seed): _history(r.path) for r in ok}
        rows.append(row)
    mark_best(rows, COLUMNS, lambda row: (row["target"], row["steps"]))
    return rows


def _published(rows: list[dict]) -> dict[tuple, dict]:
    """Published Sendera et al. (2024) numbers for our T = 100 rows with a counterpart."""
    table = sendera2024()
    out = {}
    for row in rows:
        paper = SENDERA2024_METHODS.get(row["method"])
        if row["steps"] == 100 and paper and (paper, row["target"]) in table:
            out[(row["target"], row["steps"], row["method"])] = {
                "method": paper,
                **table[(paper, row["target"])],
            }
    return out


def render(rows: list[dict], budget, wall: float | None) -> dict[str, str]:
    """Markdown, CSV and LaTeX renderings of the table."""
    published = _published(rows)
    header = ["T", "method", *[title for _, title, _ in COLUMNS], "seeds", "note"]
    md = [f"# Table 1 — {budget.note}", ""]
    if wall is not None:
        md.append(
            f"Sweep wall time: {wall / 60:.1f} min. Best value per column within each (target, T) "
            "block in **bold**. Metrics: README *Metrics*; mean ± std over seeds.\n"
        )
    tex = ["\\begin{tabular}{ll" + "r" * len(COLUMNS) + "}", "\\toprule"]
    tex.append(" & ".join(tex_escape(h) for h in header[:-2]) + " \\\\")
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(
        [
            "target",
            "steps",
            "method",
            "n_runs",
            "n_failed",
            "n_diverged",
            *[c for key, _, _ in COLUMNS for c in (key, key + "_std", key + "_best")],
            "error",
        ]
    )
    for target in dict.fromkeys(r["target"] for r in rows):
        md += [f"## {target}", ""]
        tex += [
            "\\midrule",
            f"\\multicolumn{{{2 + len(COLUMNS)}}}{{l}}{{{tex_escape(target)}}} \\\\",
        ]
        body = []
        for row in sorted(
            (r for r in rows if r["target"] == target),
            key=lambda r: (r["steps"], _order(r["method"])),
        ):
            cells = []
            for key, _, _ in COLUMNS:
                c = mean_cell(row, key)
                cells.append(f"**{c}**" if key in row["best"] else c)
            note = ""
            n_div = row.get("n_diverged", 0)
            if n_div:  # diverged runs are an outcome: counted, never averaged into the mean
                note = f"{n_div}/{row['n_runs']} diverged (not in the mean)"
            if row["n_failed"] > n_div:
                note += ("; " if note else "") + (
                    f"{row['n_failed'] - n_div}/{row['n_runs']} failed: "
                    f"{'; '.join(row['errors'])[:120]}"
                )
            body.append([str(row["steps"]), row["method"], *cells, str(len(row["seeds"])), note])
            pub = published.get((row["target"], row["steps"], row["method"]))
            if pub:
                cells = [fmt(pub[k], pub[k + "_std"]) if k in pub else "—" for k, _, _ in COLUMNS]
                body.append(
                    [
                        "100",
                        f"↳ published {pub['method']} (Sendera et al. 2024)",
                        *cells,
                        "5",
                        "published",
                    ]
                )
            tex_cells = [
                ("\\textbf{" + tex_escape(mean_cell(row, k)) + "}")
                if k in row["best"]
                else tex_escape(mean_cell(row, k))
                for k, _, _ in COLUMNS
            ]
            tex.append(
                " & ".join([str(row["steps"]), tex_escape(row["method"]), *tex_cells]) + " \\\\"
            )
            writer.writerow(
                [
                    row["target"],
                    row["steps"],
                    row["method"],
                    row["n_runs"],
                    row["n_failed"],
                    row.get("n_diverged", 0),
                    *[
                        v
                        for key, _, _ in COLUMNS
                        for v in (_num(row[key]), _num(row[key + "_std"]), key in row["best"])
                    ],
                    "; ".join(row["errors"]),
                ]
            )
        md += [md_table(header, body), ""]
    tex += ["\\bottomrule", "\\end{tabular}"]
    return {"md": "\n".join(md), "csv": buf.getvalue(), "tex": "\n".join(tex) + "\n"}


def _num(v):
    return "" if v is None or (isinstance(v, float) and not math.isfinite(v)) else v


def _order(method: str) -> int:
    return TABLE1_METHODS.index(method) if method in TABLE1_METHODS else len(TABLE1_METHODS)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sweep_arguments(p)
    p.add_argument("--targets", nargs="+", default=TABLE1_TARGETS)
    p.add_argument("--methods", nargs="+", default=TABLE1_METHODS)
    p.add_argument("--steps", type=int, nargs="+", default=TABLE1_STEPS)
    p.add_argument("--no-claims", action="store_true", help="skip the claims check at the end")
    p.add_argument("--strict", action="store_true", help="exit 1 if any run failed")
    args = p.parse_args(argv)
    budget = budget_of(args)
    specs = build_specs(budget, args.targets, args.methods, args.steps)
    print(f"Table 1: {len(specs)} runs, {budget.note}", file=sys.stderr)
    start = time.perf_counter()
    records = sweep(specs, args)
    wall = time.perf_counter() - start
    rows = aggregate(records)
    out = Path(args.out)
    text = render(rows, budget, wall)
    data = {"budget": budget.name, "note": budget.note, "wall_seconds": wall, "rows": rows}
    write_tables(out, "table1", text, data)
    print(text["md"])
    print(f"wrote {out / 'table1.md'} (.csv, .json, .tex); sweep wall time {wall / 60:.1f} min")
    if not args.no_claims:
        from claims import write_claims

        print(write_claims(out, rows, budget.note))
    failed = sum(r["n_failed"] for r in rows)
    if failed:
        print(f"{failed} run(s) failed; their rows say so (see {out / 'runs'}/*/error.json)")
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    raise SystemExit(main())
