"""extract: the feature vector of every tile, from the fine-tuned or the ImageNet-only network.

Inputs: ``ingest/tiles.parquet`` + ``ingest/cache/``; ``train/model.keras`` (``features.mode:
finetuned``, the default) or the backbone's ImageNet weights (``features.mode: frozen``:
``model.backbone`` / ``model.weights`` / ``model.input_size_px``, never fine-tuned).
Outputs (``extract/``):
    features.npy   float32 (n_tiles, feature_dim), row i = tile i of the catalog; assembled
                   through a memory map, shard by shard, so memory is bounded by a shard's size.
    index.parquet  row, tile_id, lon, lat (tile centroid, WGS84).

Work is split by cache shard (``ctx.executor.map``, so it runs on Dask too). Each shard returns
its features, which the executor saves as that shard's own result file (written to a temporary
name, flushed and renamed, then the shard's record); no two shards write to one file, so hosts
sharing the run directory over NFS never write back each other's pages. Once every shard is done,
the driver copies the shard files into ``features.npy`` one at a time, in catalog order; the
runner removes them when the stage finishes. Resuming is the executor's: a rerun of the same
computation keeps the temporary folder and runs only the shards without a record or whose file
cannot be read back (see :mod:`pipeline.engine.shards`), so a killed extract never redoes a finished
shard nor trusts a partial one.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.config.schema import Config
from pipeline.models.backbones import get_backbone
from pipeline.models.datasets import TileCache
from pipeline.models.extraction import (
    FeatureSource,
    assemble_features,
    extract_shard,
    finetuned_source,
    forward_for,
    imagenet_source,
    shard_jobs,
)
from pipeline.models.weights import Weights
from pipeline.tiles.cache import TileShape
from pipeline.engine.context import StageContext
from pipeline.engine.stage import Stage

IMAGENET_CONFIG = ("model.backbone", "model.weights", "model.input_size_px", "model.weights_dir")
"""The config keys :func:`backbone_source` reads (``model.weights_dir`` is cosmetic: it is left
out of fingerprints)."""
FINETUNED_INPUTS = ("ingest", "train")
FINETUNED_CONFIG = ("features",)  # the network, its size and weights are train's model.keras
FROZEN_INPUTS = ("ingest",)
FROZEN_CONFIG = ("features", *IMAGENET_CONFIG, "seed")
CATALOG_COLUMNS = ["tile_id", "lon", "lat", "shard", "offset"]


def inputs(config: Config) -> tuple[str, ...]:
    """Upstream stages read: frozen features never read ``train``."""
    return FROZEN_INPUTS if config.features.mode == "frozen" else FINETUNED_INPUTS


def config_keys(config: Config) -> tuple[str, ...]:
    """Config keys read: frozen features read the backbone's, not ``train``'s settings."""
    return FROZEN_CONFIG if config.features.mode == "frozen" else FINETUNED_CONFIG


def input_files(config: Config) -> list[Path]:
    frozen = config.features.mode == "frozen"
    return Weights.parse(config.model.weights).files() if frozen else []


def backbone_source(config: Config, tiles: TileShape) -> FeatureSource:
    """The never-trained ImageNet backbone of ``model`` (also the ``baselines`` stage's)."""
    model = config.model
    return imagenet_source(get_backbone(model.backbone), Weights.parse(model.weights),
                           model.input_size_px, model.weights_dir, tiles, config.seed)


def feature_source(ctx: StageContext, tiles: TileShape) -> FeatureSource:
    """The network ``features.mode`` asks for (weights resolved now, so errors come early)."""
    if ctx.config.features.mode == "finetuned":
        return finetuned_source(ctx.input("train", "model.keras"), tiles)
    source = backbone_source(ctx.config, tiles)
    ctx.log.info("frozen ImageNet features: backbone %s, weights %s", source.backbone,
                 source.weights_path or "random init (weights: none)")
    return source


def run(ctx: StageContext) -> dict[str, Any]:
    counts = extract_features(ctx, partial(feature_source, ctx))
    return {**counts, "mode": ctx.config.features.mode}


def extract_features(ctx: StageContext,
                     source_for: Callable[[TileShape], FeatureSource]) -> dict[str, Any]:
    """Write ``features.npy`` and ``index.parquet`` for ingest's tiles with the network
    ``source_for(tile shape)`` gives (also the prediction run's extract, with a bundle's)."""
    catalog = pd.read_parquet(ctx.input("ingest", "tiles.parquet"), columns=CATALOG_COLUMNS)
    cache_dir = ctx.input("ingest", "cache")
    tiles = TileCache(cache_dir).tile_shape(int(catalog["shard"].iloc[0]))
    source = source_for(tiles)
    _, dim = forward_for(source)
    jobs = shard_jobs(catalog, cache_dir, source, ctx.config.features.batch_size)
    parts = ctx.executor.map(extract_shard, jobs, desc="extract")
    assemble_features(ctx.out / "features.npy", jobs, parts, dim)
    catalog[["tile_id", "lon", "lat"]].assign(row=np.arange(len(catalog)))[
        ["row", "tile_id", "lon", "lat"]].to_parquet(ctx.out / "index.parquet", index=False)
    return {"tiles": len(catalog), "feature_dim": dim}


STAGE = Stage(
    name="extract",
    version=2,
    inputs=FINETUNED_INPUTS,
    outputs=("features.npy", "index.parquet"),
    config=tuple(dict.fromkeys(FINETUNED_CONFIG + FROZEN_CONFIG)),
    run=run,
    input_files=input_files,
    inputs_for=inputs,
    config_for=config_keys,
)
