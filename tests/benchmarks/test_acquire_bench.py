"""benchmarks/acquire.py --quick: a whole run against local servers prints a RESULT line whose
figures are finite and positive, with and without the server's added latency."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # publishes scenes and runs three subprocesses

REPO = Path(__file__).resolve().parents[2]


def test_quick_acquire_bench_prints_a_result_line(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "acquire.py"), "--quick",
                             "--workdir", str(tmp_path)],
                            env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip().splitlines()[-1]
    found = re.fullmatch(r"RESULT acquire_vs_rasterio=(\S+) bytes_per_tile=(\S+) "
                         r"mem_4x_over_1x=(\S+) acquire_vs_rasterio_20ms=(\S+)", line)
    assert found, line
    values = [float(v) for v in found.groups()]
    assert all(math.isfinite(v) and v > 0 for v in values)
    assert "requests" in result.stdout and "KiB" in result.stdout
