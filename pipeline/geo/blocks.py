"""Squares on the ground: spatial blocks, for splits that keep neighbouring places together, and
squares of a given side around footprints."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from shapely.geometry import Polygon, box

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


def context_boxes(footprints: gpd.GeoSeries, side_km: float) -> list[Polygon]:
    """Squares of ``side_km`` (EPSG:4326) centred on each footprint's centre.

    Degrees per km as everywhere in the pipeline (:data:`KM_PER_DEG_LAT` km per degree of
    latitude, :data:`KM_PER_DEG_LON_EQUATOR` km per degree of longitude at the equator times the
    cosine of the latitude): exact at the equator, within 1% of the WGS84 geodesic up to 60
    degrees.
    """
    bounds = footprints.bounds.to_numpy()
    lon, lat = (bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2
    half_lat = side_km / 2 / KM_PER_DEG_LAT
    half_lon = side_km / 2 / (KM_PER_DEG_LON_EQUATOR * np.maximum(np.cos(np.radians(lat)), 1e-6))
    return [box(x - dx, y - half_lat, x + dx, y + half_lat)
            for x, y, dx in zip(lon, lat, half_lon, strict=True)]
