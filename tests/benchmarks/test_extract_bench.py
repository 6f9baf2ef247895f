"""benchmarks/extract.py: the FLOP count against the MobileNet paper, and a tiny full run."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # benchmarks

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "extract.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_extract", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_flops_match_the_mobilenet_paper() -> None:
    from pipeline.models import build_classifier, feature_model

    bench = load_bench()
    # Howard et al. 2017, Table 7: 0.25 MobileNet-224 has 41 M multiply-adds, of which the
    # 1000-way classifier (256 x 1000) is 0.256 M; the feature model has no classifier.
    flops = bench.conv_flops(feature_model(build_classifier("mobilenet_0.25", 224, 3, 3, None)))
    assert flops / 2 == pytest.approx(41e6 - 0.256e6, rel=0.02)
    small = bench.conv_flops(feature_model(build_classifier("mobilenet_0.25", 128, 3, 3, None)))
    assert small == pytest.approx(flops * (128 / 224) ** 2, rel=0.02)


def test_tiny_run_prints_the_result_line() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--tiles", "256", "--memory-tiles", "64",
         "--train-tiles", "64", "--train-batch", "32", "--rounds", "1", "--matmul-seconds", "0.2",
         "--input-px", "64"],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-2000:]
    last = result.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"RESULT extract_vs_pure=([\d.]+) train_vs_inmemory=([\d.]+) "
                         r"flop_share=([\d.]+) mem_4x_over_1x=([\d.]+)", last)
    assert match, last
    assert all(float(value) > 0 for value in match.groups())
