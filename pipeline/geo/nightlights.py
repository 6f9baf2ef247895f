"""Sampling a nightlight raster (VIIRS radiance or DMSP digital numbers) over tile footprints."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import RasterioError, WindowError
from rasterio.features import geometry_mask
from rasterio.warp import transform_geom
from rasterio.windows import Window, from_bounds
from shapely.geometry import Polygon, mapping, shape

from pipeline.errors import InputDataError

WGS84 = "EPSG:4326"


def open_nightlights(path: Path) -> rasterio.DatasetReader:
    """Open the nightlight raster, with an error that names the file and the config key."""
    try:
        src = rasterio.open(path)
    except RasterioError as exc:
        raise InputDataError(f"{path}: cannot open the nightlight raster ({exc}); "
                             "check data.nightlights.path.") from exc
    if src.crs is None:
        src.close()
        raise InputDataError(f"{path}: the nightlight raster has no CRS. Re-export it with one.")
    return src


def sample_footprint(src: rasterio.DatasetReader, footprint: Polygon, band: int = 1) -> tuple[float, float]:
    """Mean and max of the raster over a footprint.

    The footprint (EPSG:4326) is reprojected into the raster's CRS; pixels whose centres fall
    inside it count (all pixels it touches when it is smaller than one pixel). Nodata and
    non-finite pixels are ignored.

    Returns:
        (mean, max) in the raster's units; (nan, nan) when the footprint lies outside the raster.
    """
    geom = shape(transform_geom(WGS84, src.crs, mapping(footprint)))
    window = from_bounds(*geom.bounds, transform=src.transform).round_offsets().round_lengths()
    window = Window(window.col_off - 1, window.row_off - 1, window.width + 2, window.height + 2)
    full = Window(0, 0, src.width, src.height)
    try:
        window = window.intersection(full)
    except WindowError:  # no overlap
        return float("nan"), float("nan")
    data = src.read(band, window=window, masked=True).astype(np.float64)
    transform = src.window_transform(window)
    inside = ~geometry_mask([mapping(geom)], data.shape, transform, all_touched=False)
    if not inside.any():
        inside = ~geometry_mask([mapping(geom)], data.shape, transform, all_touched=True)
    values = data[inside]
    values = values.compressed() if np.ma.isMaskedArray(values) else values
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    return float(values.mean()), float(values.max())


def sample_footprints(footprints: Iterable[Polygon], path: Path, band: int = 1) -> np.ndarray:
    """Mean and max radiance for each footprint: float64 array of shape (n, 2)."""
    with open_nightlights(path) as src:
        rows = [sample_footprint(src, fp, band) for fp in footprints]
    return np.asarray(rows, dtype=np.float64).reshape(-1, 2)
