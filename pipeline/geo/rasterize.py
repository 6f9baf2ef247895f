"""Burning per-tile values into a north-up Cloud-Optimized GeoTIFF in the tiles' own CRS.

One pixel per tile. Along each axis the pixel size is the tiles' stride (the median spacing of
their distinct centre coordinates), and the pixel edges are placed in the gaps between
neighbouring centres, so that every tile of a regular grid gets its own pixel, including
mosaic windows that overlap and the last row and column that ingest shifts inward. Tiles
that still share a pixel (irregular layouts) are averaged there, counted and warned about.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import geopandas as gpd
import numpy as np
from affine import Affine
from rasterio.transform import from_origin

from pipeline.geo.cog import write_cog

_LOG = logging.getLogger(__name__)
SAME_FRACTION = 1e-6  # centre coordinates closer than this share of a tile's size are one


@dataclass(frozen=True)
class TilePixels:
    """The output grid and the pixel of each tile.

    Attributes:
        crs: the most common tile CRS (authority string or WKT), the raster's CRS.
        transform: north-up affine transform of the raster, ``crs`` units.
        width: raster width in pixels.
        height: raster height in pixels.
        rows: (n_tiles,) int row of each tile's pixel, 0 at the top.
        cols: (n_tiles,) int column of each tile's pixel.
    """

    crs: str
    transform: Affine
    width: int
    height: int
    rows: np.ndarray
    cols: np.ndarray

    @cached_property
    def shared(self) -> int:
        """How many tiles lie in a pixel that holds more than one tile."""
        _, counts = np.unique(self.rows * self.width + self.cols, return_counts=True)
        return int(counts[counts > 1].sum())


def axis_pixels(centres: np.ndarray, size: float) -> tuple[float, float, np.ndarray]:
    """Pixel size, low edge of pixel 0 and pixel index of each centre along one axis.

    Args:
        centres: (n,) tile centre coordinates along the axis, CRS units.
        size: the tiles' median size along the axis, CRS units; the pixel size when all the
            centres are one.

    Returns:
        The pixel size, the coordinate where pixel 0 begins, and (n,) int indexes (ascending
        with the coordinate, starting at 0). Distinct centres get distinct indexes whenever
        one placement of the pixel edges in the gaps between centres allows it.
    """
    step = size * SAME_FRACTION
    keys, tile_key = np.unique(np.round(centres / step), return_inverse=True)
    distinct = keys * step
    res = float(np.median(np.diff(distinct))) if len(distinct) > 1 else float(size)
    gaps = (distinct[:-1] + distinct[1:]) / 2 - distinct[0]
    phases = np.unique(np.round(np.mod(gaps, res) / step)) * step
    edges = (distinct[0] - res / 2, *(distinct[0] + phases - res))  # centred on tile 0 first

    def index_from(edge: float) -> np.ndarray:
        return np.floor((distinct - edge) / res).astype(np.int64)

    edge = next((e for e in edges if np.all(np.diff(index_from(e)) > 0)), edges[0])
    index = index_from(edge)
    return res, edge + index[0] * res, (index - index[0])[tile_key.ravel()]


def tile_pixels(grid: gpd.GeoDataFrame, catalog: gpd.GeoDataFrame) -> TilePixels:
    """The raster grid in the most common tile CRS and the pixel of each of ``grid``'s tiles.

    Args:
        grid: one row per tile, geometry = its footprint (any CRS).
        catalog: the tile catalog (crs, minx..maxy) giving the CRS and the median tile size.
    """
    crs = catalog["crs"].mode().iloc[0]
    same = catalog[catalog["crs"] == crs]
    centres = grid.geometry.to_crs(crs).centroid
    tile_w, tile_h = (float(np.median(same[hi] - same[lo])) for lo, hi in
                      (("minx", "maxx"), ("miny", "maxy")))
    res_x, left, cols = axis_pixels(centres.x.to_numpy(), tile_w)
    res_y, bottom, up = axis_pixels(centres.y.to_numpy(), tile_h)
    width = int(cols.max()) + 1 if len(cols) else 1
    height = int(up.max()) + 1 if len(up) else 1
    transform = from_origin(left, bottom + height * res_y, res_x, res_y)
    return TilePixels(crs, transform, width, height, height - 1 - up, cols)


def write_tile_raster(path: Path, grid: gpd.GeoDataFrame, catalog: gpd.GeoDataFrame,
                      columns: Sequence[str], pixels: TilePixels | None = None) -> TilePixels:
    """Write ``columns`` of ``grid`` (one row per tile) as a float32 COG, NaN as nodata.

    A pixel holds the mean of the finite values of its tiles (one tile, but for irregular
    layouts; those are logged as a warning and counted in :attr:`TilePixels.shared`).

    Args:
        path: output Cloud-Optimized GeoTIFF (see :func:`pipeline.geo.cog.write_cog`).
        grid: per-tile values with tile footprints (any CRS).
        catalog: the tile catalog (crs, minx..maxy) that fixes the output grid.
        columns: one band per column; band descriptions are the column names.
        pixels: :func:`tile_pixels` of ``grid`` and ``catalog``, when already computed.

    Returns:
        The grid and the tiles' pixels.
    """
    pixels = pixels or tile_pixels(grid, catalog)
    shape = (len(columns), pixels.height, pixels.width)
    sums, counts = np.zeros(shape), np.zeros(shape)
    for band, column in enumerate(columns):
        values = grid[column].to_numpy(dtype=np.float64)
        ok = np.isfinite(values)
        np.add.at(sums[band], (pixels.rows[ok], pixels.cols[ok]), values[ok])
        np.add.at(counts[band], (pixels.rows[ok], pixels.cols[ok]), 1.0)
    with np.errstate(invalid="ignore"):
        bands = (sums / counts).astype(np.float32)  # 0 / 0: NaN where no tile
    if pixels.shared:
        _LOG.warning("%s: %d of %d tiles share a pixel with another tile (an irregular tile "
                     "layout); each such pixel holds the mean of its tiles", path.name,
                     pixels.shared, len(grid))
    write_cog(path, bands, pixels.crs, pixels.transform, list(columns))
    return pixels
