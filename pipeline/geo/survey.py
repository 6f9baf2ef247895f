"""Reading a survey cluster table and checking each row.

Bad rows are never dropped silently: :func:`clean_clusters` returns them with a reason, to be
written to ``ingest/rejected.csv``.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyogrio.errors import DataSourceError

from pipeline.config import SurveyConfig
from pipeline.errors import InputDataError

WGS84 = "EPSG:4326"
VECTOR_SUFFIXES = (".gpkg", ".shp", ".geojson")


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV, GeoPackage, Shapefile, GeoJSON or (Geo)Parquet table.

    Point geometries in vector files are exposed as ``lon``/``lat`` columns in EPSG:4326
    when the file has no such columns.

    Raises:
        InputDataError: missing, empty, undecodable or unsupported file.
    """
    if not path.exists():
        raise InputDataError(f"{path}: survey file not found (data.survey.path).")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path, encoding="utf-8")
        if suffix == ".parquet":
            return _with_lonlat(gpd.read_parquet(path)) if _is_geoparquet(path) else pd.read_parquet(path)
        if suffix in VECTOR_SUFFIXES:
            return _with_lonlat(gpd.read_file(path))
    except UnicodeDecodeError as exc:
        raise InputDataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}). "
                             "Re-save it as UTF-8.") from exc
    except pd.errors.EmptyDataError as exc:
        raise InputDataError(f"{path}: the survey file is empty.") from exc
    except (pd.errors.ParserError, DataSourceError, OSError, ValueError) as exc:
        raise InputDataError(f"{path}: cannot read the survey table ({exc}).") from exc
    raise InputDataError(f"{path}: unsupported survey format {suffix!r}; use .csv, .gpkg, "
                         ".shp, .geojson or .parquet.")


def _is_geoparquet(path: Path) -> bool:
    import pyarrow.parquet as pq

    return b"geo" in (pq.read_schema(path).metadata or {})


def _with_lonlat(gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    if gdf.crs is not None and "lon" not in df and "lat" not in df:
        points = gdf.geometry.to_crs(WGS84)
        df["lon"], df["lat"] = points.x.to_numpy(), points.y.to_numpy()
    return df


def _require(df: pd.DataFrame, columns: list[str], path: Path) -> None:
    missing = [c for c in columns if c not in df.columns]
    if not missing:
        return
    hints = []
    for col in missing:
        close = difflib.get_close_matches(col, list(map(str, df.columns)), n=1, cutoff=0.5)
        hints.append(f"{col!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise InputDataError(
        f"{path}: column(s) {', '.join(hints)} not found; the file has "
        f"{list(map(str, df.columns))}. Map them in data.survey."
    )


def clean_clusters(df: pd.DataFrame, cfg: SurveyConfig, path: Path) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Canonical cluster table and the rejected rows.

    Args:
        df: the raw table as read.
        cfg: column mapping (``data.survey``).
        path: the source file, named in messages.

    Returns:
        clusters: GeoDataFrame (EPSG:4326 points), columns ``cluster_id, lat, lon, urban,
            country, year, weight`` and the outcomes, one row per valid cluster.
        rejected: DataFrame ``source, row, id, reason``; ``row`` is the 1-based data row.
    """
    optional = [c for c in (cfg.urban, cfg.country, cfg.year, cfg.weight) if c]
    _require(df, [cfg.id, cfg.lat, cfg.lon, *cfg.outcomes, *optional], path)
    out = pd.DataFrame({"cluster_id": df[cfg.id].astype(str)})
    reasons = pd.Series("", index=df.index, dtype=object)
    for name, col in (("lat", cfg.lat), ("lon", cfg.lon), *((o, o) for o in cfg.outcomes)):
        out[name] = pd.to_numeric(df[col], errors="coerce")
        bad = out[name].isna() & reasons.eq("")
        reasons[bad] = [f"{col} is empty" if pd.isna(v) else f"{col} {v!r} is not a number"
                        for v in df.loc[bad, col]]
    _flag(reasons, out["lat"].abs().gt(90) | out["lon"].abs().gt(180),
          "latitude/longitude outside [-90, 90] x [-180, 180]")
    _flag(reasons, out["lat"].eq(0) & out["lon"].eq(0),
          "latitude 0.0 and longitude 0.0 is DHS's missing-GPS marker")
    dup = out["cluster_id"].duplicated(keep="first")
    _flag(reasons, dup, "duplicate cluster id (the first occurrence is kept)")
    for name, col in (("urban", cfg.urban), ("country", cfg.country), ("year", cfg.year),
                      ("weight", cfg.weight)):
        out[name] = df[col].to_numpy() if col else np.nan
    keep = reasons.eq("")
    rejected = pd.DataFrame({
        "source": str(path),
        "row": (df.index[~keep] + 1).astype(int),
        "id": out.loc[~keep, "cluster_id"].to_numpy(),
        "reason": reasons[~keep].to_numpy(),
    })
    good = out[keep].reset_index(drop=True)
    points = gpd.points_from_xy(good["lon"], good["lat"], crs=WGS84)
    return gpd.GeoDataFrame(good, geometry=points, crs=WGS84), rejected


def _flag(reasons: pd.Series, mask: pd.Series, reason: str) -> None:
    reasons[mask & reasons.eq("")] = reason
