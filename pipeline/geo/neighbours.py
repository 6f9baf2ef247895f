"""Means over the tiles within a great-circle radius of points (haversine BallTree)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from sklearn.neighbors import BallTree

EARTH_RADIUS_KM = 6371.0088


def lonlat_tree(lon: np.ndarray, lat: np.ndarray) -> BallTree:
    """A haversine BallTree over points given in WGS84 degrees."""
    return BallTree(np.radians(np.column_stack([lat, lon])), metric="haversine")


def neighbours(tree: BallTree, lon: np.ndarray, lat: np.ndarray, radius_km: float) -> np.ndarray:
    """For each query point, the indices of the tree points within ``radius_km`` (object array)."""
    query = np.radians(np.column_stack([lat, lon]))
    return tree.query_radius(query, r=radius_km / EARTH_RADIUS_KM)


def neighbourhood_means(values: np.ndarray, tree: BallTree, lon: np.ndarray, lat: np.ndarray,
                        radius_km: float, chunk: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Mean of ``values`` rows within ``radius_km`` of each query point, in chunks.

    Args:
        values: (n_tree_points, d) array (may be a memmap); rows align with the tree's points.
        lon, lat: query points in WGS84 degrees, shape (m,).
        radius_km: great-circle radius.
        chunk: query points per yielded chunk (bounds memory).

    Yields:
        (means, counts) per chunk: float64 (k, d) with NaN rows where no point is within
        reach, and int64 (k,) neighbour counts.
    """
    for start in range(0, len(lon), chunk):
        idx = neighbours(tree, lon[start:start + chunk], lat[start:start + chunk], radius_km)
        counts = np.array([len(i) for i in idx], dtype=np.int64)
        means = np.full((len(idx), values.shape[1]), np.nan)
        for row, members in enumerate(idx):
            if len(members):
                means[row] = np.asarray(values[np.sort(members)], dtype=np.float64).mean(axis=0)
        yield means, counts


def all_neighbourhood_means(values: np.ndarray, tree: BallTree, lon: np.ndarray, lat: np.ndarray,
                            radius_km: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`neighbourhood_means` gathered into one (means, counts) pair."""
    parts = list(neighbourhood_means(values, tree, lon, lat, radius_km))
    if not parts:
        return np.empty((0, values.shape[1])), np.empty(0, dtype=np.int64)
    return np.vstack([m for m, _ in parts]), np.concatenate([c for _, c in parts])
