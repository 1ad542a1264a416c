"""Helpers shared by several test modules: folder digests, live processes (Linux /proc), waiting."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def folder_digest(folder: Path) -> dict[str, str]:
    """SHA-256 of every file below ``folder``, by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def paper_figures_digest() -> dict[str, str]:
    """The digest of the committed ``paper_figures/`` (the smoke runs of the figure scripts compare
    it before and after: they must never write there)."""
    return folder_digest(ROOT / "paper_figures")


def children(pid: int) -> list[int]:
    """Live child processes of ``pid``."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            kids.append(int(stat.parent.name))
    return kids


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(cond, proc=None, timeout: float = 120.0, what: str = "the subprocess") -> None:
    """Poll ``cond()`` until true; fail if ``proc`` exits first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while not cond():
        if proc is not None:
            assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
