"""The training progress line on stderr: in place on a terminal, every 10 % otherwise."""

from __future__ import annotations

import sys
import time

__all__ = ["ProgressLine"]


class ProgressLine:
    """One status line ``<label> [it/total] <rate> it/s <info>`` on stderr.

    On a terminal it is redrawn in place at most twice a second; otherwise (a log file) one line is
    printed per tenth of ``total``. ``enabled=False`` prints nothing.
    """

    def __init__(self, total: int, label: str, enabled: bool):
        self.total, self.label, self.enabled = total, label, enabled
        self.tty = sys.stderr.isatty()
        self.start = time.perf_counter()
        self.last = -1.0
        self.last_decile = -1

    def update(self, it: int, info: str = "") -> None:
        """Report iteration ``it`` of ``total`` with ``info`` (e.g. the loss), if it is time to."""
        if not self.enabled or self.total == 0:
            return
        now = time.perf_counter()
        decile = (10 * it) // self.total
        if self.tty and now - self.last < 0.5 and it < self.total:
            return
        if not self.tty and decile == self.last_decile and it < self.total:
            return
        self.last, self.last_decile = now, decile
        rate = it / max(now - self.start, 1e-9)
        line = f"{self.label} [{it}/{self.total}] {rate:.1f} it/s {info}"
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr)
        if self.tty and it >= self.total:
            print(file=sys.stderr)
