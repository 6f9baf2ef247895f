"""Running one stage in a test: a serial executor and a ``stage_runner`` fixture."""

from __future__ import annotations

import logging
from pathlib import Path
from types import ModuleType

import pytest

from pipeline.config.schema import Config
from pipeline.engine.context import StageContext


class SerialExecutor:
    """Runs shard functions in order, in this process."""

    def map(self, fn, items, desc=""):
        return [fn(item) for item in items]


def run_stage(stage: ModuleType, config: Config) -> dict:
    """Run one stage into ``config.run_dir/<stage>`` (upstream folders must already be there)."""
    run_dir = Path(config.run_dir)
    out = run_dir / f".tmp-{stage.NAME}"
    out.mkdir(parents=True)
    ctx = StageContext(config, run_dir, out, logging.getLogger(f"test.{stage.NAME}"),
                       SerialExecutor(), progress=False)
    counts = stage.run(ctx)
    out.rename(run_dir / stage.NAME)
    return counts


@pytest.fixture
def stage_runner():
    """:func:`run_stage`, for tests that run one stage."""
    return run_stage

