"""The points within a great-circle radius of other points (haversine BallTree)."""

from __future__ import annotations

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
