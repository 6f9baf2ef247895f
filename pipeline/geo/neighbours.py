"""Which tiles lie around a place: a great-circle radius or a square box (haversine BallTree).

A :class:`Neighbourhood` is resolved once from the config (``aggregate.radius_km`` /
``aggregate.box_km``, ``predict.radius_km``) and used alike by ``aggregate`` (the tiles around
each survey cluster), ``fit`` (how far apart clusters must lie not to share tiles) and
``predict`` (the tiles around each tile), so the model is applied to the neighbourhood it was
trained on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn.neighbors import BallTree

from pipeline.geo.blocks import KM_PER_DEG_LAT, KM_PER_DEG_LON_EQUATOR

EARTH_RADIUS_KM = 6371.0088


def lonlat_tree(lon: np.ndarray, lat: np.ndarray) -> BallTree:
    """A haversine BallTree over points given in WGS84 degrees."""
    return BallTree(np.radians(np.column_stack([lat, lon])), metric="haversine")


def neighbours(tree: BallTree, lon: np.ndarray, lat: np.ndarray, radius_km: float) -> np.ndarray:
    """For each query point, the indices of the tree points within ``radius_km`` (object array)."""
    query = np.radians(np.column_stack([lat, lon]))
    return tree.query_radius(query, r=radius_km / EARTH_RADIUS_KM)


@dataclass(frozen=True)
class Neighbourhood:
    """The tiles around a place: centres within ``radius_km`` (great circle), or, when
    ``box_km`` is set, inside a square of that side centred on the place, its sides along the
    local east and north axes (Jean et al.'s 10 x 10 km box of about 100 tiles).

    Attributes:
        radius_km: great-circle radius, used when ``box_km`` is None.
        box_km: side of the box, or None for a radius.
    """

    radius_km: float
    box_km: float | None = None

    @property
    def reach_km(self) -> float:
        """The distance within which two places' neighbourhoods can share tiles: 2 × the
        radius, or the box's diagonal."""
        return self.box_km * math.sqrt(2) if self.box_km is not None else 2 * self.radius_km

    def members(self, tile_lon: np.ndarray, tile_lat: np.ndarray, lon: np.ndarray,
                lat: np.ndarray, tree: BallTree | None = None) -> np.ndarray:
        """Indices of the tiles in each place's neighbourhood.

        Args:
            tile_lon, tile_lat: tile centres, WGS84 degrees, shape (n_tiles,).
            lon, lat: the places, WGS84 degrees, shape (m,).
            tree: :func:`lonlat_tree` over the tile centres, when the caller keeps one; built
                here otherwise.

        Returns:
            object array (m,) of sorted int64 index arrays.
        """
        tree = lonlat_tree(tile_lon, tile_lat) if tree is None else tree
        if self.box_km is None:
            found = neighbours(tree, lon, lat, self.radius_km)
            return _object_array([np.sort(idx) for idx in found])
        found = neighbours(tree, lon, lat, self.box_km * np.sqrt(0.5) * 1.01)
        half = self.box_km / 2.0
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
