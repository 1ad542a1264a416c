"""Write results/adaptive_study_paper/PROGRESS.md from the recorded run folders."""
import json, sys, collections
from pathlib import Path

from ads_bench.store import RunDir

root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent)
rows = collections.defaultdict(lambda: {"ok": 0, "div": 0, "fail": 0, "groups": {}})
for d in sorted((root / "runs").iterdir()):
    cfg = json.loads((d / "config.json").read_text())
    it = cfg["train"]["iterations"]
    key = (cfg["method"], it, cfg["target"], cfg["sampler"]["steps"])
    row = rows[key]
    status = RunDir(d).status()  # the store's own rule: done / diverged / failed / partial
    if status == "done":
        row["ok"] += 1
        t = json.loads((d / "result.json").read_text())["timing"]["train_seconds"]
    elif status in ("diverged", "failed"):
        row["div" if status == "diverged" else "fail"] += 1
        t = 0.0
    else:
        continue
    # seeds of one configuration at >= 5000 iterations trained as one ensemble: count its time once
    g = json.dumps({k: v for k, v in cfg.items() if k != "seed"}, sort_keys=True)
    if it >= 5000:
        row["groups"][g] = max(row["groups"].get(g, 0.0), t)
    else:
        row["groups"][g + str(cfg["seed"])] = t
out = ["# Paper-scale study: what is recorded so far", "",
       "Generated from the run records in `runs/` (one folder per run: `result.json` = finished, "
       "`error.json` = diverged or failed). The study is resumable: `python reproduce/adaptive_study.py "
       "--budget paper --out results/adaptive_study_paper` counts these as done.", "",
       "Core-hours: runs of 5 000 iterations and more trained as compiled seed ensembles (3 or 5 seeds "
       "in one process on one core); an ensemble's wall time is counted once.", "",
       "| family | iterations | target | T | finished | diverged | failed | core-hours |",
       "|---|---|---|---|---|---|---|---|"]
tot = collections.Counter()
for key in sorted(rows, key=lambda k: (k[0], k[1], k[2], k[3])):
    r = rows[key]
    h = sum(r["groups"].values()) / 3600
    out.append(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {r['ok']} | {r['div']} | {r['fail']} | {h:.2f} |")
    tot.update(ok=r["ok"], div=r["div"], fail=r["fail"]); tot["h"] += h
out += ["", f"Total: {tot['ok']} finished, {tot['div']} diverged, {tot['fail']} failed runs; "
        f"{tot['h']:.2f} core-hours of training.", ""]
extra = root / "PROGRESS_NOTE.md"
if extra.exists():
    out.append(extra.read_text())
(root / "PROGRESS.md").write_text("\n".join(out))
print("\n".join(out))
