"""extract (prediction run): every tile's features from the bundle's fine-tuned network.

Inputs: ``ingest/tiles.parquet`` + ``ingest/cache/``; the bundle's ``network.keras`` (loaded
with ``safe_mode=True``).
Outputs (``extract/``): ``features.npy`` and ``index.parquet``, as a training run's extract
writes them (:mod:`pipeline.stages.extract`, whose sharded extraction this reuses).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from pipeline.bundles.format import bundle_files, open_bundle
from pipeline.config.schema import Config
from pipeline.engine.context import StageContext
from pipeline.engine.manifest import package_version
from pipeline.engine.stage import Stage
from pipeline.models.extraction import finetuned_source
from pipeline.stages.extract import extract_features


def input_files(config: Config) -> list[Path]:
    return bundle_files(config.bundle)


def run(ctx: StageContext) -> dict[str, Any]:
    bundle = open_bundle(ctx.config.bundle, package_version())
    return {**extract_features(ctx, partial(finetuned_source, bundle.network)),
            "mode": "bundle"}


STAGE = Stage(
    name="extract",
    version=1,
    inputs=("ingest",),
    outputs=("features.npy", "index.parquet"),
    config=("bundle", "features.batch_size"),
    run=run,
    input_files=input_files,
)
