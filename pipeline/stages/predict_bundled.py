"""predict (prediction run): the bundle's ridge models applied around every tile.

Each tile gets the mean feature vector of the tiles in the bundle's neighbourhood (or
``predict.radius_km`` when set), weighted as in the training run, and every target's model with
its interval and out-of-distribution flag (:mod:`pipeline.stages.predict`'s blocks, reused).
The share of tiles out of distribution is logged as a warning and counted in the manifest:
a map of a place unlike the training clusters says so on its face.

Inputs: the bundle (``models.json``, ``bundle.json``); ``extract/features.npy`` +
``extract/index.parquet``; ``ingest/tiles.parquet``.
Outputs (``predict/``): ``grid.parquet``, as a training run's predict writes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.bundles.format import Bundle, bundle_files, open_bundle
from pipeline.config.schema import Config
from pipeline.engine.context import StageContext
from pipeline.engine.manifest import package_version
from pipeline.engine.stage import Stage
from pipeline.geo.aggregation import tile_weights
from pipeline.geo.neighbours import Neighbourhood
from pipeline.outputs.report_prediction import ood_shares
from pipeline.stages.predict import BLOCK_TILES, PredictJob, predict_block


def input_files(config: Config) -> list[Path]:
    return bundle_files(config.bundle)


def bundle_neighbourhood(bundle: Bundle, radius_km: float | None) -> Neighbourhood:
    """``predict.radius_km`` when set, else the neighbourhood the bundle's models were fitted on."""
    if radius_km:
        return Neighbourhood(radius_km)
    around = bundle.info["features"]["neighbourhood"]
    return Neighbourhood(float(around["radius_km"]), around.get("box_km"))


def run(ctx: StageContext) -> dict[str, Any]:
    bundle = open_bundle(ctx.config.bundle, package_version())
    catalog = gpd.read_parquet(ctx.input("ingest", "tiles.parquet"))
    index = pd.read_parquet(ctx.input("extract", "index.parquet"))
    weights = tile_weights(bundle.info["features"]["weight"], catalog)
    weights_path = None if weights is None else ctx.out / ".weights.npy"
    if weights_path is not None:
        np.save(weights_path, weights)
    around = bundle_neighbourhood(bundle, ctx.config.predict.radius_km)
    inputs = (ctx.input("extract", "index.parquet"), ctx.input("extract", "features.npy"))
    jobs = [PredictJob(start, min(start + BLOCK_TILES, len(index)), *inputs, weights_path,
                       bundle.models, around) for start in range(0, len(index), BLOCK_TILES)]
    blocks = pd.concat(ctx.executor.map(predict_block, jobs, desc="predict tiles"),
                       ignore_index=True)
    grid = gpd.GeoDataFrame(pd.concat([index[["tile_id", "lon", "lat"]], blocks], axis=1),
                            geometry=catalog.geometry.to_numpy(), crs="EPSG:4326")
    grid.to_parquet(ctx.out / "grid.parquet")
    if weights_path is not None:
        weights_path.unlink()
    shares = ood_shares(grid)
    for target, share in shares.items():
        if share > 0:
            ctx.log.warning("%.1f%% of the map's tiles are out of distribution for %s: unlike "
                            "every training cluster of the bundle, so their predictions carry "
                            "no guarantee (ood_%s in the outputs)", 100 * share, target, target)
    return {"tiles": len(grid), **{f"ood_share_{t}": round(s, 4) for t, s in shares.items()}}


STAGE = Stage(
    name="predict",
    version=1,
    inputs=("ingest", "extract"),
    outputs=("grid.parquet",),
    config=("bundle", "predict"),
    run=run,
    input_files=input_files,
)
