"""``manifest.json``: the run (id, config, executor, host, times, status) and, per stage, its
fingerprint, status, times, counts and outputs.

Written atomically (temporary file + ``os.replace``) after every change, so a crash leaves
either the previous manifest or the new one, never a torn file.
"""

from __future__ import annotations

import json
import os
import platform
import socket
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from pipeline.engine.rundir import RunDir
from pipeline.errors import InputDataError

DONE, SKIPPED, RUNNING, FAILED = "done", "skipped", "running", "failed"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def package_version() -> str:
    try:
        return metadata.version("poverty-pipeline")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def versions() -> dict[str, str]:
    names = ("tensorflow", "keras", "rasterio", "geopandas", "scikit-learn", "numpy")
    out = {"python": platform.python_version(), "poverty-pipeline": package_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


@dataclass
class Manifest:
    """The run directory's manifest; ``stages`` maps a stage name to its entry (a dict).

    ``run`` describes the latest invocation: ``id`` (the run directory's name), ``name`` and
    ``config`` (the config's name and file), ``executor``, ``host``, ``started``, and once it
    ends ``finished`` and ``status`` (``ok`` | ``failed`` | ``interrupted``).
    """

    path: Path
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, run_dir: Path) -> Manifest:
        path = RunDir(run_dir).manifest_file
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise TypeError(f"a JSON object expected, found {json.dumps(data)[:40]}")
        except (OSError, TypeError, ValueError) as exc:
            raise InputDataError(
                f"{path}: unreadable manifest ({exc}). Delete it to rerun every stage."
            ) from exc
        return cls(path, dict(data.get("stages", {})), dict(data.get("run", {})))

    def save(self) -> None:
        tmp = self.path.with_suffix(".json.tmp")
        payload = {"versions": versions(), "run": self.run, "stages": self.stages}
        tmp.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
        os.replace(tmp, self.path)

    def entry(self, stage: str) -> dict[str, Any]:
        return self.stages.get(stage, {})

    def start_run(self, name: str, config: str | None, executor: str) -> None:
        """Record that a run of this directory starts now."""
        self.run = {"id": self.path.parent.name, "name": name, "config": config,
                    "executor": executor, "host": socket.gethostname(), "started": now()}
        self.save()

    def finish_run(self, status: str) -> None:
        """Record how the run ended: ``ok``, ``failed`` or ``interrupted``."""
        self.run.update(status=status, finished=now())
        self.save()

    def update(self, stage: str, **values: Any) -> None:
        self.stages.setdefault(stage, {}).update(values)
        self.save()
