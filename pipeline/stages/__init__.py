"""The stages, in run order: :data:`PIPELINE`, the graph the CLI hands the runner.

Each module is wiring only (load the upstream artifacts, call the library, save) and ends by
declaring its :class:`~pipeline.engine.stage.Stage` as ``STAGE``: name, version, upstream
stages, outputs, the config keys it reads, the files outside the run directory it reads, and
``run(ctx) -> counts``.
"""

from __future__ import annotations

from pipeline.engine.stage import Stage
from pipeline.stages import (
    aggregate,
    baselines,
    export,
    extract,
    fit,
    ingest,
    label,
    predict,
    train,
)

PIPELINE: tuple[Stage, ...] = (
    ingest.STAGE,
    label.STAGE,
    train.STAGE,
    extract.STAGE,
    baselines.STAGE,
    aggregate.STAGE,
    fit.STAGE,
    predict.STAGE,
    export.STAGE,
)


def stage_names() -> list[str]:
    """The stages' names, in run order."""
    return [stage.name for stage in PIPELINE]
