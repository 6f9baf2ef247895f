"""What is in a user's input files: rasters, survey tables (for ``init``).

Reads metadata and small samples only: a raster's metadata and decimated overview, a survey
table's columns and value ranges. A tile source describes its files with :class:`TilesInfo`
(see :meth:`pipeline.tiles.source.TileSource.describe`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rasterio._err import CPLE_BaseError  # GDAL/PROJ failures of warp.transform
from rasterio.enums import Resampling
from rasterio.errors import CRSError, RasterioError
from rasterio.warp import transform_bounds

from pipeline.errors import InputDataError
from pipeline.survey.tables import read_table, require_columns
from pipeline.tiles.reading import gsd_m, off_earth, open_raster

WGS84 = "EPSG:4326"
OVERVIEW_PX = 1024


@dataclass(frozen=True)
class RasterInfo:
    """One raster's metadata; ``bounds_wgs84`` is (minlon, minlat, maxlon, maxlat)."""

    path: Path
    crs: str | None
    count: int
    dtype: str
    width: int
    height: int
    gsd_m: float | None
    nodata: float | None
    bounds_wgs84: tuple[float, float, float, float] | None
    tags: dict[str, str] = field(default_factory=dict)


def describe_raster(path: Path) -> RasterInfo:
    """Metadata of one raster (no pixels read).

    Raises:
        InputDataError: the file does not open as a raster, or its CRS cannot be placed on
            the Earth.
    """
    with open_raster(path) as src:
        crs = src.crs
        gsd = None
        bounds = None
        if crs is not None:
            try:
                bounds = tuple(transform_bounds(crs, WGS84, *src.bounds))
                gsd = float(gsd_m(src, crs, (bounds[1] + bounds[3]) / 2))
            except (CRSError, CPLE_BaseError) as exc:
                raise off_earth(path, crs.to_string(), exc) from exc
        return RasterInfo(path, crs.to_string() if crs else None, src.count, src.dtypes[0],
                          src.width, src.height, gsd, src.nodata, bounds, dict(src.tags()))


@dataclass(frozen=True)
class TilesInfo:
    """A tile source: ``kind`` folder or mosaic, the files counted and those sampled."""

    kind: str
    n_files: int
    sampled: tuple[RasterInfo, ...]

    @property
    def crs_counts(self) -> dict[str, int]:
        return dict(Counter(str(r.crs) for r in self.sampled))

    @property
    def min_bands(self) -> int:
        return min(r.count for r in self.sampled)

    @property
    def dtypes(self) -> list[str]:
        return sorted({r.dtype for r in self.sampled})


def read_overview(path: Path, bands: tuple[int, ...], max_px: int = OVERVIEW_PX) -> np.ma.MaskedArray:
    """The raster decimated to at most ``max_px`` on its long side, masked where nodata."""
    with open_raster(path) as src:
        factor = max(1.0, max(src.width, src.height) / max_px)
        shape = (len(bands), max(1, round(src.height / factor)), max(1, round(src.width / factor)))
        try:
            return src.read(list(bands), out_shape=shape, resampling=Resampling.nearest,
                            masked=True)
        except (RasterioError, IndexError) as exc:
            raise InputDataError(f"{path}: cannot read bands {list(bands)} ({exc}).") from exc


def value_range(path: Path, band: int = 1) -> tuple[float, float]:
    """Min and max of a raster band's valid pixels, from its decimated overview."""
    data = read_overview(path, (band,))
    values = data.compressed()
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise InputDataError(f"{path}: band {band} has no valid pixel.")
    return float(values.min()), float(values.max())


@dataclass(frozen=True)
class SurveyInfo:
    """A survey table: rows, coordinate extent, and per-outcome min/max and positivity."""

    path: Path
    rows: int
    lon_range: tuple[float, float]
    lat_range: tuple[float, float]
    outcomes: dict[str, tuple[float, float]]


def describe_survey(path: Path, columns: Sequence[str], lat: str, lon: str,
                    outcomes: Sequence[str]) -> SurveyInfo:
    """Check that ``columns`` exist and summarise coordinates and outcomes.

    Raises:
        InputDataError: unreadable table, missing columns (with close matches), or outcome
            columns without a single number.
    """
    df = read_table(path)
    require_columns(df, list(columns), path, "the command's column options")
    ranges = {}
    for col in outcomes:
        values = pd.to_numeric(df[col], errors="coerce").dropna()
        if values.empty:
            raise InputDataError(f"{path}: outcome column {col!r} has no numeric value.")
        ranges[col] = (float(values.min()), float(values.max()))
    lats = pd.to_numeric(df[lat], errors="coerce")
    lons = pd.to_numeric(df[lon], errors="coerce")
    ok = lats.between(-90, 90) & lons.between(-180, 180) & ~(lats.eq(0) & lons.eq(0))
    if not ok.any():
        raise InputDataError(f"{path}: no row has valid WGS84 coordinates in {lat!r}/{lon!r}.")
    return SurveyInfo(path, len(df), (float(lons[ok].min()), float(lons[ok].max())),
                      (float(lats[ok].min()), float(lats[ok].max())), ranges)

