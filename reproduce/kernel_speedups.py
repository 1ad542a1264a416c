"""Kernel speed-ups: turn a pytest-benchmark JSON into a table of fused-vs-reference ratios.

    python -m pytest tests/benchmarks --benchmark-enable --benchmark-json=results/bench.json
    python reproduce/kernel_speedups.py results/bench.json [--out results/kernel_speedups.md]

Each row is one (op, shape, device) group of a single benchmark run; the speed-up of an impl is the
reference's median time divided by the impl's median time (> 1 means faster than the reference).

Beside the ratios, each row gives what a GPU run of the fused op should approach (a paper roofline):
the bytes the fused op must move for one forward + backward call as benchmarked — each input of the
forward and backward ops read once, each output written once, float32 values (4 bytes; the
benchmarks' dtype), the bool step mask 1 byte per step and pass
(``ads_bench.ops.benchmark_cases.fused_bytes``):

    gaussian_logprob:    (9 N + 2 R) * 4                   N = B T D, R = B T
    trajectory_balance:  (3 S + 12 N + 5 B + 5) * 4 + 2 T   S = B (T + 1) D

— then the fused op's achieved bandwidth on the benchmarked device, and the time those bytes take at
3.35 TB/s, the HBM3 bandwidth of an H100 SXM. Small shapes are bound by launch latency instead
(2 kernel launches for gaussian_logprob, 4 for trajectory_balance, a few µs each), not by bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict

from ads_bench.atomic_files import atomic_write_text
from ads_bench.ops.benchmark_cases import H100_SXM_BYTES_PER_S, fused_bytes, roofline_seconds

BANDWIDTH = f"{H100_SXM_BYTES_PER_S / 1e12:.2f} TB/s"


def speedup_rows(bench: dict) -> list[dict]:
    """Group benchmark entries by (op, shape, device); one row per group with medians and ratios."""
    groups: dict[tuple, dict[str, float]] = defaultdict(dict)
    for entry in bench["benchmarks"]:
        info = entry.get("extra_info", {})
        if "impl" not in info:
            continue
        key = (info["op"], tuple(info["shape"]), info["device"])
        groups[key][info["impl"]] = entry["stats"]["median"]
    rows = []
    for (op, shape, device), medians in sorted(groups.items()):
        ref = medians.get("reference")
        row = {"op": op, "shape": "x".join(map(str, shape)), "device": device}
        for impl, median in sorted(medians.items()):
            row[f"{impl} ms"] = 1e3 * median
            if ref is not None and impl != "reference":
                row[f"{impl} speed-up"] = ref / median
        nbytes = fused_bytes(op, shape)
        row["fused MB moved"] = nbytes / 1e6
        if "fused" in medians:
            row[f"fused GB/s ({device})"] = nbytes / medians["fused"] / 1e9
        row[f"µs at {BANDWIDTH}"] = 1e6 * roofline_seconds(nbytes)
        rows.append(row)
    return rows


def to_markdown(rows: list[dict]) -> str:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for col in columns:
            val = row.get(col, "")
            cells.append(f"{val:.3g}" if isinstance(val, float) else str(val))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", help="pytest-benchmark JSON (--benchmark-json)")
    parser.add_argument("--out", help="also write the Markdown table here (atomically)")
    args = parser.parse_args(argv)
    with open(args.json, encoding="utf-8") as fh:
        bench = json.load(fh)
    rows = speedup_rows(bench)
    if not rows:
        print(
            f"{args.json}: no ads_bench benchmark entries (was --benchmark-enable set?)",
            file=sys.stderr,
        )
        return 1
    machine = bench.get("machine_info", {})
    header = (
        f"Machine: {machine.get('cpu', {}).get('brand_raw', '?')}, "
        f"{machine.get('python_version', '?')}. Fused MB moved: forward + backward, each input read "
        f"once and each output written once (float32); µs at {BANDWIDTH}: those bytes at H100 SXM "
        "bandwidth."
    )
    table = f"{header}\n\n{to_markdown(rows)}\n"
    print(table)
    if args.out:
        atomic_write_text(args.out, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
