"""Where to acquire imagery: a grid of square tiles around survey clusters and over a region.

The grid is anchored at the CRS origin, so that a tile has the same bounds (and id) in every run
and neighbouring clusters share their tiles. Each cluster gets every tile that meets the square of
``reach_km`` on each side of it (Jean et al. sampled imagery around each cluster); a region (a
lon/lat bounding box) gets every tile that meets it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from pyproj import Transformer
from shapely.geometry import Polygon, box

from pipeline.errors import InputDataError

WGS84 = "EPSG:4326"
LonLatBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class TileBox:
    """One tile of the grid.

    Attributes:
        tile_id: ``e<col>_n<row>``: the tile's column and row counted from the CRS origin.
        crs: the grid's CRS (``EPSG:<code>``).
        bounds: (minx, miny, maxx, maxy) in ``crs`` units (metres).
    """

    tile_id: str
    crs: str
    bounds: tuple[float, float, float, float]

    def footprint(self) -> Polygon:
        """The tile's outline in EPSG:4326 (lon/lat), densified along its edges."""
        to_wgs84 = _to_wgs84(self.crs)
        minx, miny, maxx, maxy = self.bounds
        t = np.linspace(0.0, 1.0, 9)
        xs = np.concatenate([minx + (maxx - minx) * t, np.full(9, maxx),
                             maxx - (maxx - minx) * t, np.full(9, minx)])
        ys = np.concatenate([np.full(9, miny), miny + (maxy - miny) * t,
                             np.full(9, maxy), maxy - (maxy - miny) * t])
        lon, lat = to_wgs84.transform(xs, ys)
        return Polygon(np.column_stack([lon, lat]))


@lru_cache(maxsize=16)
def _to_wgs84(crs: str) -> Transformer:
    """One transformer per CRS: building one costs ~2 ms, more than the tile's footprint
    (pyproj's transformers are thread-safe)."""
    return Transformer.from_crs(crs, WGS84, always_xy=True)


def local_utm(lon: float, lat: float) -> str:
    """The UTM zone's CRS at (lon, lat), e.g. ``EPSG:32736`` for Kigali's south-36 zone."""
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


def area_tiles(points: Sequence[tuple[float, float]], reach_km: float, region: LonLatBox | None,
               tile_m: float, crs: str | None = None) -> list[TileBox]:
    """The grid tiles around ``points`` and over ``region``, sorted north to south, west to east.

    Args:
        points: (lon, lat) of survey clusters, WGS84.
        reach_km: half side of the square around each point.
        region: (west, south, east, north) in degrees, or None.
        tile_m: tile side in CRS units (metres).
        crs: the grid's CRS; None for the local UTM zone of the area's centre.

    Raises:
        InputDataError: nothing to acquire (no point and no region).
    """
    lonlats = list(points)
    if region is not None:
        west, south, east, north = region
        lonlats += [(west, south), (east, north)]
    if not lonlats:
        raise InputDataError("no survey cluster and no region to acquire imagery for; set "
                             "data.tiles.stac.region_bbox or check data.survey.")
    lon_c, lat_c = np.mean(lonlats, axis=0)
    crs = crs or local_utm(float(lon_c), float(lat_c))
    to_grid = Transformer.from_crs(WGS84, crs, always_xy=True)
    cells: set[tuple[int, int]] = set()
    reach_m = reach_km * 1000.0
    for lon, lat in points:
        x, y = to_grid.transform(lon, lat)
        cells |= _cells((x - reach_m, y - reach_m, x + reach_m, y + reach_m), tile_m)
    if region is not None:
        cells |= _cells(to_grid.transform_bounds(*region, densify_pts=21), tile_m)
    return [TileBox(f"e{col}_n{row}", crs,
                    (col * tile_m, row * tile_m, (col + 1) * tile_m, (row + 1) * tile_m))
            for row, col in sorted(cells, key=lambda rc: (-rc[0], rc[1]))]


def _cells(bounds: Sequence[float], tile_m: float) -> set[tuple[int, int]]:
    """(row, col) of the grid cells that meet ``bounds`` (cells only touching an edge left out)."""
    minx, miny, maxx, maxy = bounds
    cols = range(math.floor(minx / tile_m), math.ceil(maxx / tile_m))
    rows = range(math.floor(miny / tile_m), math.ceil(maxy / tile_m))
    return {(row, col) for row in rows for col in cols}


def search_geometry(tiles: Sequence[TileBox]) -> Polygon:
    """The lon/lat box around every tile (what the STAC search asks for)."""
    minx, miny, maxx, maxy = np.array([t.footprint().bounds for t in tiles]).T
    return box(minx.min(), miny.min(), maxx.max(), maxy.max())
