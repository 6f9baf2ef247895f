"""The stages, in run order. Each module has NAME, VERSION, INPUTS, OUTPUTS, CONFIG,
``input_files(config)`` and ``run(ctx) -> counts``; a stage whose upstream stages or config keys
depend on the config also has ``inputs(config)`` or ``config_keys(config)`` (see
:mod:`pipeline.engine.fingerprint`)."""

from __future__ import annotations

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

STAGES = (ingest, label, train, extract, baselines, aggregate, fit, predict, export)


def stage_names() -> list[str]:
    return [stage.NAME for stage in STAGES]
