"""extract: the feature vector of every tile, from the fine-tuned or the ImageNet-only network.

Inputs: ``ingest/tiles.parquet`` + ``ingest/cache/``; ``train/model.keras`` (``features.mode:
finetuned``, the default) or the backbone's ImageNet weights (``features.mode: frozen``:
``model.backbone`` / ``model.weights`` / ``model.input_size_px``, never fine-tuned).
Outputs (``extract/``):
    features.npy   float32 (n_tiles, feature_dim), row i = tile i of the catalog; written
                   through a memory map, batch by batch, so memory is bounded by the batch size.
    index.parquet  row, tile_id, lon, lat (tile centroid, WGS84).

Work is split by cache shard (``ctx.executor.map``, so it runs on Dask too), each shard writing
its rows of ``features.npy`` in the stage's temporary folder. Resuming is the executor's: a
shard's record is written only after its rows are flushed, and a rerun of the same computation
keeps the temporary folder and runs only the shards without a record (see
:mod:`pipeline.shards`), so a killed extract never redoes a finished shard nor trusts a partial
one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.config import Config
from pipeline.models.datasets import TileCache
from pipeline.models.extraction import (
    IMAGENET_CONFIG,
    FeatureSource,
    finetuned_source,
    forward_for,
    imagenet_source,
    stream_features,
)
from pipeline.stages.context import StageContext

NAME = "extract"
VERSION = 2
INPUTS = ("ingest", "train")
OUTPUTS = ("features.npy", "index.parquet")
CONFIG = ("features",)  # finetuned: the network, its size and weights are train's model.keras
FROZEN_INPUTS = ("ingest",)
FROZEN_CONFIG = ("features", *IMAGENET_CONFIG, "seed")
CATALOG_COLUMNS = ["tile_id", "lon", "lat", "shard", "offset"]


def inputs(config: Config) -> tuple[str, ...]:
    """Upstream stages read: frozen features never read ``train``."""
    return FROZEN_INPUTS if config.features.mode == "frozen" else INPUTS


def config_keys(config: Config) -> tuple[str, ...]:
    """Config keys read: frozen features read the backbone's, not ``train``'s settings."""
    return FROZEN_CONFIG if config.features.mode == "frozen" else CONFIG


def input_files(config: Config) -> list[Path]:
    weights = config.model.weights
    frozen = config.features.mode == "frozen"
    return [Path(weights)] if frozen and weights not in ("imagenet", "none") else []


@dataclass(frozen=True)
class ShardJob:
    """One cache shard's extraction, as sent to a worker.

    Attributes:
        shard: The cache shard.
        rows: Catalog rows (= rows of ``features``) of the shard's tiles, int (n,).
        offsets: Their positions in the shard file, int (n,).
        cache_dir: The ``ingest/cache`` folder.
        features: The ``.npy`` file the rows are written into.
        source: The network computing the features.
        batch_size: Tiles per forward pass.
    """

    shard: int
    rows: np.ndarray
    offsets: np.ndarray
    cache_dir: Path
    features: Path
    source: FeatureSource
    batch_size: int


def extract_shard(job: ShardJob) -> int:
    """Write one shard's features into their rows of ``job.features``; returns tiles written.

    The rows are flushed to disk before it returns, so the shard's record (written after it)
    never vouches for rows that are not there.
    """
    forward, _ = forward_for(job.source)
    features = np.load(job.features, mmap_mode="r+")
    shards = np.full(len(job.rows), job.shard)
    for start, values in stream_features(forward, TileCache(job.cache_dir), shards, job.offsets,
                                         job.batch_size):
        features[job.rows[start:start + len(values)]] = values
    features.flush()
    del features  # unmap: the touched pages leave this process's resident memory
    return len(job.rows)


def open_features(path: Path, n_tiles: int, dim: int) -> None:
    """Create ``path`` as a float32 (n_tiles, dim) ``.npy`` unless it already is one (resume)."""
    if path.exists():
        existing = np.load(path, mmap_mode="r")
        if existing.shape == (n_tiles, dim) and existing.dtype == np.float32:
            return
    np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n_tiles, dim)).flush()


def feature_source(ctx: StageContext, tile_px: int, bands: int) -> FeatureSource:
    """The network ``features.mode`` asks for (weights resolved now, so errors come early)."""
    if ctx.config.features.mode == "finetuned":
        return finetuned_source(ctx.input("train", "model.keras"), tile_px, bands)
    source = imagenet_source(ctx.config.model, tile_px, bands, ctx.config.seed)
    ctx.log.info("frozen ImageNet features: backbone %s, weights %s", source.backbone,
                 source.weights_path or "random init (weights: none)")
    return source


def shard_jobs(catalog: pd.DataFrame, cache_dir: Path, features: Path, source: FeatureSource,
               batch_size: int) -> list[ShardJob]:
    """One job per cache shard, in shard order."""
    shards = catalog["shard"].to_numpy()
    jobs = []
    for shard in np.unique(shards):
        rows = np.flatnonzero(shards == shard)
        jobs.append(ShardJob(int(shard), rows, catalog["offset"].to_numpy()[rows], cache_dir,
                             features, source, batch_size))
    return jobs


def run(ctx: StageContext) -> dict[str, Any]:
    catalog = pd.read_parquet(ctx.input("ingest", "tiles.parquet"), columns=CATALOG_COLUMNS)
    cache_dir = ctx.input("ingest", "cache")
    _, (_, tile_px, _, bands) = TileCache(cache_dir).layout(int(catalog["shard"].iloc[0]))
    source = feature_source(ctx, tile_px, bands)
    _, dim = forward_for(source)
    open_features(ctx.out / "features.npy", len(catalog), dim)
    jobs = shard_jobs(catalog, cache_dir, ctx.out / "features.npy", source,
                      ctx.config.features.batch_size)
    ctx.executor.map(extract_shard, jobs, desc="extract")
    catalog[["tile_id", "lon", "lat"]].assign(row=np.arange(len(catalog)))[
        ["row", "tile_id", "lon", "lat"]].to_parquet(ctx.out / "index.parquet", index=False)
    return {"tiles": len(catalog), "feature_dim": dim, "mode": ctx.config.features.mode}
