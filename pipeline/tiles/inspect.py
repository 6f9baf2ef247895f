"""What is in a user's input files: rasters, survey tables (for ``init``).

Reads metadata and small samples only: a raster's metadata and decimated overview, a survey
table's columns and value ranges. A tile source describes its files with :class:`TilesInfo`
(see :meth:`pipeline.tiles.source.TileSource.describe`): a sample of them, the unreadable ones
counted and named rather than stopping at the first. What GDAL and rasterio say while a file is
opened (warnings, GDAL's CPLE messages) is kept with the file as one line each
(:func:`raster_messages`), for ``init`` to report once, not printed raw with a source line.
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
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
from pipeline.tiles.scaling import sample_indices

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
    messages: tuple[str, ...] = ()


class _Collect(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())


@contextmanager
def raster_messages() -> Iterator[list[str]]:
    """Collect what rasterio warns and GDAL logs (warnings and up) inside the block, one
    line each (``GDAL: ...``, ``rasterio: ...``), instead of letting them print raw."""
    said: list[str] = []
    handler = _Collect(said)
    logger = logging.getLogger("rasterio")
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield said
    finally:
        logger.removeHandler(handler)
    said[:] = [_one_line("GDAL", m) for m in said]
    said += [_one_line("rasterio", str(w.message)) for w in caught]


def _one_line(who: str, message: str) -> str:
    text = " ".join(message.split())
    if text.startswith("CPLE_"):  # "CPLE_AppDefined in file.tif: TIFFFetch...: what"
        text = text.split(": ", 1)[-1]
    return f"{who}: {text}"


def describe_raster(path: Path) -> RasterInfo:
    """Metadata of one raster (no pixels read), with what GDAL and rasterio said opening it.

    Raises:
        InputDataError: the file does not open as a raster, is truncated, or its CRS cannot
            be placed on the Earth.
    """
    with raster_messages() as said:
        info = _describe(path)
    return replace(info, messages=tuple(said)) if said else info


def _describe(path: Path) -> RasterInfo:
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
    """A tile source: ``kind`` folder or mosaic, the files counted, those sampled (readable),
    and the sampled files that could not be read, each with why."""

    kind: str
    n_files: int
    sampled: tuple[RasterInfo, ...]
    unreadable: tuple[tuple[Path, str], ...] = ()

    @property
    def inspected(self) -> int:
        return len(self.sampled) + len(self.unreadable)

    @property
    def messages(self) -> dict[str, list[Path]]:
        """What GDAL/rasterio said -> the sampled files it was said of."""
        out: dict[str, list[Path]] = {}
        for info in self.sampled:
            for message in info.messages:
                out.setdefault(message, []).append(info.path)
        return out

    @property
    def crs_counts(self) -> dict[str, int]:
        return dict(Counter(str(r.crs) for r in self.sampled))

    @property
    def min_bands(self) -> int:
        return min(r.count for r in self.sampled)

    @property
    def dtypes(self) -> list[str]:
        return sorted({r.dtype for r in self.sampled})


def describe_sample(kind: str, paths: Sequence[Path], k: int) -> TilesInfo:
    """:class:`TilesInfo` of up to ``k`` evenly spaced files of ``paths``; a file that cannot
    be read is recorded in ``unreadable`` with the reason, not raised (ingest rejects it)."""
    sampled, unreadable = [], []
    for i in sample_indices(len(paths), k):
        try:
            sampled.append(describe_raster(paths[i]))
        except InputDataError as exc:
            unreadable.append((paths[i], str(exc).removeprefix(f"{paths[i]}: ")))
    return TilesInfo(kind, len(paths), tuple(sampled), tuple(unreadable))


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

