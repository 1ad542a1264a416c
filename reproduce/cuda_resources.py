"""Resource usage of every CUDA kernel: registers, shared memory, stack and spills, per architecture.

    python reproduce/cuda_resources.py [--archs 80 90] [--out results]

Compiles each ``csrc/cuda/*.cu`` with plain ``nvcc`` (no GPU and no PyTorch needed: the ``.cu`` files
use raw pointers and the CUDA runtime only) for each architecture with ``-Xptxas -v`` and all warnings
as errors, parses what ``ptxas`` reports for every kernel (entry function) and writes
``OUT/cuda_resources.md`` and ``OUT/cuda_resources.json`` (atomically); prints the Markdown table.
``tests/test_cuda_sources.py`` uses the same compile command and parser: it fails on any register
spill and on any ``__global__`` kernel of the sources missing from the table.

The flags are those of the test (``-O3``, C++17); the package build (setup.py) adds PyTorch's usual
nvcc defines, which do not touch these kernels. Exits 2 with a one-line reason when nvcc is absent.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ads_bench.atomic_files import atomic_write_json, atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
CUDA_DIR = ROOT / "csrc" / "cuda"
ARCHS = ("80", "90")
COLUMNS = ("registers", "shared_bytes", "stack_bytes", "spill_stores", "spill_loads", "barriers")


def find_nvcc() -> str | None:
    """``$CUDA_HOME/bin/nvcc`` (or ``$CUDA_PATH``), else the ``nvcc`` on PATH, else None."""
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    if home and (Path(home) / "bin" / "nvcc").exists():
        return str(Path(home) / "bin" / "nvcc")
    return shutil.which("nvcc")


def cuda_sources() -> list[Path]:
    return sorted(CUDA_DIR.glob("*.cu"))


def nvcc_command(nvcc: str, source: Path, arch: str, out: Path) -> list[str]:
    """Compile one ``.cu`` for one architecture: warnings are errors, ptxas reports resources."""
    return [
        nvcc, "-c", "-std=c++17", "-O3",
        f"-I{ROOT / 'csrc' / 'include'}", f"-I{source.parent}",
        "-gencode", f"arch=compute_{arch},code=sm_{arch}",
        "-Werror", "all-warnings", "-Xcompiler", "-Wall,-Wextra,-Werror",
        "-Xptxas", "-v",
        str(source), "-o", str(out),
    ]  # fmt: skip


@functools.cache
def compile_source(nvcc: str, source: Path, arch: str) -> tuple[int, str]:
    """(nvcc's exit code, its output); cached, so the tests and the report compile each pair once."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = nvcc_command(nvcc, source, arch, Path(tmp) / "out.o")
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    return proc.returncode, proc.stdout + proc.stderr


_ENTRY = re.compile(r"Compiling entry function '([^']+)' for '(sm_\w+)'")
_STACK = re.compile(
    r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads"
)  # fmt: skip
_USED = re.compile(r"Used (\d+) registers")
_SMEM = re.compile(r"(\d+) bytes smem")
_BARRIERS = re.compile(r"used (\d+) barriers")


def parse_ptxas(log: str) -> list[dict]:
    """One dict per entry function in ``ptxas -v`` output: mangled name, arch and COLUMNS."""
    kernels: list[dict] = []
    current: dict | None = None
    for line in log.splitlines():
        if m := _ENTRY.search(line):
            current = {"mangled": m.group(1), "arch": m.group(2), **dict.fromkeys(COLUMNS, 0)}
            kernels.append(current)
        elif current is None:
            continue
        elif m := _STACK.search(line):
            current["stack_bytes"], current["spill_stores"], current["spill_loads"] = (
                int(v) for v in m.groups()
            )
        elif m := _USED.search(line):
            current["registers"] = int(m.group(1))
            if s := _SMEM.search(line):
                current["shared_bytes"] = int(s.group(1))
            if b := _BARRIERS.search(line):
                current["barriers"] = int(b.group(1))
            current = None  # the entry's report is complete
    return kernels


def source_kernels(source: Path) -> list[str]:
    """Names of the ``__global__`` functions defined in a source file."""
    pattern = r"__global__\s+void\s+(?:__launch_bounds__\s*\([^)]*\)\s+)?(\w+)\s*\("
    return sorted(set(re.findall(pattern, source.read_text())))


def demangle(names: list[str]) -> list[str]:
    """The names as ``c++filt`` demangles them (unchanged where it is absent)."""
    filt = shutil.which("c++filt")
    if filt is None or not names:
        return list(names)
    out = subprocess.run([filt], input="\n".join(names), capture_output=True, text=True).stdout
    readable = out.splitlines()
    return readable if len(readable) == len(names) else list(names)


def kernel_base(mangled: str, names: list[str]) -> str | None:
    """Which of the source's kernel names a mangled entry is (Itanium mangling: <length><name>)."""
    found = [n for n in names if f"{len(n)}{n}" in mangled]
    return max(found, key=len) if found else None


def short_name(demangled: str, base: str | None) -> str:
    """``tb_log_w_kernel<float, 32>`` out of ``void ads_bench::(anonymous namespace)::tb_log_w_...``."""
    if base is None:
        return demangled
    i = demangled.find(base + "<")
    if i < 0:
        return base if base in demangled else demangled
    depth = 0
    for j in range(i + len(base), len(demangled)):
        depth += (demangled[j] == "<") - (demangled[j] == ">")
        if depth == 0:
            return demangled[i : j + 1]
    return demangled


def collect(nvcc: str, archs=ARCHS) -> tuple[list[dict], list[str]]:
    """(one row per kernel and arch, compile errors). Rows carry source, kernel, name and COLUMNS."""
    rows, errors = [], []
    for source in cuda_sources():
        names = source_kernels(source)
        for arch in archs:
            code, log = compile_source(nvcc, source, arch)
            if code != 0:
                errors.append(f"nvcc failed for {source.name} sm_{arch}:\n{log}")
                continue
            entries = parse_ptxas(log)
            readable = demangle([e["mangled"] for e in entries])
            for entry, full in zip(entries, readable, strict=True):
                base = kernel_base(entry["mangled"], names)
                rows.append({"source": source.name, "kernel": base,
                             "name": short_name(full, base), **entry})  # fmt: skip
    rows.sort(key=lambda r: (r["source"], r["name"], r["arch"]))
    return rows, errors


def to_markdown(rows: list[dict]) -> str:
    lines = [
        "| source | kernel | arch | registers | shared memory (B) | stack (B) | spill stores (B) "
        "| spill loads (B) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['source']} | `{r['name']}` | {r['arch']} | {r['registers']} | "
            f"{r['shared_bytes']} | {r['stack_bytes']} | {r['spill_stores']} | {r['spill_loads']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=list(ARCHS), help="e.g. 80 90")
    parser.add_argument("--out", default="results", help="folder for cuda_resources.{md,json}")
    args = parser.parse_args(argv)
    nvcc = find_nvcc()
    if nvcc is None:
        print("cuda_resources: nvcc not found (set CUDA_HOME or add it to PATH)", file=sys.stderr)
        return 2
    rows, errors = collect(nvcc, tuple(args.archs))
    for e in errors:
        print(e, file=sys.stderr)
    lines = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout.splitlines()
    version = next((ln.split("release", 1)[1].strip(" ,") for ln in lines if "release" in ln), "?")
    table = to_markdown(rows)
    spills = [r for r in rows if r["spill_stores"] or r["spill_loads"]]
    note = (
        f"nvcc {version}; `ptxas -v`, -O3; {len(rows)} (kernel, arch) pairs; {len(spills)} spill."
    )
    print(f"{note}\n\n{table}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "cuda_resources.md", f"{note}\n\n{table}\n")
    payload = {"nvcc": version, "archs": args.archs, "rows": rows, "errors": errors}
    atomic_write_json(out / "cuda_resources.json", payload)
    return 1 if errors or spills else 0


if __name__ == "__main__":
    raise SystemExit(main())
