"""Coverage-weighted zonal statistics of a raster (night lights, population) over footprints.

Every pixel counts by the exact share of it that a footprint covers (``exactextract``): a 1 km
tile over 15" VIIRS pixels (about 460 m) cuts most of the pixels it touches, and counting pixel
centres instead (as before) made a tile's radiance jump between neighbours. Footprints are given
in EPSG:4326 and reprojected to the raster's CRS; all footprints of a call go to exactextract at
once, which reads the raster block by block (memory bounded by the footprints of one call, a
shard in the stages). Pixels that are nodata or not finite, and parts of a footprint beyond the raster's edge,
do not count: the mean is over the covered valid pixels only.

- ``mean``: sum(value x covered share) / sum(covered share), raster units;
- ``max``: the largest value among the pixels the footprint covers any part of;
- ``sum``: sum(value x covered share): a raster of counts (people per pixel) summed over the
  footprint.

:func:`intensity` is the scale nightlight radiance is classed and regressed on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from exactextract import exact_extract
from exactextract.feature import Feature, FeatureSource
from exactextract.raster import RasterioRasterSource
from rasterio.errors import RasterioError
from shapely.geometry import Polygon

from pipeline.errors import InputDataError

WGS84 = "EPSG:4326"
ZONAL_OPS = ("mean", "max", "sum", "count")
MIN_COVERAGE = 1e-6
"""Pixels a footprint covers by less than this fraction are left out: such slivers are
floating-point noise at a shared edge (a box aligned on pixel edges would otherwise take its
neighbour's value where its own pixels are nodata)."""


def intensity(radiance: np.ndarray) -> np.ndarray:
    """The scale nightlight classes are fitted on (and the radiance objective regresses):
    log(1 + max(radiance, 0)), same shape as ``radiance``."""
    return np.log1p(np.clip(radiance, 0.0, None))


def open_nightlights(path: Path) -> rasterio.DatasetReader:
    """Open the nightlight raster, with an error that names the file and the config key."""
    return open_raster(path, "data.nightlights.path", "nightlight")


def open_raster(path: Path, key: str, what: str) -> rasterio.DatasetReader:
    """Open a raster that must have a CRS; InputDataError naming the file and ``key``."""
    try:
        src = rasterio.open(path)
    except RasterioError as exc:
        raise InputDataError(f"{path}: cannot open the {what} raster ({exc}); check {key}.") from exc
    if src.crs is None:
        src.close()
        raise InputDataError(f"{path}: the {what} raster has no CRS. Re-export it with one.")
    return src


class _Footprint(Feature):
    """One footprint as exactextract reads it: WKB and its row number."""

    def __init__(self, row: int, wkb: bytes):
        Feature.__init__(self)
        self.row, self.wkb = row, wkb

    def geometry(self) -> bytes:
        return self.wkb

    def get(self, name: str) -> int:
        return self.row

    def fields(self) -> list[str]:
        return ["row"]


class _Footprints(FeatureSource):
    """Footprints handed to exactextract as WKB (GeoPandas' source goes through GeoJSON text,
    which took most of the time)."""

    def __init__(self, geometries: np.ndarray, crs_wkt: str):
        super().__init__()
        self.wkb, self.crs_wkt = shapely.to_wkb(geometries), crs_wkt

    def count(self) -> int:
        return len(self.wkb)

    def __iter__(self):
        for row, wkb in enumerate(self.wkb):
            yield _Footprint(row, bytes(wkb))

    def srs_wkt(self) -> str:
        return self.crs_wkt


def zonal_stats(src: rasterio.DatasetReader, footprints: Sequence[Polygon],
                ops: Sequence[str] = ("mean", "max"), band: int = 1) -> np.ndarray:
    """Coverage-weighted statistics ``ops`` (of :data:`ZONAL_OPS`) of one band per footprint.

    Args:
        src: an open raster with a CRS.
        footprints: polygons in EPSG:4326.
        ops: which statistics, in the column order wanted.
        band: 1-based band index.

    Returns:
        float64 (n, len(ops)); ``mean``/``max`` are NaN where a footprint covers no valid pixel
        (outside the raster, or only nodata), ``sum``/``count`` are 0 there.
    """
    unknown = sorted(set(ops) - set(ZONAL_OPS))
    if unknown:
        raise ValueError(f"zonal_stats: unknown ops {unknown}; allowed: {', '.join(ZONAL_OPS)}")
    if len(footprints) == 0:
        return np.empty((0, len(ops)), dtype=np.float64)
    zones = gpd.GeoSeries(list(footprints), crs=WGS84).to_crs(src.crs).to_numpy()
    wanted = list(dict.fromkeys([*ops, "count"]))
    specs = [f"{op}={op}(min_coverage_frac={MIN_COVERAGE})" for op in wanted]
    frame = exact_extract(RasterioRasterSource(src, band), _Footprints(zones, src.crs.to_wkt()),
                          specs, include_cols=["row"], output="pandas",
                          strategy="raster-sequential").sort_values("row")
    out = frame[list(ops)].to_numpy(dtype=np.float64, copy=True)
    empty = frame["count"].to_numpy() == 0
    for j, op in enumerate(ops):
        if op in ("mean", "max"):
            out[empty, j] = np.nan
    return out


def sample_footprint(src: rasterio.DatasetReader, footprint: Polygon,
                     band: int = 1) -> tuple[float, float]:
    """(mean, max) of the raster over one footprint (see :func:`zonal_stats`)."""
    mean, peak = zonal_stats(src, [footprint], ("mean", "max"), band)[0]
    return float(mean), float(peak)


def sample_footprints(footprints: Iterable[Polygon], path: Path, band: int = 1) -> np.ndarray:
    """Coverage-weighted mean and max radiance for each footprint: float64 array (n, 2)."""
    with open_nightlights(path) as src:
        return zonal_stats(src, list(footprints), ("mean", "max"), band).reshape(-1, 2)
