"""Which tiles make a place's neighbourhood, and their (weighted) mean features.

A neighbourhood is either every tile whose centre lies within a great-circle radius of the place
(``radius_km``, haversine BallTree) or within a square box centred on it (``box_km``, the
10 x 10 km box of about 100 tiles Jean et al. used; sides along the local east and north axes).
Means may be weighted per tile (valid-pixel share, population: a sum of counts or a mean of a
density, as the raster holds).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from sklearn.neighbors import BallTree

from pipeline.config.schema import AggregateConfig
from pipeline.errors import InputDataError
from pipeline.geo.blocks import KM_PER_DEG_LAT, KM_PER_DEG_LON_EQUATOR
from pipeline.geo.neighbours import neighbours
from pipeline.geo.nightlights import open_raster, zonal_stats
from pipeline.geo.polygons import read_polygons


def members(tree: BallTree, tile_lon: np.ndarray, tile_lat: np.ndarray, lon: np.ndarray,
            lat: np.ndarray, radius_km: float, box_km: float | None = None) -> np.ndarray:
    """Indices of the tiles in each place's neighbourhood.

    Args:
        tree: haversine BallTree over the tile centres (``pipeline.geo.neighbours.lonlat_tree``).
        tile_lon, tile_lat: the tile centres the tree holds, WGS84 degrees, shape (n_tiles,).
        lon, lat: the places, WGS84 degrees, shape (m,).
        radius_km: great-circle radius, used when ``box_km`` is None.
        box_km: side of a square box centred on each place, or None.

    Returns:
        object array (m,) of sorted int64 index arrays.
    """
    if box_km is None:
        found = neighbours(tree, lon, lat, radius_km)
        return _object_array([np.sort(idx) for idx in found])
    found = neighbours(tree, lon, lat, box_km * np.sqrt(0.5) * 1.01)
    half = box_km / 2.0
    kept = []
    for idx, x0, y0 in zip(found, lon, lat):
        dx = (tile_lon[idx] - x0) * KM_PER_DEG_LON_EQUATOR * np.cos(np.radians(y0))
        dy = (tile_lat[idx] - y0) * KM_PER_DEG_LAT
        kept.append(np.sort(idx[(np.abs(dx) <= half) & (np.abs(dy) <= half)]))
    return _object_array(kept)


def _object_array(items: list[np.ndarray]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def weighted_means(values: np.ndarray, groups: np.ndarray,
                   weights: np.ndarray | None = None) -> np.ndarray:
    """Mean of ``values`` rows over each group of row indices.

    Args:
        values: (n, d) array (a memmap is fine: only the rows of one group are read at a time).
        groups: object array (m,) of index arrays into ``values``.
        weights: (n,) non-negative per-row weights, or None for plain means. A group whose
            weights sum to zero falls back to the plain mean.

    Returns:
        float64 (m, d); NaN rows for empty groups.
    """
    out = np.full((len(groups), values.shape[1]), np.nan)
    for row, idx in enumerate(groups):
        if len(idx) == 0:
            continue
        block = np.asarray(values[idx], dtype=np.float64)
        w = None if weights is None else np.asarray(weights[idx], dtype=np.float64)
        if w is not None and w.sum() > 0:
            out[row] = w @ block / w.sum()
        else:
            out[row] = block.mean(axis=0)
    return out


def chunked_means(values: np.ndarray, tree: BallTree, tile_lon: np.ndarray, tile_lat: np.ndarray,
                  radius_km: float, box_km: float | None, weights: np.ndarray | None,
                  chunk: int = 2048) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Neighbourhood means around every tile, ``chunk`` tiles at a time: (means, counts)."""
    for start in range(0, len(tile_lon), chunk):
        sl = slice(start, start + chunk)
        groups = members(tree, tile_lon, tile_lat, tile_lon[sl], tile_lat[sl], radius_km, box_km)
        counts = np.array([len(g) for g in groups], dtype=np.int64)
        yield weighted_means(values, groups, weights), counts


def assign_districts(points: gpd.GeoDataFrame, path: Path, id_column: str) -> pd.Series:
    """The id of the district polygon holding each point (NaN outside every polygon).

    Args:
        points: GeoDataFrame of points (any CRS).
        path: a polygon file geopandas reads (GeoPackage, shapefile, GeoJSON, GeoParquet).
        id_column: the column naming each district (config ``aggregate.districts.id``).

    Raises:
        InputDataError: missing or unreadable file, no CRS, no polygons, or no such column.
    """
    polygons = read_polygons(path, "aggregate.districts.path")
    if id_column not in polygons.columns:
        raise InputDataError(f"{path}: no column {id_column!r} (set aggregate.districts.id to one "
                             f"of {sorted(c for c in polygons.columns if c != 'geometry')}).")
    polygons = polygons[[id_column, "geometry"]].to_crs(points.crs)
    joined = gpd.sjoin(points[["geometry"]], polygons, how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    return joined[id_column].reindex(points.index).astype(object)


def weight_files(cfg: AggregateConfig) -> list[Path]:
    """The files :func:`tile_weights` reads: the population raster, for population weights."""
    return [cfg.population] if cfg.weight == "population" and cfg.population else []


def tile_weights(cfg: AggregateConfig, catalog: gpd.GeoDataFrame) -> np.ndarray | None:
    """Per-tile weights for the means: None (plain), valid-pixel share, or population.

    Population is the raster's coverage-weighted sum over each footprint when the raster holds
    counts (people per pixel, ``aggregate.population_holds: counts``, as WorldPop's), and its
    coverage-weighted mean when it holds a density (people per km²): both are proportional to
    the people living on the tile. Tiles off the raster weigh 0.
    """
    if cfg.weight == "valid_share":
        return np.clip(catalog["valid_share"].to_numpy(dtype=np.float64), 0.0, None)
    if cfg.weight == "population":
        if not cfg.population.exists():
            raise InputDataError(f"{cfg.population}: population raster not found "
                                 "(aggregate.population).")
        op = "sum" if cfg.population_holds == "counts" else "mean"
        with open_raster(cfg.population, "aggregate.population", "population") as src:
            people = zonal_stats(src, list(catalog.geometry), (op,))[:, 0]
        return np.nan_to_num(np.clip(people, 0.0, None))
    return None
