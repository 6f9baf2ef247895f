"""Polygon files given in the config (districts, admin grid cells, the region to map)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd

from pipeline.errors import InputDataError

WGS84 = "EPSG:4326"
FORMATS = "a GeoPackage, shapefile, GeoJSON or GeoParquet file"


def read_polygons(path: Path, key: str) -> gpd.GeoDataFrame:
    """The polygons of a file, in EPSG:4326, numbered from 0 (other geometries are left out).

    Args:
        path: a file geopandas reads (GeoPackage, shapefile, GeoJSON; ``.parquet``: GeoParquet),
            in any CRS.
        key: the config key that named the file (it goes into the error messages).

    Raises:
        InputDataError: the file is missing or unreadable, has no CRS, or holds no polygons;
            the message names the file, the config key and the fix.
    """
    path = Path(path)
    if not path.exists():
        raise InputDataError(f"{path}: polygon file not found ({key}). Fix the path in the "
                             "config; it is relative to the config file.")
    try:
        parquet = path.suffix.lower() == ".parquet"
        frame = gpd.read_parquet(path) if parquet else gpd.read_file(path)
    except Exception as exc:  # pyogrio / pyarrow raise many types for unreadable files
        raise InputDataError(f"{path}: cannot read the polygon file given as {key} "
                             f"({type(exc).__name__}: {exc}); use {FORMATS}.") from exc
    if frame.crs is None:
        raise InputDataError(f"{path}: the polygon file given as {key} has no CRS; "
                             "re-export it with one.")
    polygons = frame[frame.geom_type.isin(["Polygon", "MultiPolygon"])]
    if polygons.empty:
        raise InputDataError(f"{path}: no polygons in the file given as {key}; it needs "
                             f"(multi)polygons, in {FORMATS}.")
    return polygons.to_crs(WGS84).reset_index(drop=True)
