"""Where to acquire imagery: a grid of square tiles around survey clusters and over a region.

The grid is anchored at the CRS origin (or at a given ``origin``, to line the tiles up with an
existing grid or raster), so that a tile has the same bounds (and id) in every run and
neighbouring clusters share their tiles. Each cluster gets every tile that meets the square of
``reach_km`` on each side of it (Jean et al. sampled imagery around each cluster); a region gets
every tile that meets it: a lon/lat bounding box through its envelope in the grid's CRS, a
(multi)polygon (a boundary file, see :func:`pipeline.geo.polygons.read_region`) exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry

from pipeline.errors import InputDataError

WGS84 = "EPSG:4326"
LonLatBox = tuple[float, float, float, float]
SEGMENT_DEG = 0.01  # polygon edges are split to this length before projecting (~1 km)
ROWS_PER_BLOCK = 64  # candidate cells are tested this many grid rows at a time


@dataclass(frozen=True)
class TileBox:
    """One tile of the grid.

    Attributes:
        tile_id: ``e<col>_n<row>``: the tile's column and row counted from the grid's origin
            (the CRS origin unless one is given).
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


def area_tiles(points: Sequence[tuple[float, float]], reach_km: float,
               region: LonLatBox | BaseGeometry | None, tile_m: float,
               crs: str | None = None, origin: tuple[float, float] = (0.0, 0.0)) -> list[TileBox]:
    """The grid tiles around ``points`` and over ``region``, sorted north to south, west to east.

    Args:
        points: (lon, lat) of survey clusters, WGS84.
        reach_km: half side of the square around each point.
        region: (west, south, east, north) in degrees: every tile meeting its envelope in
            ``crs``; or a (multi)polygon in lon/lat: every tile its interior meets; or None.
        tile_m: tile side in CRS units (metres).
        crs: the grid's CRS; None for the local UTM zone of the area's centre.
        origin: (x, y) in ``crs`` units that a tile corner lies on (default the CRS origin).

    Raises:
        InputDataError: nothing to acquire (no point and no region).
    """
    lonlats = list(points)
    if isinstance(region, BaseGeometry):
        west, south, east, north = region.bounds
        lonlats += [(west, south), (east, north)]
    elif region is not None:
        west, south, east, north = region
        lonlats += [(west, south), (east, north)]
    if not lonlats:
        raise InputDataError("no survey cluster and no region to acquire imagery for; set "
                             "data.tiles.stac.region_bbox or data.tiles.stac.region, or check "
                             "data.survey.")
    lon_c, lat_c = np.mean(lonlats, axis=0)
    crs = crs or local_utm(float(lon_c), float(lat_c))
    to_grid = Transformer.from_crs(WGS84, crs, always_xy=True)
    cells: set[tuple[int, int]] = set()
    reach_m = reach_km * 1000.0
    for lon, lat in points:
        x, y = to_grid.transform(lon, lat)
        cells |= _cells((x - reach_m, y - reach_m, x + reach_m, y + reach_m), tile_m, origin)
    if isinstance(region, BaseGeometry):
        cells |= _polygon_cells(region, to_grid, tile_m, origin)
    elif region is not None:
        cells |= _cells(to_grid.transform_bounds(*region, densify_pts=21), tile_m, origin)
    x0, y0 = origin
    return [TileBox(f"e{col}_n{row}", crs, (x0 + col * tile_m, y0 + row * tile_m,
                                            x0 + (col + 1) * tile_m, y0 + (row + 1) * tile_m))
            for row, col in sorted(cells, key=lambda rc: (-rc[0], rc[1]))]


def _polygon_cells(region: BaseGeometry, to_grid: Transformer, tile_m: float,
                   origin: tuple[float, float]) -> set[tuple[int, int]]:
    """(row, col) of the grid cells whose interior meets the (multi)polygon ``region`` (lon/lat).

    The polygon is projected (its edges split first, so they bend as they do on the ground);
    the cells of its bounds are tested a block of rows at a time (bounded memory for a
    country), with GEOS's prepared-geometry predicates.
    """
    def project(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(to_grid.transform(xy[:, 0], xy[:, 1]))

    shape = shapely.transform(shapely.segmentize(region, SEGMENT_DEG), project)
    shapely.prepare(shape)
    x0, y0 = origin
    minx, miny, maxx, maxy = shape.bounds
    cols = np.arange(math.floor((minx - x0) / tile_m), math.ceil((maxx - x0) / tile_m))
    rows = np.arange(math.floor((miny - y0) / tile_m), math.ceil((maxy - y0) / tile_m))
    found: set[tuple[int, int]] = set()
    for start in range(0, len(rows), ROWS_PER_BLOCK):
        row, col = (a.ravel() for a in np.meshgrid(rows[start:start + ROWS_PER_BLOCK], cols,
                                                   indexing="ij"))
        boxes = shapely.box(x0 + col * tile_m, y0 + row * tile_m, x0 + (col + 1) * tile_m,
                            y0 + (row + 1) * tile_m)
        meets = shapely.intersects(shape, boxes)
        meets[meets] = ~shapely.touches(shape, boxes[meets])  # a shared edge is no overlap
        found |= set(zip(row[meets].tolist(), col[meets].tolist()))
    return found


def _cells(bounds: Sequence[float], tile_m: float,
           origin: tuple[float, float]) -> set[tuple[int, int]]:
    """(row, col) of the grid cells that meet ``bounds`` (cells only touching an edge left out)."""
    minx, miny, maxx, maxy = bounds
    x0, y0 = origin
    cols = range(math.floor((minx - x0) / tile_m), math.ceil((maxx - x0) / tile_m))
    rows = range(math.floor((miny - y0) / tile_m), math.ceil((maxy - y0) / tile_m))
    return {(row, col) for row in rows for col in cols}


def search_geometry(tiles: Sequence[TileBox]) -> Polygon:
    """The lon/lat box around every tile (what the STAC search asks for)."""
    minx, miny, maxx, maxy = np.array([t.footprint().bounds for t in tiles]).T
    return box(minx.min(), miny.min(), maxx.max(), maxy.max())
