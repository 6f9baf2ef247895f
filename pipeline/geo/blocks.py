"""Square spatial blocks, for splits that keep neighbouring places together."""

from __future__ import annotations

import numpy as np

KM_PER_DEG_LAT = 110.574
KM_PER_DEG_LON_EQUATOR = 111.320


def block_ids(lon: np.ndarray, lat: np.ndarray, block_km: float) -> np.ndarray:
    """Integer id of the square block (side ``block_km``) holding each point.

    Points are in WGS84 degrees; longitudes are scaled by the cosine of the mean latitude
    (an equirectangular approximation, good for a country-sized region).

    Returns:
        int64 array (n,); equal ids mean the same block.
    """
    lat = np.asarray(lat, dtype=np.float64)
    km_y = lat * KM_PER_DEG_LAT
    km_x = np.asarray(lon, dtype=np.float64) * KM_PER_DEG_LON_EQUATOR * np.cos(np.radians(lat.mean()))
    bx = np.floor(km_x / block_km).astype(np.int64)
    by = np.floor(km_y / block_km).astype(np.int64)
    return by * 1_000_003 + bx
