"""predict: the fitted ridge models applied around every tile of the region.

Each tile gets the mean feature vector of the tiles within ``predict.radius_km`` (default:
``aggregate.radius_km``, or the ``aggregate.box_km`` box) of its centre, weighted as in
``aggregate`` — the same neighbourhood the models were trained on — and every target's model is
applied to it, with its split-conformal interval and out-of-distribution flag from ``fit``.

Inputs: ``fit/model.json``; ``extract/features.npy`` + ``extract/index.parquet``;
``ingest/tiles.parquet`` (footprints).
Outputs (``predict/``):
    grid.parquet  GeoParquet, one row per tile: tile_id, lon, lat, n_tiles (tiles averaged),
                  ``pred_<target>`` in the outcome's own units (exp() of the log model where
                  the target is logged); ``lower_<target>`` / ``upper_<target>``, the
                  conformal prediction interval (``fit/model.json`` states its coverage);
                  ``ood_<target>``, True where the tile's features lie farther from every
                  training cluster's than the training clusters lie from each other;
                  geometry = tile footprint, EPSG:4326.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.config import Config
from pipeline.aggregation import chunked_means, tile_weights
from pipeline.evaluation.conformal import OodReference
from pipeline.geo.neighbours import lonlat_tree
from pipeline.regression import RidgeModel, load_models
from pipeline.stages.context import StageContext

NAME = "predict"
VERSION = 2
INPUTS = ("ingest", "extract", "fit")
OUTPUTS = ("grid.parquet",)
CONFIG = ("predict", "aggregate")


def input_files(config: Config) -> list[Path]:
    weighted = config.aggregate.weight == "population" and config.aggregate.population
    return [config.aggregate.population] if weighted else []


def apply_models(means: np.ndarray, models: dict[str, dict[str, Any]]) -> dict[str, np.ndarray]:
    """Each target's prediction, interval and OOD flag for rows of mean features.

    Predictions and interval ends are back in the outcome's units (exp() of the log model).
    """
    out = {}
    missing = np.isnan(means).any(axis=1)
    for target, spec in models.items():
        model = RidgeModel.from_dict(spec)
        z = model.prep.transform(np.nan_to_num(means))
        pred = z @ np.asarray(model.coef) + model.intercept
        half = float(spec.get("interval", {}).get("half_width", np.nan))
        back = np.exp if spec["log"] else (lambda v: v)
        for prefix, values in (("pred", pred), ("lower", pred - half), ("upper", pred + half)):
            out[f"{prefix}_{target}"] = np.where(missing, np.nan, back(values))
        if spec.get("ood"):
            out[f"ood_{target}"] = OodReference(**spec["ood"]).flag(z) & ~missing
    return out


def run(ctx: StageContext) -> dict[str, Any]:
    radius = ctx.config.predict.radius_km or ctx.config.aggregate.radius_km
    box_km = None if ctx.config.predict.radius_km else ctx.config.aggregate.box_km
    catalog = gpd.read_parquet(ctx.input("ingest", "tiles.parquet"))
    index = pd.read_parquet(ctx.input("extract", "index.parquet"))
    features = np.load(ctx.input("extract", "features.npy"), mmap_mode="r")
    models = load_models(ctx.input("fit", "model.json"))
    lon, lat = index["lon"].to_numpy(), index["lat"].to_numpy()
    tree = lonlat_tree(lon, lat)
    parts: list[dict[str, np.ndarray]] = []
    chunks = chunked_means(features, tree, lon, lat, radius, box_km,
                           tile_weights(ctx.config.aggregate, catalog))
    for means, counts in ctx.bar(chunks, total=-(-len(lon) // 2048), desc="predict tiles"):
        parts.append({"n_tiles": counts, **apply_models(means, models)})
    columns = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    grid = gpd.GeoDataFrame({"tile_id": index["tile_id"], "lon": lon, "lat": lat, **columns},
                            geometry=catalog.geometry.to_numpy(), crs="EPSG:4326")
    grid.to_parquet(ctx.out / "grid.parquet")
    return {"tiles": len(grid), **{k: round(float(np.nanmean(v)), 4)
                                   for k, v in columns.items() if k.startswith(("pred_", "ood_"))}}
