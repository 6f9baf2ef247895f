"""Running one stage in a test: a serial executor and a ``stage_runner`` fixture."""

from __future__ import annotations

import logging
from types import ModuleType

import pytest

from pipeline.config.schema import Config
from pipeline.engine.context import StageContext
from pipeline.engine.rundir import RunDir


class SerialExecutor:
    """Runs shard functions in order, in this process."""

    def map(self, fn, items, desc=""):
        return [fn(item) for item in items]


def run_stage(module: ModuleType, config: Config) -> dict:
    """Run a stage module's ``STAGE`` into ``config.run_dir/<stage>`` (upstream folders must
    already be there)."""
    stage = module.STAGE
    run = RunDir(config.run_dir)
    out = run.tmp_dir(stage.name)
    out.mkdir(parents=True)
    ctx = StageContext.open(stage, config, run, out, logging.getLogger(f"test.{stage.name}"),
                            SerialExecutor(), progress=False)
    counts = stage.run(ctx)
    out.rename(run.stage_dir(stage.name))
    return counts


@pytest.fixture
def stage_runner():
    """:func:`run_stage`, for tests that run one stage."""
    return run_stage

