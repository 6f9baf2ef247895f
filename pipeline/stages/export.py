"""export: the map as files people use.

Inputs: ``predict/grid.parquet``; ``ingest/tiles.parquet`` (CRS and tile grid) and
``ingest/clusters.parquet``; ``fit/metrics.json`` (for the title).
Outputs (``export/``):
    predictions.tif   float32 GeoTIFF in the tiles' CRS, one pixel per tile, one band per
                      target (band description ``pred_<target>``), NaN nodata.
    predictions.gpkg  layer ``predictions``: every tile's footprint and predictions (EPSG:4326).
    map.png           the ``export.target`` (default: first target) map with colour bar and
                      survey clusters.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import geopandas as gpd

from pipeline.config import Config
from pipeline.geo.rasterize import write_tile_raster
from pipeline.plots import plot_map, save_figure
from pipeline.stages.context import StageContext

NAME = "export"
VERSION = 1
INPUTS = ("ingest", "predict")
OUTPUTS = ("predictions.tif", "predictions.gpkg", "map.png")
CONFIG = ("export",)


def input_files(config: Config) -> list[Path]:
    return []


def run(ctx: StageContext) -> dict[str, Any]:
    config = ctx.config
    grid = gpd.read_parquet(ctx.input("predict", "grid.parquet"))
    catalog = gpd.read_parquet(ctx.input("ingest", "tiles.parquet"))
    clusters = gpd.read_parquet(ctx.input("ingest", "clusters.parquet"))
    columns = [c for c in grid.columns if c.startswith("pred_")]
    write_tile_raster(ctx.out / "predictions.tif", grid, catalog, columns)
    grid.to_file(ctx.out / "predictions.gpkg", layer="predictions", driver="GPKG")
    target = config.export.target or config.regression.targets[0].column
    title = f"{config.name}: predicted {target} ({date.today().isoformat()})"
    fig = plot_map(grid, f"pred_{target}", clusters, title=title, units=f"predicted {target}")
    save_figure(fig, ctx.out / "map.png")
    return {"cells": len(grid), "bands": len(columns)}
