"""The run store: the one module that owns a run folder's layout, its writes and its lock.

A *run folder* holds one training run::

    DIR/config.json     resolved config (written when the run starts)
    DIR/checkpoint.pt   latest checkpoint (the resume point; the final one holds the trained model)
    DIR/history.csv     periodic and final evaluations (finished runs)
    DIR/result.json     {"config", "metrics", "metrics_eval_steps", "timing", "env"} (finished runs)
    DIR/error.json      {"config", "error", "traceback"} (failed runs)
    DIR/run.lock        held (``fcntl.flock``) by the process training the run, for its whole life

Guarantees (README, *The run store*):

- **Atomic writes.** Every file is written to a unique temporary name in the same folder
  (``tempfile.mkstemp``), flushed, fsynced and ``os.replace``d into place, so a reader sees the old
  file or the new one, never half of one, and two writers never share a temporary file.
- **One trainer per run.** :meth:`RunDir.lock` takes an exclusive ``flock`` on ``run.lock``
  (non-blocking: a run whose lock is held raises :class:`RunLocked`, "running elsewhere"). The kernel
  drops the lock when its process dies, however it dies, so a stale lock of a dead process is simply
  taken over. The lock file itself is never deleted (deleting a held lock file would let a second
  process lock a new file of the same name).
- **Safe loading.** Checkpoints load with ``weights_only=True`` (no code in a copied checkpoint runs);
  a file that cannot be read raises :class:`DamagedFileError` naming it, and :meth:`RunDir.quarantine`
  moves it aside (``NAME.damaged-<time>``) so the run can start again from scratch.

The atomic writes themselves live in :mod:`ads_bench.atomic_files`.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import json
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ads_bench.atomic_files import atomic_save, atomic_write_json, atomic_write_text

__all__ = ["DamagedFileError", "RunDir", "RunLocked", "StoreError", "canonical_config"]

CONFIG, RESULT, HISTORY, CHECKPOINT, ERROR, LOCK = (
    "config.json", "result.json", "history.csv", "checkpoint.pt", "error.json", "run.lock",
)  # fmt: skip


class StoreError(Exception):
    """A run folder cannot be used as asked (the message names the folder or file and why)."""


class RunLocked(StoreError):
    """Another live process holds the run's lock (it is being trained elsewhere)."""

    def __init__(self, path: Path, holder: str):
        self.path, self.holder = path, holder
        super().__init__(f"{path} is running elsewhere ({holder}); its lock is {path / LOCK}")


class DamagedFileError(StoreError):
    """A file of a run folder exists but cannot be read (truncated, corrupt, or not ours)."""

    def __init__(self, path: Path, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"damaged file {path}: {reason}")


def canonical_config(data: Any) -> str:
    """A config dict as a canonical string, for "is this the same config" comparisons.

    Compared as strings so that NaN equals NaN and int/float spellings are normalised alike. A config
    stored before a field existed is read with that field's default (``Config.from_dict``), the value
    that reproduces the behaviour of the time (see ``config._KEY_NEUTRAL``)."""
    from ads_bench.config import Config

    if isinstance(data, dict):
        try:
            data = Config.from_dict(data).as_dict()
        except (TypeError, ValueError):
            pass  # not a config this version can read: compared as stored, hence different
    return json.dumps(data, sort_keys=True, default=str)


# ---------------------------------------------------------------------------------- the run folder
class RunDir:
    """One run folder (see the module docstring for its files). Cheap to create; touches nothing
    until a method is called. ``path`` may not exist yet."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock_fd: int | None = None

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def file(self, name: str) -> Path:
        return self.path / name

    # ------------------------------------------------------------------ folder and lock
    def create(self) -> RunDir:
        """Make the folder (and parents); a clear :class:`StoreError` if it cannot be a folder."""
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(f"run folder {self.path} exists and is not a folder")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create run folder {self.path}: {exc.strerror or exc}"
            ) from None
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise StoreError(f"run folder {self.path} is not writable")
        return self

    @property
    def locked(self) -> bool:
        """Whether *this object* holds the run's lock."""
        return self._lock_fd is not None

    def acquire(self) -> None:
        """Take the run's exclusive lock or raise :class:`RunLocked` (never blocks)."""
        if self._lock_fd is not None:
            return
        self.create()
        fd = os.open(self.file(LOCK), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_holder(fd)
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunLocked(self.path, holder) from None
            raise StoreError(f"cannot lock {self.file(LOCK)}: {exc}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {os.uname().nodename}\n".encode(), 0)
        self._lock_fd = fd
        # Temporary files left by a writer that was killed mid-write: nobody else writes here now.
        for leftover in self.path.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                leftover.unlink()

    def release(self) -> None:
        if self._lock_fd is None:
            return
        fd, self._lock_fd = self._lock_fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the descriptor drops the flock

    @contextlib.contextmanager
    def lock(self) -> Iterator[RunDir]:
        """``with run.lock():`` hold the run's lock for the block (re-entrant for one object)."""
        held = self.locked
        self.acquire()
        try:
            yield self
        finally:
            if not held:
                self.release()

    def wait_unlocked(self, poll: float = 0.5, timeout: float | None = None) -> bool:
        """Block until no process holds the lock (True), or ``timeout`` seconds pass (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                with self.lock():
                    return True
            except RunLocked:
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                time.sleep(poll)

    # ------------------------------------------------------------------ JSON records
    def _read_json(self, name: str) -> dict | None:
        """The record, ``None`` if absent; :class:`DamagedFileError` if present but unreadable."""
        path = self.file(name)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise DamagedFileError(path, str(exc)) from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise DamagedFileError(path, f"not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise DamagedFileError(path, "not a JSON object")
        return data

    def read_config(self) -> dict | None:
        return self._read_json(CONFIG)

    def read_result(self) -> dict | None:
        data = self._read_json(RESULT)
        if data is not None and not isinstance(data.get("metrics"), dict):
            raise DamagedFileError(self.file(RESULT), "no 'metrics' object")
        return data

    def read_error(self) -> dict | None:
        return self._read_json(ERROR)

    def write_config(self, config: dict) -> None:
        atomic_write_json(self.file(CONFIG), config)

    def write_result(self, result: dict) -> None:
        atomic_write_json(self.file(RESULT), result)

    def write_error(self, config: dict, error: str, tb: str, *, kind: str = "failed") -> None:
        """``error.json``: ``kind`` ``"failed"`` (retried by the next sweep) or ``"diverged"`` (the
        run's outcome: training stopped by a non-finite value or the divergence guard; kept)."""
        atomic_write_json(
            self.file(ERROR), {"config": config, "error": error, "traceback": tb, "kind": kind}
        )

    def clear_error(self) -> None:
        self.file(ERROR).unlink(missing_ok=True)

    # ------------------------------------------------------------------ history
    def write_history(self, rows: Sequence[dict], columns: Sequence[str]) -> None:
        """``history.csv`` with ``columns`` (missing or ``None`` values as empty cells)."""
        import io

        buf = io.StringIO(newline="")
        writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
        atomic_write_text(self.file(HISTORY), buf.getvalue())

    def read_history(self) -> list[dict]:
        """Rows of ``history.csv`` as dicts of floats (``None`` for empty cells); ``[]`` if absent."""
        path = self.file(HISTORY)
        try:
            with open(path, encoding="utf-8", newline="") as fh:
                rows = list(csv.DictReader(fh))
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise DamagedFileError(path, str(exc)) from None
        return [{k: _num(v) for k, v in row.items()} for row in rows]

    # ------------------------------------------------------------------ checkpoint
    def has_checkpoint(self) -> bool:
        return self.file(CHECKPOINT).exists()

    def save_checkpoint(self, state: dict, name: str = CHECKPOINT) -> None:
        atomic_save(self.file(name), state)

    def load_checkpoint(self, map_location: Any = "cpu", name: str = CHECKPOINT) -> dict | None:
        """The checkpoint dict (``weights_only=True``), ``None`` if absent; a file that cannot be
        loaded raises :class:`DamagedFileError` naming it. ``name``: another checkpoint file of the
        folder (an ensemble's pending ``checkpoint.next.pt``)."""
        import pickle
        import zipfile

        import torch

        path = self.file(name)
        if not path.exists():
            return None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. torch's note on the pickle protocol
                state = torch.load(path, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError:
            raise DamagedFileError(
                path,
                "cannot load checkpoint: not plain tensor data (refused unread: loading it "
                "would run code from the file, and this package's checkpoints never need that)",
            ) from None
        except (RuntimeError, EOFError, OSError, ValueError, UnicodeDecodeError, KeyError,
                zipfile.BadZipFile, AttributeError, TypeError) as exc:  # fmt: skip
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DamagedFileError(path, f"cannot load checkpoint ({first[:200]})") from None
        if not isinstance(state, dict) or "iteration" not in state or "model" not in state:
            raise DamagedFileError(path, "not an ads_bench training checkpoint")
        return state

    def quarantine(self, name: str) -> Path | None:
        """Move ``name`` aside to ``name.damaged-<unix time>``; returns the new path (None if absent)."""
        src = self.file(name)
        if not src.exists():
            return None
        dst = self.file(f"{name}.damaged-{int(time.time())}-{os.getpid()}")
        os.replace(src, dst)
        return dst

    def clear(self) -> None:
        """Remove every record of the run (not the lock file): used for a folder that belongs to
        another config. Needs the lock."""
        if not self.locked:
            raise StoreError(f"{self.path}: clear() needs the run's lock")
        for entry in self.path.iterdir():
            if entry.name == LOCK:
                continue
            if entry.is_dir() and not entry.is_symlink():
                import shutil

                shutil.rmtree(entry)
            else:
                entry.unlink(missing_ok=True)

    # ------------------------------------------------------------------ state
    def status(self, config: dict | None = None) -> str:
        """What the folder holds for ``config`` (None: whatever config is stored), without the lock:

        - ``"done"``: ``result.json`` is readable and (if given) holds ``config``;
        - ``"diverged"``: ``error.json`` of that config saying training diverged, and no result;
        - ``"failed"``: another ``error.json`` of that config and no result;
        - ``"stale"``: the folder belongs to another config;
        - ``"partial"``: started (config and maybe a checkpoint, or a damaged result) but unfinished;
        - ``"missing"``: nothing there.
        """
        want = None if config is None else canonical_config(config)
        try:
            result = self.read_result()
        except DamagedFileError:
            result = None
            damaged = True
        else:
            damaged = False
        if result is not None:
            if want is None or canonical_config(result.get("config")) == want:
                return "done"
            return "stale"
        try:
            started = self.read_config()
        except DamagedFileError:
            started, damaged = None, True
        if started is not None and want is not None and canonical_config(started) != want:
            return "stale"
        try:
            error = self.read_error()
        except DamagedFileError:
            error = None
        if error is not None and (want is None or canonical_config(error.get("config")) == want):
            return "diverged" if error.get("kind") == "diverged" else "failed"
        if started is not None or damaged or self.has_checkpoint():
            return "partial"
        return "missing"

    # ------------------------------------------------------------------ trained model
    def load_model(self, device: str = "cpu"):
        """``(cfg, model, target)`` of a finished run: its config and final checkpoint's weights."""
        from ads_bench.config import Config
        from ads_bench.sampler import build_sampler
        from ads_bench.targets import get_target

        data = self.read_config()
        if data is None:
            raise StoreError(f"{self.path} holds no run ({CONFIG} missing)")
        cfg = Config.from_dict(data).with_overrides({"train.device": device})
        state = self.load_checkpoint(map_location=device)
        if state is None:
            raise StoreError(f"{self.path} has no {CHECKPOINT}")
        if state["iteration"] != cfg.train.iterations:
            raise StoreError(
                f"{self.file(CHECKPOINT)} is at iteration {state['iteration']} of "
                f"{cfg.train.iterations}: the run is unfinished"
            )
        target = get_target(cfg.target)
        model = build_sampler(cfg, target)
        model.load_state_dict(state["model"])
        return cfg, model.eval(), target


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text or "another process"


def _num(value: str | None) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        return None
