"""A lock file so that two runs never write one run directory at once.

The lock records owner pid, host and start time, and the process's own start time (on Linux
with the boot id), so that a recycled pid is not mistaken for the owner (in a container the
pipeline is often pid 1 in every run). A lock left by a dead process on this host is stale and is
taken over (with a log line); a live one makes the second run stop.

The lock file appears with its content (written to a temporary file, then hard-linked into
place), so no run ever reads a half-written lock. Taking over a stale lock and releasing one both
hold an OS file lock (:mod:`filelock`: ``flock`` on Unix, ``LockFileEx`` on Windows) on the
empty file ``.lock.guard`` beside it, so two runs that find one stale lock cannot both take it,
and a run never removes a lock that no longer names it. Process checks go through
:mod:`psutil`, so the lock works alike on Linux, macOS and Windows.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import filelock
import psutil

from pipeline.errors import LockError
from pipeline.engine.manifest import now
from pipeline.engine.rundir import RunDir


GUARD_TIMEOUT_S = 60.0
"""How long a run waits for another run's takeover or release of the lock (both take moments)."""


def process_start(pid: int) -> str | None:
    """When a process started: ``<boot id>:<start time in clock ticks>`` on Linux, the start
    time in seconds since the epoch elsewhere; None where unknown (no such process)."""
    if not sys.platform.startswith("linux"):
        try:
            return repr(psutil.Process(pid).create_time())
        except psutil.Error:
            return None
    try:  # exact clock ticks: psutil's create_time() moves when the wall clock is set
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return f"{boot}:{fields[19]}" if len(fields) > 19 else None


def _alive(pid: int, start: str | None = None) -> bool:
    """Whether ``pid`` runs and, where the lock recorded its start, is that same process."""
    if pid <= 0 or not psutil.pid_exists(pid):
        return False
    return start is None or process_start(pid) in (None, start)


@contextmanager
def _current(path: Path) -> Iterator[str | None]:
    """The lock file's text, read while holding the guard beside it (so no other run replaces
    or removes the lock meanwhile); None if there is no lock file."""
    guard = filelock.FileLock(path.with_name(path.name + ".guard"), timeout=GUARD_TIMEOUT_S)
    try:
        guard.acquire()
    except filelock.Timeout as exc:
        raise LockError(f"{path}: another run has held {guard.lock_file} for more than "
                        f"{GUARD_TIMEOUT_S:.0f} s while taking over or releasing the lock. Run "
                        "again; delete both files if no run is using this run directory.") from exc
    try:
        try:
            text: str | None = path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            text = None
        except OSError as exc:
            raise LockError(f"{path}: cannot read the lock ({exc}). Delete the file if no run "
                            "is using this run directory.") from exc
        yield text
    finally:
        guard.release()


def _holder(text: str) -> dict[str, Any]:
    """The owner record in a lock's text; empty where it is not one (unreadable)."""
    try:
        holder = json.loads(text)
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


class RunLock:
    """Context manager holding ``run_dir/.lock``.

    Attributes:
        record: the owner record this run writes into the lock (JSON text), once entered.
    """

    def __init__(self, run_dir: Path, log: logging.Logger | None = None) -> None:
        self.path = RunDir(run_dir).lock_file
        self.log = log or logging.getLogger("pipeline")
        self.record = ""

    def __enter__(self) -> RunLock:
        self.record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                  "started": now(), "process_start": process_start(os.getpid())})
        tmp = self.path.with_name(f".lock.{uuid.uuid4().hex}.tmp")
        tmp.write_text(self.record, encoding="utf-8")
        try:
            for _ in range(3):
                try:
                    os.link(tmp, self.path)
                    return self
                except FileExistsError:
                    if self._take_over_if_stale(tmp):
                        return self
        finally:
            tmp.unlink(missing_ok=True)
        raise LockError(f"{self.path}: could not take the lock; it changed while this run "
                        "looked at it. Run again.")

    def _take_over_if_stale(self, tmp: Path) -> bool:
        """Replace a stale lock by ``tmp``: True if done, False if the lock changed meanwhile."""
        with _current(self.path) as text:
            if text is None:
                return False
            holder = _holder(text)
            self._refuse_if_held(holder)
            self.log.warning("taking over stale lock %s (%s)", self.path, holder or "unreadable")
            os.replace(tmp, self.path)
            return True

    def _refuse_if_held(self, holder: dict[str, Any]) -> None:
        pid, host = holder.get("pid"), holder.get("host")
        if host == socket.gethostname() and isinstance(pid, int) and _alive(
                pid, holder.get("process_start")):
            raise LockError(
                f"{self.path}: another run (pid {pid} on {host}, started "
                f"{holder.get('started')}) is writing this run directory. Wait for it, "
                f"or use another run directory."
            )
        if host not in (None, socket.gethostname()):
            raise LockError(
                f"{self.path}: held by pid {pid} on host {host} (started {holder.get('started')}); "
                "it cannot be checked from here. Delete the file if that run is dead."
            )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with _current(self.path) as text:
            if text == self.record:
                self.path.unlink()
            elif text is not None:
                self.log.warning("%s no longer names this run; left in place", self.path)
