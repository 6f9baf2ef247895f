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
Both are written through memory maps from batches of the cache, so memory is bounded by
``baselines.batch_size``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np

from pipeline.config import Config
from pipeline.models import build_classifier, feature_model, get_backbone, resolve_weights
from pipeline.models.datasets import TileCache, tile_dataset
from pipeline.models.random_features import featurise, make_filters
from pipeline.stages.context import StageContext

NAME = "baselines"
VERSION = 1
INPUTS = ("ingest",)
OUTPUTS = ("imagenet_features.npy", "random_features.npy")
CONFIG = ("baselines", "model.backbone", "model.weights", "model.input_size_px")
FILTER_SAMPLE_TILES = 1000


def input_files(config: Config) -> list[Path]:
    weights = config.model.weights
    return [Path(weights)] if weights not in ("imagenet", "none") else []


def _open(path: Path, rows: int, dim: int) -> np.ndarray:
    return np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, dim))


def imagenet_features(ctx: StageContext, cache: TileCache, shards: np.ndarray,
                      offsets: np.ndarray) -> dict[str, Any]:
    """Pooled features of the untrained ImageNet backbone for every tile, into the out folder."""
    cfg = ctx.config.model
    path = ctx.out / "imagenet_features.npy"
    if not ctx.config.baselines.imagenet:
        np.save(path, np.zeros((len(shards), 0), dtype=np.float32))
        return {}
    weights = resolve_weights(get_backbone(cfg.backbone), cfg.weights, cfg.input_size_px,
                              cfg.weights_dir)
    bands = cache.take(shards[:1], offsets[:1]).shape[-1]
    model = build_classifier(cfg.backbone, cfg.input_size_px, bands, 2, weights)
    extractor = feature_model(model)
    batch = ctx.config.baselines.batch_size
    data = tile_dataset(cache, shards, offsets, None, batch, cfg.input_size_px)
    out = _open(path, len(shards), int(extractor.outputs[0].shape[-1]))
    start = 0
    for images in ctx.bar(data, total=-(-len(shards) // batch), desc="imagenet features"):
        values = extractor(images, training=False).numpy()
        out[start:start + len(values)] = values
        start += len(values)
    out.flush()
    return {"imagenet_dim": int(out.shape[1]), "imagenet_weights": str(weights or "none")}


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
    out = _open(path, len(shards), filters.n_features)
    batches = ctx.bar(cache.batches(shards, offsets, cfg.batch_size),
                      total=-(-len(shards) // cfg.batch_size), desc="random features")
    featurise(batches, filters, out)
    out.flush()
    return {"random_dim": filters.n_features}


def run(ctx: StageContext) -> dict[str, Any]:
    catalog = gpd.read_parquet(ctx.input("ingest", "tiles.parquet"))
    cache = TileCache(ctx.input("ingest", "cache"))
    shards, offsets = catalog["shard"].to_numpy(), catalog["offset"].to_numpy()
    counts = {"tiles": len(catalog)}
    counts.update(imagenet_features(ctx, cache, shards, offsets))
    counts.update(mosaiks_features(ctx, cache, shards, offsets))
    return counts
