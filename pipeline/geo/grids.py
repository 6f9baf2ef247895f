"""Output grids: which cell each tile falls in, and the per-cell (weighted) mean predictions.

A tile belongs to the cell that holds its centre (lon/lat, EPSG:4326). Cells are the tiles
themselves, squares of N km in a projected CRS, Web Mercator quadkeys, H3 cells or admin
polygons from a file (see :class:`GridSpec`). Every value column is
averaged per cell — weighted by a population raster when one is given, plainly otherwise —
and each cell records ``n_tiles``, the number of tiles behind it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import rasterio
from pyproj import CRS
from rasterio.errors import RasterioError
from shapely.errors import GEOSException
from shapely.geometry import Polygon, box

from pipeline.errors import InputDataError
from pipeline.geo.nightlights import sample_footprint
from pipeline.geo.polygons import read_polygons

WGS84 = "EPSG:4326"
RESERVED = ("tile_id", "lon", "lat", "n_tiles", "geometry")


class GridSpec(Protocol):
    """The cells per-tile values are averaged into (the fields of config ``export.grid``).

    Attributes:
        kind: ``tiles`` (every tile its own cell), ``regular`` (squares of ``cell_km`` in
            ``crs``; None: the tiles' CRS), ``quadkey`` (Web Mercator tiles at ``zoom``),
            ``h3`` (H3 cells at ``resolution``) or ``admin`` (the polygons of the file at
            ``path``, a local file or a URL kept as a string, named by column ``id``; None:
            numbered).
    """

    kind: str
    cell_km: float
    crs: str | None
    zoom: int
    resolution: int
    path: Path | str | None
    id: str | None

VALUE_PREFIXES = ("pred_", "lower_", "upper_", "ood_")


def value_columns(grid: pd.DataFrame) -> list[str]:
    """The numeric (or boolean) columns of a per-tile grid that cells average.

    In order: ``pred_*``, the interval ends ``lower_*`` and ``upper_*``, the out-of-distribution
    flags ``ood_*`` (averaged into the share of flagged tiles), then any others; ``tile_id``,
    ``lon``, ``lat``, ``n_tiles`` are left out.
    """
    numeric = [c for c in grid.columns if c not in RESERVED
               and (pd.api.types.is_numeric_dtype(grid[c]) or pd.api.types.is_bool_dtype(grid[c]))]

    def rank(column: str) -> int:
        prefixes = [p for p in VALUE_PREFIXES if column.startswith(p)]
        return VALUE_PREFIXES.index(prefixes[0]) if prefixes else len(VALUE_PREFIXES)

    return sorted(numeric, key=rank)


def regular_cells(x: np.ndarray, y: np.ndarray, cell_m: float) -> tuple[np.ndarray, dict[str, Polygon]]:
    """Ids ``"<col>_<row>"`` of the ``cell_m`` squares (origin 0, 0) holding points x, y (metres)."""
    col = np.floor(x / cell_m).astype(np.int64)
    row = np.floor(y / cell_m).astype(np.int64)
    ids = np.char.add(np.char.add(col.astype(str), "_"), row.astype(str)).astype(object)
    _, first = np.unique(ids.astype(str), return_index=True)
    shapes = {ids[i]: box(col[i] * cell_m, row[i] * cell_m, (col[i] + 1) * cell_m,
                          (row[i] + 1) * cell_m) for i in np.sort(first)}
    return ids, shapes


def quadkey(lon: float, lat: float, zoom: int) -> str:
    """The Bing Maps quadkey of the Web Mercator tile at ``zoom`` holding a WGS84 point."""
    x, y = _tile_xy(lon, lat, zoom)
    digits = []
    for level in range(zoom, 0, -1):
        mask = 1 << (level - 1)
        digits.append(str((1 if x & mask else 0) + (2 if y & mask else 0)))
    return "".join(digits)


def _tile_xy(lon: float, lat: float, zoom: int) -> tuple[int, int]:
    n = 2**zoom
    lat = float(np.clip(lat, -85.05112878, 85.05112878))
    x = int(np.floor((lon + 180.0) / 360.0 * n))
    s = np.sin(np.radians(lat))
    y = int(np.floor((0.5 - np.log((1 + s) / (1 - s)) / (4 * np.pi)) * n))
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def quadkey_polygon(key: str) -> Polygon:
    """The WGS84 footprint of a quadkey's tile."""
    x = y = 0
    for digit in key:
        x, y = 2 * x + (int(digit) & 1), 2 * y + (int(digit) >> 1)
    n = 2 ** len(key)

    def lat_of(row: int) -> float:
        return float(np.degrees(np.arctan(np.sinh(np.pi * (1 - 2 * row / n)))))

    return box(x / n * 360.0 - 180.0, lat_of(y + 1), (x + 1) / n * 360.0 - 180.0, lat_of(y))


def h3_polygon(cell: str) -> Polygon:
    """The WGS84 footprint of an H3 cell (its boundary in lon/lat order).

    A cell across the antimeridian keeps one continuous ring: its western longitudes are given
    past 180 (e.g. -179.9 as 180.1), rather than a band spanning the globe.
    """
    lon, lat = np.array(h3.cell_to_boundary(cell))[:, ::-1].T
    if np.ptp(lon) > 180.0:
        lon = np.where(lon < 0, lon + 360.0, lon)
    return Polygon(np.column_stack([lon, lat]))


def _admin_cells(lon: np.ndarray, lat: np.ndarray, spec: GridSpec) -> tuple[np.ndarray, gpd.GeoSeries]:
    polygons = read_polygons(spec.path, "export.grid.path")
    if spec.id is not None and spec.id not in polygons.columns:
        raise InputDataError(f"{spec.path}: no column {spec.id!r} (export.grid.id); columns are "
                             f"{[c for c in polygons.columns if c != 'geometry']}.")
    ids = (polygons[spec.id] if spec.id else pd.Series(range(len(polygons)))).astype(str)
    footprints = _dissolve_by_id(polygons.geometry, ids, spec)
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=WGS84)
    joined = points.sjoin(gpd.GeoDataFrame(geometry=footprints.to_numpy(), crs=WGS84),
                          how="left", predicate="within")
    first = joined[~joined.index.duplicated()]["index_right"].reindex(points.index).to_numpy()
    cell = np.array([None if pd.isna(i) else footprints.index[int(i)] for i in first], dtype=object)
    return cell, footprints


def _dissolve_by_id(geometry: gpd.GeoSeries, ids: pd.Series, spec: GridSpec) -> gpd.GeoSeries:
    """One footprint per admin id: the union of the polygons that share it (EPSG:4326).

    A district stored as several rows (mainland and islands, or parts split by a river) becomes
    one cell. Ids keep the order of their first row.

    Raises:
        InputDataError: the polygons of a repeated id cannot be merged (invalid geometry).
    """
    frame = gpd.GeoDataFrame({"cell_id": ids.to_numpy()}, geometry=geometry.to_numpy(), crs=WGS84)
    if not ids.duplicated().any():
        return frame.set_index("cell_id").geometry
    try:
        return frame.dissolve(by="cell_id", sort=False).geometry
    except GEOSException as exc:
        repeated = list(dict.fromkeys(ids[ids.duplicated()]))[:5]
        raise InputDataError(
            f"{spec.path}: column {spec.id!r} (export.grid.id) repeats ids (e.g. {repeated}) and "
            f"their polygons cannot be merged into one cell ({exc}). Make the geometries valid "
            "(e.g. `ogr2ogr -makevalid`) or give every polygon its own id.") from exc


def assign_cells(grid: gpd.GeoDataFrame, spec: GridSpec,
                 tiles_crs: str) -> tuple[np.ndarray, gpd.GeoSeries]:
    """The cell of every tile, and every cell's footprint.

    Args:
        grid: per-tile rows with ``tile_id``, ``lon``, ``lat`` (EPSG:4326) and footprints.
        spec: the output grid (config ``export.grid``).
        tiles_crs: the CRS a ``regular`` grid uses when ``spec.crs`` is not set.

    Returns:
        (cell id per tile — object array of str, None where a tile is in no admin polygon —,
        footprints indexed by cell id, EPSG:4326).
    """
    lon, lat = grid["lon"].to_numpy(dtype=np.float64), grid["lat"].to_numpy(dtype=np.float64)
    if spec.kind == "tiles":
        ids = grid["tile_id"].astype(str).to_numpy(dtype=object)
        return ids, gpd.GeoSeries(grid.geometry.to_numpy(), index=ids, crs=grid.crs).to_crs(WGS84)
    if spec.kind == "admin":
        return _admin_cells(lon, lat, spec)
    if spec.kind == "regular":
        crs = spec.crs or tiles_crs
        if CRS.from_user_input(crs).is_geographic:
            raise InputDataError(f"export.grid: the tiles' CRS {crs} is geographic (degrees); set "
                                 "export.grid.crs to a projected CRS for a grid in km.")
        points = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=WGS84).to_crs(crs)
        ids, shapes = regular_cells(points.x.to_numpy(), points.y.to_numpy(), spec.cell_km * 1000)
        return ids, gpd.GeoSeries(shapes, crs=crs).to_crs(WGS84)
    if spec.kind == "quadkey":
        ids = np.array([quadkey(x, y, spec.zoom) for x, y in zip(lon, lat)], dtype=object)
        maker = quadkey_polygon
    else:
        ids = np.array([h3.latlng_to_cell(y, x, spec.resolution) for x, y in zip(lon, lat)],
                       dtype=object)
        maker = h3_polygon
    shapes = {cid: maker(cid) for cid in dict.fromkeys(ids)}
    return ids, gpd.GeoSeries(shapes, crs=WGS84)


def aggregate_cells(grid: pd.DataFrame, cell_of_tile: np.ndarray, footprints: gpd.GeoSeries,
                    weights: np.ndarray | None = None, keep_empty: bool = False) -> gpd.GeoDataFrame:
    """Per-cell mean of every value column, and the number of tiles behind each cell.

    Args:
        grid: per-tile rows (see :func:`value_columns`).
        cell_of_tile: (n_tiles,) cell ids; None drops the tile.
        footprints: cell footprints indexed by cell id (EPSG:4326).
        weights: (n_tiles,) non-negative weights (population); None: a plain mean. Non-finite
            weights count as 0; a cell whose weights sum to 0 gets the plain mean.
        keep_empty: keep cells no tile falls in (admin polygons), with NaN values and n_tiles 0.

    Returns:
        One row per cell: ``cell_id``, ``n_tiles``, the value columns (float64), ``lon``/``lat``
        of the footprint's representative point, geometry (EPSG:4326).
    """
    columns = value_columns(grid)
    keep = np.array([c is not None for c in cell_of_tile], dtype=bool)
    values = grid.loc[keep, columns].astype(np.float64).to_numpy()
    cells = pd.Series(cell_of_tile[keep], name="cell_id")
    w = np.ones(int(keep.sum())) if weights is None else np.nan_to_num(np.asarray(weights)[keep])
    means = {col: _weighted_mean(values[:, i], w, cells) for i, col in enumerate(columns)}
    out = pd.DataFrame({"n_tiles": cells.value_counts(sort=False), **means})
    order = footprints.index if keep_empty else [c for c in footprints.index if c in out.index]
    out = out.reindex(order)
    out["n_tiles"] = out["n_tiles"].fillna(0).astype(np.int64)
    geometry = footprints.loc[order]
    point = geometry.representative_point()
    frame = out.assign(lon=point.x.to_numpy(), lat=point.y.to_numpy()).rename_axis("cell_id")
    return gpd.GeoDataFrame(frame.reset_index(), geometry=geometry.to_numpy(), crs=WGS84)


def _weighted_mean(values: np.ndarray, weights: np.ndarray, cells: pd.Series) -> pd.Series:
    ok = np.isfinite(values)
    w = np.where(ok, weights, 0.0)
    frame = pd.DataFrame({"cell": cells.to_numpy(), "wv": np.where(ok, values * w, 0.0), "w": w,
                          "v": np.where(ok, values, 0.0), "n": ok.astype(np.float64)})
    sums = frame.groupby("cell", sort=False).sum()
    plain = sums["v"] / sums["n"].where(sums["n"] > 0)
    weighted = sums["wv"] / sums["w"].where(sums["w"] > 0)
    return weighted.fillna(plain)


def population_weights(footprints: Sequence[Polygon], path: Path) -> np.ndarray:
    """Mean of a population raster (e.g. WorldPop, people per pixel) over each tile footprint.

    Tiles are of one size, so the mean is proportional to the tile's population. NaN where
    a footprint lies outside the raster or only over nodata.
    """
    try:
        src = rasterio.open(path)
    except RasterioError as exc:
        raise InputDataError(f"{path}: cannot open the population raster ({exc}); check "
                             "export.population.") from exc
    with src:
        if src.crs is None:
            raise InputDataError(f"{path}: the population raster has no CRS; re-export it with one.")
        return np.array([sample_footprint(src, fp)[0] for fp in footprints], dtype=np.float64)


def region_mask(lon: np.ndarray, lat: np.ndarray, region: gpd.GeoDataFrame) -> np.ndarray:
    """True for the points (WGS84) that lie inside any polygon of ``region``."""
    points = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=WGS84)
    return points.within(region.geometry.union_all()).to_numpy()


def make_cells(grid: gpd.GeoDataFrame, spec: GridSpec, tiles_crs: str,
               population: Path | None = None,
               region: gpd.GeoDataFrame | None = None) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """The whole recipe: clip to the region, assign cells, weight by population, average.

    Args:
        grid: per-tile predictions (``predict/grid.parquet``).
        spec: the output grid (config ``export.grid``).
        tiles_crs: the tiles' most common CRS (default CRS of a ``regular`` grid).
        population: a population raster; None for plain means.
        region: polygons (EPSG:4326); tiles whose centre lies outside are left out.

    Returns:
        (cells as :func:`aggregate_cells` returns them, the cell id of every tile — None for
        the tiles left out).
    """
    cell_of_tile, footprints = assign_cells(grid, spec, tiles_crs)
    if region is not None:
        inside = region_mask(grid["lon"].to_numpy(), grid["lat"].to_numpy(), region)
        cell_of_tile = np.where(inside, cell_of_tile, None)
    if not any(c is not None for c in cell_of_tile):
        raise InputDataError("no tile lies inside the region and the cells of export.grid; "
                             "check export.region and export.grid against the tiles' extent.")
    weights = None
    if population is not None:
        weights = population_weights(grid.geometry.to_crs(WGS84), population)
    cells = aggregate_cells(grid, cell_of_tile, footprints, weights,
                            keep_empty=spec.kind == "admin")
    return cells, cell_of_tile
