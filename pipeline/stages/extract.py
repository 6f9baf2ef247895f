"""extract: the fine-tuned network's feature vector for every tile.

Inputs: ``train/model.keras``; ``ingest/tiles.parquet`` + ``ingest/cache/``.
Outputs (``extract/``):
    features.npy   float32 (n_tiles, feature_dim), row i = tile i of the catalog; written
                   through a memory map, so memory is bounded by the batch size.
    index.parquet  row, tile_id, lon, lat (tile centroid, WGS84).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import keras
import numpy as np
import pandas as pd

from pipeline.config import Config
from pipeline.models import feature_model
from pipeline.models.datasets import TileCache, tile_dataset
from pipeline.stages.context import StageContext

NAME = "extract"
VERSION = 1
INPUTS = ("ingest", "train")
OUTPUTS = ("features.npy", "index.parquet")
CONFIG = ("features",)


def input_files(config: Config) -> list[Path]:
    return []


def load_model(path: Path) -> keras.Model:
    """Load a saved classifier without executing arbitrary code (``safe_mode``)."""
    return keras.saving.load_model(path, safe_mode=True)


def run(ctx: StageContext) -> dict[str, Any]:
    catalog = gpd.read_parquet(ctx.input("ingest", "tiles.parquet"))
    model = load_model(ctx.input("train", "model.keras"))
    extractor = feature_model(model)
    input_px = int(model.inputs[0].shape[1])
    dim = int(extractor.outputs[0].shape[-1])
    features = np.lib.format.open_memmap(ctx.out / "features.npy", mode="w+",
                                         dtype=np.float32, shape=(len(catalog), dim))
    batch = ctx.config.features.batch_size
    data = tile_dataset(TileCache(ctx.input("ingest", "cache")), catalog["shard"].to_numpy(),
                        catalog["offset"].to_numpy(), None, batch, input_px)
    start = 0
    total = -(-len(catalog) // batch)
    for images in ctx.bar(data, total=total, desc="extract features"):
        out = extractor(images, training=False).numpy()
        features[start:start + len(out)] = out
        start += len(out)
    features.flush()
    del features
    pd.DataFrame({"row": np.arange(len(catalog)), "tile_id": catalog["tile_id"],
                  "lon": catalog["lon"], "lat": catalog["lat"]}).to_parquet(
        ctx.out / "index.parquet", index=False)
    return {"tiles": len(catalog), "feature_dim": dim}
