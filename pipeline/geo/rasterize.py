"""Burning per-tile values into a north-up Cloud-Optimized GeoTIFF in the tiles' own CRS."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
from rasterio.transform import from_origin, rowcol

from pipeline.geo.cog import write_cog


def raster_grid(catalog: gpd.GeoDataFrame) -> tuple[str, object, int, int]:
    """CRS, transform, width and height of a raster with one pixel per tile.

    Uses the most common tile CRS and the median tile width as the pixel size; the raster
    covers every tile's bounds in that CRS.
    """
    crs = catalog["crs"].mode().iloc[0]
    same = catalog[catalog["crs"] == crs]
    res = float(np.median(same["maxx"] - same["minx"]))
    bounds = catalog.geometry.to_crs(crs).total_bounds
    width = max(1, int(np.ceil((bounds[2] - bounds[0]) / res - 1e-6)))
    height = max(1, int(np.ceil((bounds[3] - bounds[1]) / res - 1e-6)))
    return crs, from_origin(bounds[0], bounds[3], res, res), width, height


def write_tile_raster(path: Path, grid: gpd.GeoDataFrame, catalog: gpd.GeoDataFrame,
                      columns: Sequence[str]) -> None:
    """Write ``columns`` of ``grid`` (one row per tile) as a float32 COG, NaN as nodata.

    Args:
        path: output Cloud-Optimized GeoTIFF (see :func:`pipeline.geo.cog.write_cog`).
        grid: per-tile values with tile footprints (any CRS).
        catalog: the tile catalog (crs, minx..maxy) that fixes the output grid.
        columns: one band per column; band descriptions are the column names.
    """
    crs, transform, width, height = raster_grid(catalog)
    centres = grid.geometry.to_crs(crs).centroid
    rows, cols = rowcol(transform, centres.x.to_numpy(), centres.y.to_numpy())
    rows, cols = np.asarray(rows), np.asarray(cols)
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    bands = np.full((len(columns), height, width), np.nan, dtype=np.float32)
    for band, column in enumerate(columns):
        values = grid[column].to_numpy(dtype=np.float64)
        ok = inside & np.isfinite(values)
        bands[band, rows[ok], cols[ok]] = values[ok]
    write_cog(path, bands, crs, transform, list(columns))
