"""Reading GeoTIFF tiles: metadata, footprints in WGS84, and pixels resampled for the model.

Rasters are band-first as rasterio gives them; :func:`read_tile_pixels` moves them to
band-last (height, width, bands) for Keras — the one place where that happens.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.warp import transform_geom
from shapely.geometry import Polygon, box, shape

from pipeline.errors import InputDataError

TILE_SUFFIXES = (".tif", ".tiff")
WGS84 = "EPSG:4326"


@dataclass(frozen=True)
class TileMeta:
    """What the catalog records about one tile.

    Attributes:
        crs: the tile's CRS as an authority string or WKT.
        bounds: (minx, miny, maxx, maxy) in ``crs`` units.
        footprint: the tile outline in EPSG:4326 (lon/lat).
        gsd_m: ground sample distance in metres (geographic CRSs converted at the centroid).
        valid_share: share of pixels that are not nodata, in [0, 1].
    """

    crs: str
    bounds: tuple[float, float, float, float]
    footprint: Polygon
    gsd_m: float
    width_px: int
    height_px: int
    band_count: int
    valid_share: float


def find_tiles(folder: Path) -> list[Path]:
    """Every GeoTIFF below ``folder`` (recursive), sorted.

    Raises:
        InputDataError: the folder is missing or holds no .tif/.tiff file.
    """
    if not folder.is_dir():
        raise InputDataError(f"{folder}: tile folder not found (data.tiles.path).")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in TILE_SUFFIXES)
    if not paths:
        raise InputDataError(
            f"{folder}: no .tif/.tiff tiles found (searched recursively). Check data.tiles.path."
        )
    return paths


def _gsd_m(src: rasterio.DatasetReader) -> float:
    res = abs(src.transform.a)
    if src.crs.is_geographic:
        lat = (src.bounds.bottom + src.bounds.top) / 2
        return res * 111_320.0 * np.cos(np.radians(lat))
    return res * src.crs.linear_units_factor[1]


def read_tile(path: Path, bands: tuple[int, ...], size_px: int,
              scale: tuple[float, float] | None) -> tuple[np.ndarray, TileMeta]:
    """Read one tile: its pixels resampled to ``size_px`` and its metadata.

    Args:
        path: a GeoTIFF with a CRS and a geotransform.
        bands: 1-based band indexes to read, in model order (e.g. (1, 2, 3) for RGB).
        size_px: output height and width in pixels.
        scale: (low, high) mapped linearly to 0..255 for non-uint8 data; None keeps uint8 as is.

    Returns:
        pixels: uint8 array of shape (size_px, size_px, len(bands)), band-last.
        meta: the tile's :class:`TileMeta`.

    Raises:
        InputDataError: unreadable file, no CRS, no geotransform, too few bands, or a
            non-uint8 tile without ``data.tiles.scale``.
    """
    try:
        with rasterio.open(path) as src:
            _check(src, path, bands, scale)
            data = src.read(list(bands), out_shape=(len(bands), size_px, size_px),
                            resampling=Resampling.bilinear, masked=True)
            valid = float((src.dataset_mask() > 0).mean())
            meta = _meta(src, valid)
    except RasterioError as exc:
        raise InputDataError(f"{path}: not a readable GeoTIFF ({exc}).") from exc
    pixels = _to_uint8(data.filled(0), scale)
    return np.moveaxis(pixels, 0, -1), meta


def _check(src: rasterio.DatasetReader, path: Path, bands: tuple[int, ...],
           scale: tuple[float, float] | None) -> None:
    if src.crs is None:
        raise InputDataError(f"{path} has no CRS. Re-export it with one.")
    if src.transform.is_identity:
        raise InputDataError(f"{path} has no geotransform. Re-export it georeferenced.")
    if max(bands) > src.count:
        raise InputDataError(
            f"{path} has {src.count} band(s); data.tiles.bands asks for {list(bands)}."
        )
    if src.dtypes[0] != "uint8" and scale is None:
        raise InputDataError(
            f"{path} is {src.dtypes[0]}; set data.tiles.scale: [low, high] to map it to 0..255."
        )


def _meta(src: rasterio.DatasetReader, valid_share: float) -> TileMeta:
    footprint = shape(transform_geom(src.crs, WGS84, box(*src.bounds).__geo_interface__))
    return TileMeta(
        crs=src.crs.to_string(),
        bounds=tuple(src.bounds),
        footprint=footprint,
        gsd_m=float(_gsd_m(src)),
        width_px=src.width,
        height_px=src.height,
        band_count=src.count,
        valid_share=valid_share,
    )


def _to_uint8(data: np.ndarray, scale: tuple[float, float] | None) -> np.ndarray:
    if scale is None:
        return data.astype(np.uint8)
    low, high = scale
    scaled = (data.astype(np.float32) - low) * (255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
