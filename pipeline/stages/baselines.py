"""baselines: image features that need no training, for the baselines ``fit`` reports.

Two tile featurisations that a fine-tuned model has to beat to earn its training:

- ImageNet features without fine-tuning: the configured backbone (``model.backbone``) with its
  ImageNet weights, global-average-pooled, exactly as ``train`` starts from but never trained.
- MOSAIKS-style random convolutional features (Rolf et al. 2021): random filters drawn from the
  tiles, ReLU and average pooling (see :mod:`pipeline.models.random_features`).

Inputs: ``ingest/tiles.parquet`` + ``ingest/cache/``; the backbone's weights (as ``train``).
Outputs (``baselines/``):
    imagenet_features.npy  float32 (n_tiles, backbone_dim), row i = catalog tile i;
                           (n_tiles, 0) when ``baselines.imagenet`` is false.
    random_features.npy    float32 (n_tiles, 2 * baselines.random_filters), row i = catalog
                           tile i; (n_tiles, 0) when ``baselines.random_filters`` is 0.
Both are written through memory maps from batches of the cache, streamed by the extract
stage's own loop (:func:`pipeline.models.extraction.stream_features`; the ImageNet network is
``features.mode: frozen``'s), so memory is bounded by ``baselines.batch_size``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np

from pipeline.config.schema import Config
from pipeline.models.datasets import TileCache
from pipeline.models.extraction import Forward, forward_for, stream_features
from pipeline.models.random_features import make_filters, random_features
from pipeline.models.weights import Weights
from pipeline.engine.context import StageContext
from pipeline.stages.extract import IMAGENET_CONFIG, backbone_source
from pipeline.engine.stage import Stage

FILTER_SAMPLE_TILES = 1000


def input_files(config: Config) -> list[Path]:
    return Weights.parse(config.model.weights).files()


def write_features(ctx: StageContext, forward: Forward, dim: int, cache: TileCache,
                   shards: np.ndarray, offsets: np.ndarray, path: Path, desc: str) -> None:
    """Every tile's features, streamed in ``baselines.batch_size`` batches, into a float32
    ``.npy`` of shape (n_tiles, dim) (row i = catalog tile i)."""
    batch = ctx.config.baselines.batch_size
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(len(shards), dim))
    stream = stream_features(forward, cache, shards, offsets, batch)
    for start, values in ctx.bar(stream, total=-(-len(shards) // batch), desc=desc):
        out[start:start + len(values)] = values
    out.flush()


def imagenet_features(ctx: StageContext, cache: TileCache, shards: np.ndarray,
                      offsets: np.ndarray) -> dict[str, Any]:
    """Pooled features of the untrained ImageNet backbone for every tile, into the out folder."""
    path = ctx.out / "imagenet_features.npy"
    if not ctx.config.baselines.imagenet:
        np.save(path, np.zeros((len(shards), 0), dtype=np.float32))
        return {}
    source = backbone_source(ctx.config, cache.tile_shape(int(shards[0])))
    forward, dim = forward_for(source)
    write_features(ctx, forward, dim, cache, shards, offsets, path, "imagenet features")
    return {"imagenet_dim": dim, "imagenet_weights": str(source.weights_path or "none")}


def mosaiks_features(ctx: StageContext, cache: TileCache, shards: np.ndarray,
                     offsets: np.ndarray) -> dict[str, Any]:
    """Random convolutional features for every tile, into the out folder."""
    cfg = ctx.config.baselines
    path = ctx.out / "random_features.npy"
    if cfg.random_filters == 0:
        np.save(path, np.zeros((len(shards), 0), dtype=np.float32))
        return {}
    rng = np.random.default_rng(ctx.config.seed)
    pick = np.sort(rng.choice(len(shards), min(FILTER_SAMPLE_TILES, len(shards)), replace=False))
    filters = make_filters(cache.take(shards[pick], offsets[pick]), cfg.random_filters,
                           cfg.patch_px, cfg.whiten, ctx.config.seed)
    forward = functools.partial(random_features, filters=filters)
    write_features(ctx, forward, filters.n_features, cache, shards, offsets, path,
                   "random features")
    return {"random_dim": filters.n_features}


def run(ctx: StageContext) -> dict[str, Any]:
    catalog = gpd.read_parquet(ctx.input("ingest", "tiles.parquet"))
    cache = TileCache(ctx.input("ingest", "cache"))
    shards, offsets = catalog["shard"].to_numpy(), catalog["offset"].to_numpy()
    counts = {"tiles": len(catalog)}
    counts.update(imagenet_features(ctx, cache, shards, offsets))
    counts.update(mosaiks_features(ctx, cache, shards, offsets))
    return counts


STAGE = Stage(
    name="baselines",
    version=1,
    inputs=("ingest",),
    outputs=("imagenet_features.npy", "random_features.npy"),
    config=("baselines", *IMAGENET_CONFIG, "seed"),
    run=run,
    input_files=input_files,
)
