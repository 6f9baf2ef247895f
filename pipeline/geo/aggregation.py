"""Means over groups of tiles (a place's neighbourhood, see :mod:`pipeline.geo.neighbours`).

Feature means may be weighted per tile (valid-pixel share, population: a sum of counts or a mean
of a density, as the raster holds); the nightlight statistics are the mean and max of the tiles' radiance; districts come from polygons.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.errors import InputDataError
from pipeline.geo.nightlights import open_raster, zonal_stats
from pipeline.geo.polygons import read_polygons


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


def nightlight_stats(radiance: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and max radiance over each group of tiles (NaN where none is finite).

    Args:
        radiance: (n_tiles,) each tile's mean radiance.
        groups: object array (m,) of index arrays into ``radiance``.

    Returns:
        float64 (m,) means and (m,) maxima.
    """
    mean = np.full(len(groups), np.nan)
    peak = np.full(len(groups), np.nan)
    for i, idx in enumerate(groups):
        values = radiance[idx]
        values = values[np.isfinite(values)]
        if values.size:
            mean[i], peak[i] = values.mean(), values.max()
    return mean, peak


def assign_districts(points: gpd.GeoDataFrame, path: Path | str, id_column: str) -> pd.Series:
    """The id of the district polygon holding each point (NaN outside every polygon).

    Args:
        points: GeoDataFrame of points (any CRS).
        path: a polygon file geopandas reads (GeoPackage, shapefile, GeoJSON, GeoParquet), or a
            URL as :func:`~pipeline.geo.polygons.read_features` takes it.
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


def weight_files(weight: str, population: Path | None) -> list[Path]:
    """The files :func:`tile_weights` reads: the population raster, for population weights."""
    return [population] if weight == "population" and population else []


def tile_weights(weight: str, catalog: gpd.GeoDataFrame, population: Path | None = None,
                 population_holds: str = "counts") -> np.ndarray | None:
    """Per-tile weights for the means.

    Args:
        weight: how tiles are weighted: ``none`` (plain means: None is returned),
            ``valid_share`` (each tile's share of valid pixels) or ``population`` (the people on
            the tile's footprint, from the ``population`` raster).
        catalog: the tile catalog (``valid_share`` and footprints).
        population: a population raster (e.g. WorldPop), for ``population``.
        population_holds: ``counts`` (people per pixel: the coverage-weighted sum over the
            footprint) or ``density`` (people per km²: the coverage-weighted mean); both are
            proportional to the people on the tile. Tiles off the raster weigh 0.

    Returns:
        float64 (n_tiles,) non-negative weights, or None.

    Raises:
        InputDataError: the population raster is missing.
    """
    if weight == "valid_share":
        return np.clip(catalog["valid_share"].to_numpy(dtype=np.float64), 0.0, None)
    if weight == "population":
        if population is None or not population.exists():
            raise InputDataError(f"{population}: population raster not found "
                                 "(aggregate.population).")
        op = "sum" if population_holds == "counts" else "mean"
        with open_raster(population, "aggregate.population", "population") as src:
            people = zonal_stats(src, list(catalog.geometry), (op,))[:, 0]
        return np.nan_to_num(np.clip(people, 0.0, None))
    return None
