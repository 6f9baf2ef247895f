"""Burning per-tile values into a north-up GeoTIFF in the tiles' own CRS."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from rasterio.features import rasterize
from rasterio.transform import from_origin


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
    """Write ``columns`` of ``grid`` (one row per tile) as float32 bands, NaN as nodata.

    Args:
        path: output GeoTIFF (tiled, deflate-compressed).
        grid: per-tile values with tile footprints (any CRS).
        catalog: the tile catalog (crs, minx..maxy) that fixes the output grid.
        columns: one band per column; band descriptions are the column names.
    """
    crs, transform, width, height = raster_grid(catalog)
    shapes = grid.geometry.to_crs(crs)
    profile = {"driver": "GTiff", "dtype": "float32", "count": len(columns), "crs": crs,
               "transform": transform, "width": width, "height": height, "nodata": np.nan,
               "compress": "deflate", "tiled": width >= 16 and height >= 16,
               "blockxsize": 16, "blockysize": 16}
    with rasterio.open(path, "w", **profile) as dst:
        for band, column in enumerate(columns, start=1):
            values = grid[column].to_numpy(dtype=np.float64)
            ok = np.isfinite(values)
            image = rasterize(
                [(geom.centroid, v) for geom, v in zip(shapes[ok], values[ok])],
                out_shape=(height, width), transform=transform, fill=np.nan, dtype="float32",
            ) if ok.any() else np.full((height, width), np.nan, dtype=np.float32)
            dst.write(image, band)
            dst.set_band_description(band, column)
