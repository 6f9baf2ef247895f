"""The stages, in run order: :data:`PIPELINE`, the graph the CLI hands the runner, and
:data:`PREDICTION_PIPELINE`, a prediction run's (ingest -> extract -> predict -> export with a
model bundle and no survey; :func:`pipeline_for` picks one for a config).

Each module is wiring only (load the upstream artifacts, call the library, save) and ends by
declaring its :class:`~pipeline.engine.stage.Stage` as ``STAGE``: name, version, upstream
stages, outputs, the config keys it reads, the files outside the run directory it reads, and
``run(ctx) -> counts``.
"""

from __future__ import annotations

from pipeline.config.schema import Config
from pipeline.engine.stage import Stage
from pipeline.stages import (
    aggregate,
    baselines,
    export,
    extract,
    extract_bundled,
    fit,
    ingest,
    ingest_tiles,
    label,
    predict,
    predict_bundled,
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


PREDICTION_PIPELINE: tuple[Stage, ...] = (
    ingest_tiles.STAGE,
    extract_bundled.STAGE,
    predict_bundled.STAGE,
    export.PREDICTION_STAGE,
)
"""A prediction run (a config with ``bundle:``): a bundle applied to new tiles, no survey."""


def pipeline_for(config: Config) -> tuple[Stage, ...]:
    """The stages a config runs: :data:`PREDICTION_PIPELINE` with a bundle, else
    :data:`PIPELINE`."""
    return PREDICTION_PIPELINE if config.bundle is not None else PIPELINE


def stage_names() -> list[str]:
    """The stages' names, in run order."""
    return [stage.name for stage in PIPELINE]
