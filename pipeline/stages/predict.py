"""predict: the fitted ridge models applied around every tile of the region.

Each tile gets the mean feature vector of the tiles within ``predict.radius_km`` (default:
``aggregate.radius_km``) of its centre — the same neighbourhood the models were trained on —
and every target's model is applied to it.

Inputs: ``fit/model.json``; ``extract/features.npy`` + ``extract/index.parquet``;
``ingest/tiles.parquet`` (footprints).
Outputs (``predict/``):
    grid.parquet  GeoParquet, one row per tile: tile_id, lon, lat, n_tiles (tiles averaged),
                  ``pred_<target>`` in the outcome's own units (exp() of the log model where
                  the target is logged); geometry = tile footprint, EPSG:4326.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.config import Config
from pipeline.geo.neighbours import lonlat_tree, neighbourhood_means
from pipeline.regression import RidgeModel, load_models
from pipeline.stages.context import StageContext

NAME = "predict"
VERSION = 1
INPUTS = ("ingest", "extract", "fit")
OUTPUTS = ("grid.parquet",)
CONFIG = ("predict", "aggregate")


def input_files(config: Config) -> list[Path]:
    return []


def apply_models(means: np.ndarray, models: dict[str, dict[str, Any]]) -> dict[str, np.ndarray]:
    """Each target's prediction for rows of mean features, back in the outcome's units."""
    out = {}
    for target, spec in models.items():
        pred = RidgeModel.from_dict(spec).predict(np.nan_to_num(means))
        pred = np.exp(pred) if spec["log"] else pred
        out[f"pred_{target}"] = np.where(np.isnan(means).any(axis=1), np.nan, pred)
    return out


def run(ctx: StageContext) -> dict[str, Any]:
    radius = ctx.config.predict.radius_km or ctx.config.aggregate.radius_km
    catalog = gpd.read_parquet(ctx.input("ingest", "tiles.parquet"))
    index = pd.read_parquet(ctx.input("extract", "index.parquet"))
    features = np.load(ctx.input("extract", "features.npy"), mmap_mode="r")
    models = load_models(ctx.input("fit", "model.json"))
    lon, lat = index["lon"].to_numpy(), index["lat"].to_numpy()
    tree = lonlat_tree(lon, lat)
    parts: list[dict[str, np.ndarray]] = []
    chunks = neighbourhood_means(features, tree, lon, lat, radius, chunk=2048)
    for means, counts in ctx.bar(chunks, total=-(-len(lon) // 2048), desc="predict tiles"):
        parts.append({"n_tiles": counts, **apply_models(means, models)})
    columns = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    grid = gpd.GeoDataFrame({"tile_id": index["tile_id"], "lon": lon, "lat": lat, **columns},
                            geometry=catalog.geometry.to_numpy(), crs="EPSG:4326")
    grid.to_parquet(ctx.out / "grid.parquet")
    return {"tiles": len(grid), **{k: round(float(np.nanmean(v)), 4)
                                   for k, v in columns.items() if k.startswith("pred_")}}
