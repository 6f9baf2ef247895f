"""A lock file so that two runs never write one run directory at once.

The lock records owner pid, host and start time, and on Linux the process's own start time and
the boot id, so that a recycled pid is not mistaken for the owner (in a container the pipeline
is often pid 1 in every run). A lock left by a dead process on this host is stale and is taken
over (with a log line); a live one makes the second run stop.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from pathlib import Path
from types import TracebackType

from pipeline.errors import LockError
from pipeline.manifest import now


def process_start(pid: int) -> str | None:
    """``<boot id>:<start time in clock ticks>`` of a process (Linux), None where unknown."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return f"{boot}:{fields[19]}" if len(fields) > 19 else None


def _alive(pid: int, start: str | None = None) -> bool:
    """Whether ``pid`` runs and, where the lock recorded its start, is that same process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return start is None or process_start(pid) in (None, start)


class RunLock:
    """Context manager holding ``run_dir/.lock``."""

    def __init__(self, run_dir: Path, log: logging.Logger | None = None) -> None:
        self.path = run_dir / ".lock"
        self.log = log or logging.getLogger("pipeline")

    def __enter__(self) -> RunLock:
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "started": now(),
                 "process_start": process_start(os.getpid())}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._take_over_if_stale()
                continue
            with os.fdopen(fd, "w") as fh:
                json.dump(owner, fh)
            return self
        raise LockError(f"{self.path}: could not take the lock.")

    def _take_over_if_stale(self) -> None:
        try:
            holder = json.loads(self.path.read_text())
        except (OSError, ValueError):
            holder = {}
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
        self.log.warning("taking over stale lock %s (%s)", self.path, holder or "unreadable")
        self.path.unlink(missing_ok=True)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.path.unlink(missing_ok=True)
