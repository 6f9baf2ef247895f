"""Reading a survey table and checking each cluster row.

Bad rows are never dropped silently: :func:`clean_clusters` and :func:`beyond_reach` return
them with a reason, to be written to ``ingest/rejected.csv``.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import geopandas as gpd
import numpy as np
import pandas as pd
from pyogrio.errors import DataSourceError
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from pipeline.errors import InputDataError
from pipeline.geo.neighbours import EARTH_RADIUS_KM, lonlat_tree

WGS84 = "EPSG:4326"
VECTOR_SUFFIXES = (".gpkg", ".shp", ".geojson")
REJECTED_COLUMNS = ["source", "row", "id", "reason"]


def read_table(path: Path | str, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a CSV, Stata (.dta), GeoPackage, Shapefile, GeoJSON or (Geo)Parquet table.

    Point geometries in vector files are exposed as ``lon``/``lat`` columns in EPSG:4326
    when the file has no such columns. Stata value labels are not applied (codes are kept).

    Args:
        path: the file, or a URL (a string: ``https://``, ``s3://``, ...) read through pandas
            and fsspec (vector files through GDAL), opened rather than tested for existence.
        columns: for .dta files, read only these columns (those present); the names of all
            columns are kept in ``df.attrs["all_columns"]`` for error messages.

    Raises:
        InputDataError: missing, empty, undecodable or unsupported file.
    """
    url = isinstance(path, str)
    if not url and not path.exists():
        raise InputDataError(f"{path}: survey file not found (data.survey.path).")
    suffix = PurePosixPath(urlparse(path).path if url else path.name).suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path, encoding="utf-8")
        if suffix == ".dta":
            return _read_stata(path, columns)
        if suffix == ".parquet":
            return _read_parquet(path)
        if suffix in VECTOR_SUFFIXES:
            return _with_lonlat(gpd.read_file(path))
    except UnicodeDecodeError as exc:
        raise InputDataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}). "
                             "Re-save it as UTF-8.") from exc
    except pd.errors.EmptyDataError as exc:
        raise InputDataError(f"{path}: the survey file is empty.") from exc
    except ImportError as exc:  # fsspec's backend of the URL's protocol (s3fs for s3://)
        raise InputDataError(missing_backend(str(path), "data.survey.path")) from exc
    except (pd.errors.ParserError, DataSourceError, OSError, ValueError) as exc:
        where = " (check data.survey.path and the network)" if url else ""
        raise InputDataError(f"{path}: cannot read the survey table ({exc}){where}.") from exc
    raise InputDataError(f"{path}: unsupported survey format {suffix!r}; use .csv, .dta, .gpkg, "
                         ".shp, .geojson or .parquet.")


def missing_backend(url: str, key: str) -> str:
    """The one-line error for a URL whose fsspec backend is not installed (``s3fs`` for
    ``s3://``, ``gcsfs`` for ``gs://``): the URL, the package to install, the config key."""
    from fsspec.core import split_protocol
    from fsspec.registry import known_implementations

    protocol = split_protocol(url)[0] or "file"
    package = known_implementations.get(protocol, {}).get("class", "fsspec").split(".")[0]
    return (f"{url}: reading {protocol}:// needs the Python package {package}, which is not "
            f"installed ({key}); pip install {package}, or give the URL of a .parquet, .gpkg or "
            ".geojson file (read without it), or download the file.")


def _read_parquet(path: Path | str) -> pd.DataFrame:
    """GeoParquet (points become lon/lat) or plain Parquet."""
    if isinstance(path, Path):
        return _with_lonlat(gpd.read_parquet(path)) if _is_geoparquet(path) else pd.read_parquet(path)
    try:  # a URL: no cheap schema peek, so GeoParquet is tried first
        return _with_lonlat(gpd.read_parquet(path))
    except ValueError:  # no geo metadata
        return pd.read_parquet(path)


def _read_stata(path: Path | str, columns: Sequence[str] | None) -> pd.DataFrame:
    with pd.read_stata(path, iterator=True) as reader:
        names = list(reader.variable_labels())
    wanted = None if columns is None else [c for c in dict.fromkeys(columns) if c in names]
    df = pd.read_stata(path, columns=wanted, convert_categoricals=False)
    df.attrs["all_columns"] = names
    return df


def _is_geoparquet(path: Path) -> bool:
    import pyarrow.parquet as pq

    return b"geo" in (pq.read_schema(path).metadata or {})


def _with_lonlat(gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    if gdf.crs is not None and "lon" not in df and "lat" not in df:
        points = gdf.geometry.to_crs(WGS84)
        df["lon"], df["lat"] = points.x.to_numpy(), points.y.to_numpy()
    return df


def require_columns(df: pd.DataFrame, columns: Sequence[str], path: Path, key: str = "data.survey") -> None:
    """Raise naming each missing column, a close match, and the config section to map it in."""
    names = list(map(str, df.attrs.get("all_columns", df.columns)))
    missing = [c for c in columns if c not in names]
    if not missing:
        return
    hints = []
    for col in missing:
        close = difflib.get_close_matches(col, names, n=1, cutoff=0.5)
        hints.append(f"{col!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    shown = names if len(names) <= 40 else names[:40] + [f"... {len(names) - 40} more"]
    raise InputDataError(f"{path}: column(s) {', '.join(hints)} not found; the file has "
                         f"{shown}. Map them in {key}.")


@dataclass(frozen=True)
class ClusterColumns:
    """Where a cluster table keeps each field (config ``data.survey``'s column mapping).

    Attributes:
        lat, lon: coordinate columns, WGS84 degrees unless ``crs`` is set (then y and x in it).
        outcomes: the survey outcome columns.
        id: the cluster id column; None numbers the rows (``row1``, ...).
        crs: the CRS of the coordinate columns, None for WGS84.
        urban, country, year, weight, households: optional columns, None when absent.
        min_households: clusters of fewer households are rejected (with ``households``).
    """

    lat: str
    lon: str
    outcomes: tuple[str, ...]
    id: str | None = "cluster_id"
    crs: str | None = None
    urban: str | None = None
    country: str | None = None
    year: str | None = None
    weight: str | None = None
    households: str | None = None
    min_households: int = 1


def clean_clusters(df: pd.DataFrame, cfg: ClusterColumns, path: Path, positive: Sequence[str] = (),
                   source_rows: bool = True) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Canonical cluster table and the rejected rows.

    Args:
        df: the raw table as read.
        cfg: where each field is (``id`` None numbers the rows (``row1``, ...); ``crs``, if
            set, is the CRS of the lon (x) / lat (y) columns).
        path: the source file, named in messages.
        positive: outcomes that must be > 0 (targets fitted on a log scale).
        source_rows: report 1-based data rows in ``rejected`` (False for derived tables).

    Returns:
        clusters: GeoDataFrame (EPSG:4326 points), columns ``cluster_id, lat, lon, urban,
            country, year, weight, n_households`` and the outcomes, one row per valid cluster.
        rejected: DataFrame ``source, row, id, reason``.
    """
    optional = [c for c in (cfg.urban, cfg.country, cfg.year, cfg.weight, cfg.households) if c]
    required = [cfg.lat, cfg.lon, *cfg.outcomes, *optional]
    require_columns(df, ([cfg.id] if cfg.id else []) + required, path)
    ids = df[cfg.id].astype(str) if cfg.id else pd.Series([f"row{i + 1}" for i in range(len(df))],
                                                          index=df.index)
    out = pd.DataFrame({"cluster_id": ids})
    reasons = pd.Series("", index=df.index, dtype=object)
    for name, col in (("lat", cfg.lat), ("lon", cfg.lon), *((o, o) for o in cfg.outcomes)):
        out[name] = pd.to_numeric(df[col], errors="coerce")
        bad = out[name].isna() & reasons.eq("")
        reasons[bad] = [f"{col} is empty" if pd.isna(v) else f"{col} {v!r} is not a number"
                        for v in df.loc[bad, col]]
    _flag(reasons, out["lat"].eq(0) & out["lon"].eq(0),
          "latitude 0.0 and longitude 0.0 is DHS's missing-GPS marker")
    if cfg.crs:
        _to_wgs84(out, cfg.crs, reasons)
    _flag(reasons, out["lat"].abs().gt(90) | out["lon"].abs().gt(180),
          "latitude/longitude outside [-90, 90] x [-180, 180]")
    for name in positive:
        _flag(reasons, out[name].le(0), f"{name} <= 0 cannot be logged (regression.targets "
                                        f"log: true)")
    dup = out["cluster_id"].duplicated(keep="first")
    _flag(reasons, dup, "duplicate cluster id (the first occurrence is kept)")
    for name, col in (("urban", cfg.urban), ("country", cfg.country), ("year", cfg.year),
                      ("weight", cfg.weight), ("n_households", cfg.households)):
        out[name] = df[col].to_numpy() if col else np.nan
    if cfg.households:
        n = pd.to_numeric(out["n_households"], errors="coerce")
        _flag(reasons, ~(n >= cfg.min_households),
              f"fewer than data.survey.min_households={cfg.min_households} households")
    return _split(out, reasons, df.index, path, source_rows)


def _split(out: pd.DataFrame, reasons: pd.Series, index: pd.Index, path: Path,
           source_rows: bool) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    keep = reasons.eq("")
    rows = (index[~keep] + 1).astype(int) if source_rows else pd.array([pd.NA] * int((~keep).sum()))
    rejected = pd.DataFrame({"source": str(path), "row": rows,
                             "id": out.loc[~keep, "cluster_id"].to_numpy(),
                             "reason": reasons[~keep].to_numpy()}, columns=REJECTED_COLUMNS)
    good = out[keep].reset_index(drop=True)
    points = gpd.points_from_xy(good["lon"], good["lat"], crs=WGS84)
    return gpd.GeoDataFrame(good, geometry=points, crs=WGS84), rejected


def _to_wgs84(out: pd.DataFrame, crs: str, reasons: pd.Series) -> None:
    """Transform lon (x) / lat (y) given in ``crs`` to WGS84 in place."""
    try:
        transformer = Transformer.from_crs(CRS.from_user_input(crs), WGS84, always_xy=True)
    except CRSError as exc:
        raise InputDataError(f"data.survey.crs: {crs!r} is not a CRS ({exc}).") from exc
    ok = reasons.eq("")
    lon, lat = transformer.transform(out.loc[ok, "lon"].to_numpy(), out.loc[ok, "lat"].to_numpy())
    out.loc[ok, "lon"], out.loc[ok, "lat"] = lon, lat
    bad = ok & ~(np.isfinite(out["lon"]) & np.isfinite(out["lat"]))
    _flag(reasons, bad, f"coordinates cannot be transformed from data.survey.crs {crs}")


def _flag(reasons: pd.Series, mask: pd.Series, reason: str) -> None:
    reasons[mask & reasons.eq("")] = reason


def beyond_reach(clusters: gpd.GeoDataFrame, tile_lon: np.ndarray, tile_lat: np.ndarray,
                 reach_km: float, path: Path) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Split off the clusters whose nearest tile centre is farther than ``reach_km``.

    Distances are great-circle (haversine), in km.

    Returns:
        The clusters kept, and rejected rows ``source, row, id, reason`` for the others.
    """
    if len(clusters) == 0 or len(tile_lon) == 0:
        return clusters, pd.DataFrame(columns=REJECTED_COLUMNS)
    query = np.radians(np.column_stack([clusters["lat"], clusters["lon"]]))
    dist_rad, _ = lonlat_tree(tile_lon, tile_lat).query(query, k=1)
    dist_km = dist_rad[:, 0] * EARTH_RADIUS_KM
    far = dist_km > reach_km
    rejected = pd.DataFrame({
        "source": str(path), "row": pd.array([pd.NA] * int(far.sum())),
        "id": clusters.loc[far, "cluster_id"].to_numpy(),
        "reason": [f"no tile within data.survey.reach_km={reach_km} km (nearest tile centre "
                   f"{d:.1f} km away)" for d in dist_km[far]],
    }, columns=REJECTED_COLUMNS)
    return clusters[~far].reset_index(drop=True), rejected


SWAP_MARGIN_DEG = 0.1
"""Margin around the tiles' extent for :func:`check_not_swapped` (DHS displaces up to 10 km)."""


def check_not_swapped(clusters: gpd.GeoDataFrame, tile_lon: np.ndarray, tile_lat: np.ndarray,
                      path: Path, recipe: str) -> None:
    """Stop when the survey's latitude and longitude columns look exchanged.

    That is: fewer than half of the clusters lie within the tiles' extent (plus
    ``SWAP_MARGIN_DEG``), and at least 80% would with latitude and longitude swapped. Swapped
    columns often stay inside ±90/±180, so the range checks do not catch them. ``path`` and
    ``recipe`` (which config keys hold the columns) are named in the message.

    Raises:
        InputDataError: naming the survey file, both columns and the fix.
    """
    if len(clusters) == 0 or len(tile_lon) == 0:
        return
    lon, lat = clusters["lon"].to_numpy(), clusters["lat"].to_numpy()

    def inside(x: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean((x >= tile_lon.min() - SWAP_MARGIN_DEG)
                             & (x <= tile_lon.max() + SWAP_MARGIN_DEG)
                             & (y >= tile_lat.min() - SWAP_MARGIN_DEG)
                             & (y <= tile_lat.max() + SWAP_MARGIN_DEG)))

    as_given, swapped = inside(lon, lat), inside(lat, lon)
    if as_given < 0.5 and swapped >= 0.8:
        keys = {"clusters": ("data.survey.lat", "data.survey.lon"),
                "dhs": ("data.survey.dhs.gps_lat", "data.survey.dhs.gps_lon"),
                "lsms": ("data.survey.lsms.lat", "data.survey.lsms.lon")}[recipe]
        raise InputDataError(
            f"{path}: latitude and longitude look swapped: {as_given:.0%} of the "
            f"clusters fall within the tiles' extent as read and {swapped:.0%} with the two "
            f"exchanged. Exchange {keys[0]} and {keys[1]} in the config, or fix the file.")
