"""The command line in a subprocess, for the robustness suites."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def cli(*args: object, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *map(str, args)],
                          capture_output=True, text=True, env=ENV, timeout=timeout, check=False)


def edit(path: Path, change) -> Path:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))
    return path


def assert_exit_2(result: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit code 2, no traceback, one ``error:`` line holding every needle; returns that line."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]
