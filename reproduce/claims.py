"""The paper's claims (README, *Reproducing the paper*), checked against our own Table 1 runs.

    python reproduce/claims.py [--out results]      # reads OUT/table1.json (run table1.py first)

Each claim is turned into paired comparisons (same target, T and seed) with an effect size and a
two-sided 95 % Student-t interval over seeds, and a verdict:

* **supported** — the effect favours the claim and its interval excludes zero where the claim needs it;
* **not supported** — the interval excludes zero *against* the claim (where the claim needs it);
* **inconclusive at this budget** — anything else (too few seeds, intervals straddling zero, or the
  runs needed are missing/failed).

Effects are differences of the Table 1 metrics, oriented so that positive favours the claim.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from _claims_study import (
    PAPER_STUDY,
    effect_rows,
    load_study,
    render_paper_study,
    render_study,
)
from _common import atomic_write, write_json

from ads_bench.analysis.paired import paired_differences, paired_effect, significance
from ads_bench.analysis.tables import md_table

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive at this budget"
LEARNED = "adaptive"  # both processes learned, decoupled variances (the paper's method)
FIXED = "fixed-learnvar"  # fixed destruction, otherwise the same generation process
FIXED_VAR = "fixed"  # fixed destruction and fixed generation variance


def _index(rows: list[dict]) -> dict[tuple, dict]:
    return {(r["target"], r["steps"], r["method"]): r for r in rows}


def _paired(a: dict | None, b: dict | None, key: str, sign: float = 1.0) -> list[float]:
    """``sign * (a - b)`` per seed present in both Table 1 rows (finite values only)."""
    if a is None or b is None:
        return []
    va = dict(zip(a["seeds"], a["per_seed"].get(key, []), strict=False))
    vb = dict(zip(b["seeds"], b["per_seed"].get(key, []), strict=False))
    return paired_differences(va, vb, sign)


def _significance(e: dict) -> int:
    """+1 interval above 0, -1 below 0, 0 otherwise (or no data)."""
    return significance(e["n"], e["ci_low"], e["ci_high"])


def _majority_verdict(effects: list[dict]) -> str:
    """Supported if at least half of the comparisons with data are significantly positive and none
    significantly negative; not supported if more are significantly negative than positive."""
    sig = [_significance(e) for e in effects if e["n"]]
    if not sig:
        return INCONCLUSIVE
    if sig.count(-1) > sig.count(1):
        return NOT_SUPPORTED
    if sig.count(1) * 2 >= len(sig) and -1 not in sig:
        return SUPPORTED
    return INCONCLUSIVE


def _claim_beats_fixed(ix: dict, targets: list[str], steps: list[int]) -> dict:
    effects = []
    for t in targets:
        for s in [s for s in steps if s <= 10]:
            a, b = ix.get((t, s, FIXED)), ix.get((t, s, LEARNED))
            effects.append(
                paired_effect(
                    f"{t} T={s}: Δlog Z ELBO, {FIXED} − {LEARNED}", _paired(a, b, "delta_logz_elbo")
                )
            )
            effects.append(
                paired_effect(f"{t} T={s}: W2, {FIXED} − {LEARNED}", _paired(a, b, "w2"))
            )
    verdict = _majority_verdict(effects)
    return {
        "claim": "With few steps (T ≤ 10), learning both processes beats fixed destruction "
        "(ELBO and sample metrics)",
        "test": f"paired over seeds, {LEARNED} vs {FIXED} (same generation process, destruction "
        "fixed); positive = learned destruction better. Supported if at least half of the "
        "comparisons are significantly positive and none significantly negative.",
        "effects": effects,
        "verdict": verdict,
    }


def _claim_few_steps(ix: dict, targets: list[str], steps: list[int]) -> dict:
    effects = []
    if 5 in steps and 20 in steps:
        for t in targets:
            effects.append(
                paired_effect(
                    f"{t}: Δlog Z ELBO, {FIXED_VAR}@T=20 − {LEARNED}@T=5",
                    _paired(ix.get((t, 20, FIXED_VAR)), ix.get((t, 5, LEARNED)), "delta_logz_elbo"),
                )
            )
    sig = [_significance(e) for e in effects if e["n"]]
    if any(s == 1 for s in sig):
        verdict = SUPPORTED
    elif sig and all(s == -1 for s in sig):
        verdict = NOT_SUPPORTED
    else:
        verdict = INCONCLUSIVE
    return {
        "claim": "On some targets, 5-step samplers with learned variances match or beat "
        "20-step fixed-variance ones",
        "test": f"paired over seeds, {LEARNED} at T=5 vs {FIXED_VAR} at T=20; positive = the 5-step "
        "sampler is better. Supported if some target is significantly positive; not supported if "
        "every target is significantly negative.",
        "effects": effects,
        "verdict": verdict,
    }


def _first_reaching(history: list[dict], threshold: float) -> float | None:
    for point in history:
        if point["elbo"] is not None and point["elbo"] >= threshold:
            return float(point["iteration"])
    return None


#: how close to its own final value a run must come to count as converged (nats for the ELBO)
SPEED_TOL = 0.1
SPEED_METRICS = (("elbo", "ELBO"), ("w2", "W2"))


def iterations_to_final(history: list[dict], key: str, tol: float = SPEED_TOL) -> float | None:
    """The first evaluated iteration whose ``key`` is within ``tol`` of the run's final value (the
    last row of ``history``); ``None`` if the run has no final value. Resolution: the evaluation
    interval."""
    final = history[-1].get(key) if history else None
    if final is None or not math.isfinite(final):
        return None
    for point in history:
        v = point.get(key)
        if v is not None and math.isfinite(v) and abs(v - final) <= tol:
            return float(point["iteration"])
    return None


def convergence_speed(ix: dict, targets: list[str], steps: list[int]) -> list[dict]:
    """Issue 18's convergence-speed measure: per (target, T, metric), paired over seeds, the
    iterations ``fixed-learnvar`` needs to come within :data:`SPEED_TOL` of its own final value
    minus those ``adaptive`` needs (positive = ``adaptive`` converges sooner)."""
    out = []
    for t in targets:
        for s in steps:
            a, b = ix.get((t, s, FIXED)), ix.get((t, s, LEARNED))
            for key, title in SPEED_METRICS:
                diffs = []
                if a is not None and b is not None:
                    for seed in sorted(set(a["history"]) & set(b["history"])):
                        ia = iterations_to_final(a["history"][seed], key)
                        ib = iterations_to_final(b["history"][seed], key)
                        if ia is not None and ib is not None:
                            diffs.append(ia - ib)
                out.append(
                    paired_effect(
                        f"{t} T={s}: iterations to within {SPEED_TOL:g} of its own "
                        f"final {title}, {FIXED} − {LEARNED}",
                        diffs,
                    )
                )
    return out


def _claim_faster(ix: dict, targets: list[str], steps: list[int]) -> dict:
    effects = []
    for t in targets:
        for s in steps:
            a, b = ix.get((t, s, FIXED)), ix.get((t, s, LEARNED))
            diffs = []
            if a is not None and b is not None:
                for seed in sorted(set(a["history"]) & set(b["history"])):
                    ha, hb = a["history"][seed], b["history"][seed]
                    finals = [h[-1]["elbo"] for h in (ha, hb) if h and h[-1]["elbo"] is not None]
                    if len(finals) < 2:
                        continue
                    threshold = min(finals)  # both runs reach it by their last evaluation
                    ia, ib = _first_reaching(ha, threshold), _first_reaching(hb, threshold)
                    if ia is not None and ib is not None:
                        diffs.append(ia - ib)
            effects.append(
                paired_effect(
                    f"{t} T={s}: iterations to the lower final ELBO, {FIXED} − {LEARNED}", diffs
                )
            )
    verdict = _majority_verdict(effects)
    return {
        "claim": "Joint training converges faster (iterations to a given ELBO)",
        "test": f"per target, T and seed: the first periodic evaluation at which {LEARNED} and "
        f"{FIXED} reach the lower of their two final ELBOs; positive = {LEARNED} reaches it "
        "earlier. The resolution is the evaluation interval.",
        "effects": effects,
        "verdict": verdict,
        # reported beside the verdict, not part of it: each method's own convergence
        "speed": convergence_speed(ix, targets, steps),
    }


def _claim_tlm(ix: dict, targets: list[str], steps: list[int]) -> dict:
    effects, failures = [], []
    if len(steps) >= 2:
        lo_t, hi_t = min(steps), max(steps)
        for t in targets:
            # difference in differences: how much more TLM degrades than TB from small to large T
            tlm_hi, tlm_lo = ix.get((t, hi_t, "adaptive-tlm")), ix.get((t, lo_t, "adaptive-tlm"))
            tb_hi, tb_lo = ix.get((t, hi_t, LEARNED)), ix.get((t, lo_t, LEARNED))
            d_tlm = _paired(tlm_hi, tb_hi, "delta_logz_elbo")  # TLM - TB at large T
            d_lo = _paired(tlm_lo, tb_lo, "delta_logz_elbo")  # TLM - TB at small T
            n = min(len(d_tlm), len(d_lo))
            effects.append(
                paired_effect(
                    f"{t}: Δlog Z ELBO (TLM − TB) at T={hi_t} minus at T={lo_t}",
                    [d_tlm[i] - d_lo[i] for i in range(n)],
                )
            )
            for row, name in ((tlm_hi, "adaptive-tlm"), (tb_hi, LEARNED)):
                if row is not None:
                    failures.append(
                        {
                            "target": t,
                            "steps": hi_t,
                            "method": name,
                            "failed": row["n_failed"],
                            "runs": row["n_runs"],
                        }
                    )
    tlm_fail = sum(f["failed"] for f in failures if f["method"] == "adaptive-tlm")
    tb_fail = sum(f["failed"] for f in failures if f["method"] == LEARNED)
    sig = [_significance(e) for e in effects if e["n"]]
    if tlm_fail > tb_fail or (sig and sig.count(1) * 2 >= len(sig) and -1 not in sig):
        verdict = SUPPORTED
    elif sig and sig.count(-1) > sig.count(1):
        verdict = NOT_SUPPORTED
    else:
        verdict = INCONCLUSIVE
    return {
        "claim": "TLM destabilises at large T while TB stays stable",
        "test": "runs that diverged (non-finite) at the largest T, TLM vs TB; and per target the "
        "difference in differences of Δlog Z ELBO (TLM − TB at the largest T minus at the smallest "
        "T); positive = TLM degrades more with T. The grid's largest T stands in for 'large T'.",
        "effects": effects,
        "failures": failures,
        "verdict": verdict,
    }


def check_claims(rows: list[dict]) -> list[dict]:
    """Every claim of the paper (README, *Reproducing the paper*) with its evidence and verdict,
    from Table 1 rows."""
    ix = _index(rows)
    targets = list(dict.fromkeys(r["target"] for r in rows))
    steps = sorted({r["steps"] for r in rows})
    return [
        _claim_beats_fixed(ix, targets, steps),
        _claim_few_steps(ix, targets, steps),
        _claim_faster(ix, targets, steps),
        _claim_tlm(ix, targets, steps),
    ]


def diverged_cells(rows: list[dict]) -> list[dict]:
    """Every (target, T, method) cell with diverged runs: ``{"target", "steps", "method",
    "diverged", "runs"}``. Diverged runs are in no mean and no paired comparison; this says how many
    each cell lost."""
    return [
        {
            "target": r["target"],
            "steps": r["steps"],
            "method": r["method"],
            "diverged": r.get("n_diverged", 0),
            "runs": r["n_runs"],
        }
        for r in rows
        if r.get("n_diverged", 0)
    ]


def render_claims(
    verdicts: list[dict],
    note: str = "",
    study: dict | None = None,
    diverged: list[dict] | None = None,
    paper: list[str] | None = None,
) -> str:
    """``claims.md``: ``paper`` (the paper-scale claim-1 lines, :func:`render_paper_study`) first,
    then the tuned study's verdict (``study``) and the Table 1 claims at Table 1's budget."""
    lines = ["# Claims check (README *Reproducing the paper*)", ""]
    if note:
        lines += [f"_{note}_", ""]
    if diverged is not None:
        if diverged:
            cells = ", ".join(
                f"{d['method']} {d['target']} T={d['steps']}: {d['diverged']}/{d['runs']}"
                for d in diverged
            )
            lines += [
                f"Diverged runs (divergence guard or non-finite; left out of every mean and "
                f"paired comparison): {cells}",
                "",
            ]
        else:
            lines += ["Diverged runs: none.", ""]
    lines += paper or []
    if study is not None:
        lines += render_study(study, f"1 (tuned, {study['budget']} budget)")
    for i, v in enumerate(verdicts, 1):
        lines += [f"## {i}. {v['claim']} — **{v['verdict']}**", "", v["test"], ""]
        rows = effect_rows(v["effects"])
        if rows:
            lines += [md_table(["comparison", "seeds", "effect", "95 % CI"], rows), ""]
        if v.get("speed"):
            speed = effect_rows(v["speed"])
            lines += [
                f"Convergence speed (not part of the verdict): iterations each method needs "
                f"to come within {SPEED_TOL:g} of its own final value; positive = "
                f"{LEARNED} sooner.",
                "",
                md_table(["comparison", "seeds", "iterations", "95 % CI"], speed),
                "",
            ]
        if v.get("failures"):
            fails = ", ".join(
                f"{f['method']} {f['target']} T={f['steps']}: {f['failed']}/{f['runs']}"
                for f in v["failures"]
            )
            lines += [f"Diverged runs: {fails}", ""]
    return "\n".join(lines)


def write_claims(out: Path, rows: list[dict], note: str = "") -> str:
    """Check the claims on Table 1's ``rows`` and write ``OUT/claims.{md,json}``, with the studies
    found under ``OUT`` (the paper-scale one in ``OUT/adaptive_study_paper``); returns the text."""
    out = Path(out)
    verdicts = check_claims(rows)
    paper = render_paper_study(load_study(out / PAPER_STUDY))
    text = render_claims(verdicts, note, load_study(out), diverged_cells(rows), paper)
    atomic_write(out / "claims.md", text)
    write_json(out / "claims.json", verdicts)
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="results", help="folder holding table1.json")
    args = p.parse_args(argv)
    out = Path(args.out)
    source = out / "table1.json"
    if not source.exists():
        print(
            f"error: {source} not found; run python reproduce/table1.py --out {out}",
            file=sys.stderr,
        )
        return 2
    data = json.loads(source.read_text(encoding="utf-8"))
    text = write_claims(out, data["rows"], data.get("note", ""))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
