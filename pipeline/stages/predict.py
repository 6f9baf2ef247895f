"""predict: the fitted ridge models applied around every tile of the region.

Each tile gets the mean feature vector of the tiles within ``predict.radius_km`` (default:
``aggregate.radius_km``, or the ``aggregate.box_km`` box) of its centre, weighted as in
``aggregate`` — the same neighbourhood the models were trained on — and every target's model is
applied to it, with its prediction interval (CV+ from the fold models ``fit`` saved; see
:mod:`pipeline.evaluation.intervals` for what it promises) and out-of-distribution flag.

Inputs: ``fit/model.json``; ``extract/features.npy`` + ``extract/index.parquet``;
``ingest/tiles.parquet`` (footprints).
Outputs (``predict/``):
    grid.parquet  GeoParquet, one row per tile: tile_id, lon, lat, n_tiles (tiles averaged),
                  ``pred_<target>`` in the outcome's own units (exp() of the log model where
                  the target is logged); ``lower_<target>`` / ``upper_<target>``, the
                  prediction interval (``fit/model.json`` states its method and coverage,
                  ``fit/metrics.json`` its promise and its coverage measured on held-out
                  blocks);
                  ``ood_<target>``, True where the tile's features lie farther from every
                  training cluster's than the training clusters lie from each other;
                  geometry = tile footprint, EPSG:4326.

Work is split into blocks of tiles (``ctx.executor.map``, so it runs on Dask too); each worker
reads the features through a memory map and builds the neighbour index once per process.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from sklearn.neighbors import BallTree

from pipeline.config.schema import Config
from pipeline.geo.aggregation import tile_weights, weight_files, weighted_means
from pipeline.evaluation.apply import model_outputs
from pipeline.geo.neighbours import Neighbourhood, lonlat_tree
from pipeline.evaluation.ridge import load_models
from pipeline.engine.context import StageContext
from pipeline.stages.aggregate import neighbourhood
from pipeline.engine.stage import Stage

BLOCK_TILES = 2048


def input_files(config: Config) -> list[Path]:
    return weight_files(config.aggregate.weight, config.aggregate.population)


def map_neighbourhood(config: Config) -> Neighbourhood:
    """The tiles averaged around each tile: a radius of ``predict.radius_km`` when set, else
    the neighbourhood the models were trained on (``aggregate``'s)."""
    if config.predict.radius_km:
        return Neighbourhood(config.predict.radius_km)
    return neighbourhood(config.aggregate)


def apply_models(means: np.ndarray, models: dict[str, dict[str, Any]]) -> dict[str, np.ndarray]:
    """Each target's prediction, interval and OOD flag for rows of mean features.

    Predictions and interval ends are back in the outcome's units (exp() of the log model; see
    :func:`~pipeline.evaluation.apply.model_outputs`); rows with a NaN mean (no tiles around)
    get NaN predictions and are not flagged.
    """
    out = {}
    missing = np.isnan(means).any(axis=1)
    for target, spec in models.items():
        for key, values in model_outputs(np.nan_to_num(means), target, spec).items():
            out[key] = values & ~missing if key.startswith("ood_") else np.where(missing, np.nan,
                                                                                 values)
    return out


@dataclass(frozen=True)
class PredictJob:
    """One block of tiles to predict, as sent to a worker.

    Attributes:
        start, stop: catalog rows of the block.
        index: ``extract/index.parquet`` (every tile's lon/lat, WGS84).
        features: ``extract/features.npy``, float32 (n_tiles, d).
        weights: float64 (n_tiles,) ``.npy`` of per-tile weights, or None for plain means.
        models: ``fit/model.json``'s models.
        around: the tiles averaged around each tile.
    """

    start: int
    stop: int
    index: Path
    features: Path
    weights: Path | None
    models: dict[str, dict[str, Any]]
    around: Neighbourhood


@functools.lru_cache(maxsize=2)
def _neighbour_index(index: Path, mtime_ns: int) -> tuple[np.ndarray, np.ndarray, BallTree]:
    table = pd.read_parquet(index, columns=["lon", "lat"])
    lon, lat = table["lon"].to_numpy(), table["lat"].to_numpy()
    return lon, lat, lonlat_tree(lon, lat)


def predict_block(job: PredictJob) -> pd.DataFrame:
    """``n_tiles`` and :func:`apply_models`'s columns for rows ``start:stop``."""
    lon, lat, tree = _neighbour_index(job.index, job.index.stat().st_mtime_ns)
    features = np.load(job.features, mmap_mode="r")
    weights = None if job.weights is None else np.load(job.weights, mmap_mode="r")
    rows = slice(job.start, job.stop)
    groups = job.around.members(lon, lat, lon[rows], lat[rows], tree)
    means = weighted_means(features, groups, weights)
    counts = np.array([len(g) for g in groups], dtype=np.int64)
    return pd.DataFrame({"n_tiles": counts, **apply_models(means, job.models)})


def run(ctx: StageContext) -> dict[str, Any]:
    agg = ctx.config.aggregate
    catalog = gpd.read_parquet(ctx.input("ingest", "tiles.parquet"))
    index = pd.read_parquet(ctx.input("extract", "index.parquet"))
    weights = tile_weights(agg.weight, catalog, agg.population, agg.population_holds)
    weights_path = None if weights is None else ctx.out / ".weights.npy"
    if weights_path is not None:
        np.save(weights_path, weights)
    inputs = (ctx.input("extract", "index.parquet"), ctx.input("extract", "features.npy"))
    models = load_models(ctx.input("fit", "model.json"))
    around = map_neighbourhood(ctx.config)
    jobs = [PredictJob(start, min(start + BLOCK_TILES, len(index)), *inputs, weights_path, models,
                       around) for start in range(0, len(index), BLOCK_TILES)]
    blocks = pd.concat(ctx.executor.map(predict_block, jobs, desc="predict tiles"), ignore_index=True)
    columns = {key: blocks[key].to_numpy() for key in blocks.columns}
    grid = gpd.GeoDataFrame({"tile_id": index["tile_id"], "lon": index["lon"].to_numpy(),
                             "lat": index["lat"].to_numpy(), **columns},
                            geometry=catalog.geometry.to_numpy(), crs="EPSG:4326")
    grid.to_parquet(ctx.out / "grid.parquet")
    if weights_path is not None:
        weights_path.unlink()
    return {"tiles": len(grid), **{k: round(float(np.nanmean(v)), 4)
                                   for k, v in columns.items() if k.startswith(("pred_", "ood_"))}}


STAGE = Stage(
    name="predict",
    version=3,  # 3: CV+ interval ends
    inputs=("ingest", "extract", "fit"),
    outputs=("grid.parquet",),
    # the neighbourhood and tile weights the models were trained with (not which clusters
    # aggregate keeps: min_tiles, districts)
    config=("predict", "aggregate.radius_km", "aggregate.box_km", "aggregate.weight",
            "aggregate.population", "aggregate.population_holds"),
    run=run,
    input_files=input_files,
)
