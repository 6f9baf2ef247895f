"""Polygon files given in the config (districts, admin grid cells, the region to map).

A file is a local ``Path``, or a URL that the config keeps as a string (``https://``, ``s3://``,
GDAL's ``/vsicurl/``, ``/vsis3/`` ...): pyogrio hands URLs to GDAL's virtual file systems, which
read a GeoPackage, GeoJSON or FlatGeobuf by range requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import shapely
from shapely.geometry.base import BaseGeometry

from pipeline.errors import InputDataError

WGS84 = "EPSG:4326"
FORMATS = "a GeoPackage, shapefile, GeoJSON or GeoParquet file"
POLYGONAL = ("Polygon", "MultiPolygon")
SHOWN = 10  # values listed in an error message


def read_features(location: Path | str, key: str) -> gpd.GeoDataFrame:
    """Every feature of a vector file, in EPSG:4326, numbered from 0.

    Args:
        location: a local file geopandas reads (GeoPackage, shapefile, GeoJSON; ``.parquet``:
            GeoParquet), in any CRS; a ``str`` is a URL (as the config keeps one) of a file
            GDAL reads (GeoPackage, GeoJSON, FlatGeobuf, shapefile as ``/vsizip/``).
        key: the config key that named the file (it goes into the error messages).

    Raises:
        InputDataError: the file is missing or unreadable, or has no CRS; the message names the
            file, the config key and the fix.
    """
    url = isinstance(location, str)
    parquet = str(location).lower().endswith(".parquet")
    if url and parquet:
        raise InputDataError(f"{location}: GeoParquet is read from local files only ({key}); "
                             "give the URL of a GeoPackage, GeoJSON or FlatGeobuf, or download "
                             "it.")
    if isinstance(location, Path) and not location.exists():
        raise InputDataError(f"{location}: polygon file not found ({key}). Fix the path in the "
                             "config; it is relative to the config file.")
    try:
        frame = gpd.read_parquet(location) if parquet else gpd.read_file(location)
    except Exception as exc:  # pyogrio / pyarrow raise many types for unreadable files
        where = "; check the URL and that the server answers range requests" if url else ""
        raise InputDataError(f"{location}: cannot read the polygon file given as {key} "
                             f"({type(exc).__name__}: {exc}); use {FORMATS}{where}.") from exc
    if frame.crs is None:
        raise InputDataError(f"{location}: the polygon file given as {key} has no CRS; "
                             "re-export it with one.")
    return frame.to_crs(WGS84).reset_index(drop=True)


def read_polygons(location: Path | str, key: str) -> gpd.GeoDataFrame:
    """The polygons of a file, in EPSG:4326, numbered from 0 (other geometries are left out).

    Args:
        location: as :func:`read_features` takes it.
        key: the config key that named the file (it goes into the error messages).

    Raises:
        InputDataError: as :func:`read_features`, or the file holds no polygons.
    """
    frame = read_features(location, key)
    polygons = frame[frame.geom_type.isin(POLYGONAL)]
    if polygons.empty:
        raise InputDataError(f"{location}: no polygons in the file given as {key}; it needs "
                             f"(multi)polygons, in {FORMATS}.")
    return polygons.reset_index(drop=True)


def read_region(location: Path | str, key: str, column: str | None = None,
                values: Sequence[str] = ()) -> BaseGeometry:
    """The region to map: the union of a file's polygons, or of those whose ``column`` holds
    one of ``values`` (e.g. GADM's ``NAME_1`` = ``Kigali``), in EPSG:4326.

    Args:
        location: as :func:`read_features` takes it.
        key: the config key that named the file (``column`` and ``values`` are its siblings).
        column: the attribute that selects features; None: every feature.
        values: the wanted values of ``column``, compared as text; each must match a feature.

    Raises:
        InputDataError: as :func:`read_features`; ``column`` missing (the columns are listed); a
            value that matches no feature (some of the column's values are listed); a selected
            feature that is not a (multi)polygon.
    """
    frame = read_features(location, key)
    parent = key.rsplit(".", 1)[0]
    if column is not None:
        if column not in frame.columns:
            raise InputDataError(f"{location}: no column {column!r} ({parent}.column); columns "
                                 f"are {[c for c in frame.columns if c != 'geometry']}.")
        text = frame[column].astype(str)
        missing = [v for v in values if v not in set(text)]
        if missing:
            known = sorted(set(text))
            raise InputDataError(
                f"{location}: no feature has {column} = {missing} ({parent}.values); "
                f"{len(known)} values there, e.g. {known[:SHOWN]}.")
        frame = frame[text.isin(list(values))]
    if frame.empty:
        raise InputDataError(f"{location}: the file given as {key} has no features.")
    other = frame[~frame.geom_type.isin(POLYGONAL)]
    if len(other):
        types = sorted(set(other.geom_type.fillna("empty")))
        raise InputDataError(
            f"{location}: the region needs (multi)polygons, but {len(other)} of the "
            f"{len(frame)} selected feature(s) are {types} ({key}); select polygon features "
            f"or use a boundary file.")
    return shapely.union_all(shapely.make_valid(frame.geometry.to_numpy()))
