"""Reading GeoTIFF tiles and raster windows: metadata, WGS84 footprints, pixels for the model.

A folder tile is read as one window covering the whole file; a mosaic is read window by window
(see :mod:`pipeline.tiles.mosaic`). Rasters are band-first as rasterio gives them;
:func:`read_window` moves them to band-last (height, width, bands) for Keras — the one place
where that happens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio._err import CPLE_BaseError  # GDAL/PROJ failures of warp.transform
from rasterio.crs import CRS
from rasterio.enums import MaskFlags, Resampling
from rasterio.errors import CRSError, RasterioError
from rasterio.warp import transform
from rasterio.windows import Window
from shapely.geometry import Polygon, box

from pipeline.errors import InputDataError
from pipeline.tiles.dates import acquisition_date
from pipeline.geo.blocks import KM_PER_DEG_LON_EQUATOR
from pipeline.tiles.scaling import Ranges, fixed_ranges, to_uint8

TILE_SUFFIXES = (".tif", ".tiff")
WGS84 = "EPSG:4326"
PixelWindow = tuple[int, int, int, int]  # col_off, row_off, width, height (source pixels)


@dataclass(frozen=True)
class TileMeta:
    """What the catalog records about one tile.

    Attributes:
        crs: the tile's CRS as an authority string or WKT.
        bounds: (minx, miny, maxx, maxy) in ``crs`` units.
        footprint: the tile outline in EPSG:4326 (lon/lat); None until
            :func:`with_footprints` fills it.
        gsd_m: ground sample distance in metres (geographic CRSs converted at the centroid).
        valid_share: share of pixels that are not nodata, in [0, 1].
        window: (col_off, row_off, width, height) of the tile in its source raster, pixels.
        date: acquisition date (ISO, possibly only the year) when known.
    """

    crs: str
    bounds: tuple[float, float, float, float]
    footprint: Polygon | None
    gsd_m: float
    width_px: int
    height_px: int
    band_count: int
    valid_share: float
    window: PixelWindow = (0, 0, 0, 0)
    date: str | None = None


@dataclass(frozen=True)
class ReadSpec:
    """How tiles are read: bands (1-based, model order), output size, scaling, fallbacks."""

    bands: tuple[int, ...]
    size_px: int
    ranges: Ranges | None = None
    crs: str | None = None
    date_tags: tuple[str, ...] = ()
    year_pattern: str | None = None


@dataclass(frozen=True)
class TileShard:
    """One shard of a source's tiles, as sent to a worker.

    Attributes:
        index: the shard number (names its cache file, ``shard_NNNNN.npy``).
        items: what the source needs to find the shard's tiles (tile files of a folder,
            pixel windows of a mosaic); only the source that made the shard reads them.
    """

    index: int
    items: tuple[Any, ...]


@dataclass(frozen=True)
class TileRead:
    """One tile of a shard: its pixels and metadata, or why it cannot be used.

    Attributes:
        tile_id: stable id (a folder tile's relative path without suffix; a window's
            ``<stem>/r<row>_c<col>``).
        path: the file it was read from.
        pixels: uint8 (size_px, size_px, bands), band-last; None when rejected.
        meta: its catalog metadata; None when rejected.
        error: None when read, else the reason to reject it (for ``rejected.csv``).
    """

    tile_id: str
    path: Path
    pixels: np.ndarray | None = None
    meta: TileMeta | None = None
    error: str | None = None


def in_shards(items: Sequence[Any], shard_size: int) -> list[TileShard]:
    """``items`` cut into consecutive shards of ``shard_size`` (the last may be smaller)."""
    return [TileShard(i, tuple(items[start:start + shard_size]))
            for i, start in enumerate(range(0, len(items), shard_size))]


def read_or_reject(tile_id: str, path: Path, read: Callable[[], tuple[np.ndarray, TileMeta]],
                   where: str = "") -> TileRead:
    """One tile read by ``read``, or the reason it is unusable (``where`` + the error), so that a
    bad tile is rejected alone."""
    try:
        pixels, meta = read()
    except InputDataError as exc:
        return TileRead(tile_id, path, error=f"{where}{exc}")
    return TileRead(tile_id, path, pixels, meta)


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


def many_files_env() -> rasterio.Env:
    """GDAL settings for opening many files of one folder.

    GDAL lists a file's whole folder on every open to find sidecar files (.aux.xml, .ovr,
    .msk); with thousands of tiles in a folder that listing dominates. ``TRUE`` skips the
    listing and probes the sidecar names directly, so the same sidecars are still found.
    """
    return rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="TRUE")


def open_raster(path: Path, allow_truncated: bool = False) -> rasterio.DatasetReader:
    """Open a raster, re-raising failures as InputDataError naming the file.

    A GeoTIFF cut short (an interrupted download or copy) may still open, its georeferencing
    lost: it is reported as truncated (see :func:`truncation`), not as a file without a CRS.
    ``allow_truncated`` skips that check (a mosaic rejects only the windows past the cut, when
    it reads them).
    """
    try:
        src = rasterio.open(path)
    except RasterioError as exc:
        raise InputDataError(f"{path}: not a readable GeoTIFF ({exc}).") from exc
    cut = None if allow_truncated else truncation(src, Path(path))
    if cut:
        src.close()
        raise InputDataError(f"{path}: truncated GeoTIFF ({cut}); download or copy it again.")
    return src


def truncation(src: rasterio.DatasetReader, path: Path) -> str | None:
    """Why the local GeoTIFF ``src`` is cut short, or None: its first or last pixel block (per
    band) ends past the end of the file. Two metadata look-ups per band; no pixel is read."""
    if src.driver != "GTiff" or not path.is_file():
        return None
    size = path.stat().st_size
    rows, cols = (-(-n // b) for n, b in zip(src.shape, src.block_shapes[0]))
    end = 0
    for band in range(1, src.count + 1):
        for col, row in ((0, 0), (cols - 1, rows - 1)):
            offset = src.get_tag_item(f"BLOCK_OFFSET_{col}_{row}", "TIFF", bidx=band)
            length = src.get_tag_item(f"BLOCK_SIZE_{col}_{row}", "TIFF", bidx=band)
            if offset and length:
                end = max(end, int(offset) + int(length))
    if end > size:
        return f"the file has {size} bytes, its pixel blocks run to byte {end}"
    return None


def read_tile(path: Path, bands: tuple[int, ...], size_px: int, scale: Any,
              spec: ReadSpec | None = None) -> tuple[np.ndarray, TileMeta]:
    """Read one tile file: its pixels resampled to ``size_px`` and its metadata.

    Args:
        path: a GeoTIFF with a CRS (or ``spec.crs``) and a geotransform.
        bands: 1-based band indexes to read, in model order (e.g. (1, 2, 3) for RGB).
        size_px: output height and width in pixels.
        scale: None (uint8 kept as is), (low, high), or per-band ranges float (bands, 2).
        spec: CRS fallback and date settings; bands/size/scale above take precedence.

    Returns:
        pixels: uint8 array of shape (size_px, size_px, len(bands)), band-last.
        meta: the tile's :class:`TileMeta`.

    Raises:
        InputDataError: unreadable file, no CRS, no geotransform, too few bands, a
            non-uint8 tile without ``data.tiles.scale``, or a CRS or footprint off the Earth
            (see :func:`with_checked_footprint`).
    """
    ranges = scale if isinstance(scale, np.ndarray) else fixed_ranges(scale, len(bands))
    base = spec or ReadSpec(bands, size_px)
    spec = ReadSpec(bands, size_px, ranges, base.crs, base.date_tags, base.year_pattern)
    with open_raster(path) as src:
        return read_whole(src, path, spec)


def read_whole(src: rasterio.DatasetReader, path: Path, spec: ReadSpec
               ) -> tuple[np.ndarray, TileMeta]:
    """The whole of the open raster ``src`` as a tile (see :func:`read_tile`; ``spec.ranges``
    set); ``path`` is the file it is or will be, named in errors and in the metadata."""
    date = acquisition_date(src.tags(), path.name, spec.date_tags, spec.year_pattern)
    pixels, meta = read_window(src, path, (0, 0, src.width, src.height), spec, date)
    return pixels, with_checked_footprint(meta, path)


def read_window(src: rasterio.DatasetReader, path: Path, window: PixelWindow, spec: ReadSpec,
                date: str | None = None) -> tuple[np.ndarray, TileMeta]:
    """Read one window of an open raster, resampled (bilinear) to ``spec.size_px``.

    Nodata pixels become 0 in every band, and so do pixels where a band is NaN or infinite
    (float data, with or without a nodata tag); ``valid_share`` is measured at full resolution.
    The returned metadata has no footprint yet (see :func:`with_footprints`).

    Raises:
        InputDataError: see :func:`read_tile`; messages name ``path``.
    """
    crs = source_crs(src, path, spec.crs)
    check_source(src, path, spec.bands, spec.ranges is not None)
    win = Window(*window)
    try:
        all_valid = all(MaskFlags.all_valid in flags for flags in src.mask_flag_enums)
        data = src.read(list(spec.bands), window=win, out_shape=(len(spec.bands), spec.size_px,
                        spec.size_px), resampling=Resampling.bilinear, masked=not all_valid)
        valid = valid_share(src, win, spec.bands, all_valid)
    except RasterioError as exc:
        raise InputDataError(f"{path}: not a readable GeoTIFF ({exc}).") from exc
    values = np.ma.getdata(data)
    invalid = np.ma.getmaskarray(data) | ~np.isfinite(values).all(axis=0)
    pixels = to_uint8(np.where(invalid, 0, values), spec.ranges)
    pixels[invalid] = 0
    return np.moveaxis(pixels, 0, -1), measured_meta(src, path, crs, window, valid, date)


def valid_share(src: rasterio.DatasetReader, win: Window, bands: Sequence[int],
                all_valid: bool) -> float:
    """Share of the window's full-resolution pixels that the dataset mask allows and, for float
    data, that are finite in every one of ``bands`` (a NaN is missing data even untagged)."""
    valid = np.ones((int(win.height), int(win.width)), bool)
    if not all_valid:
        valid &= src.dataset_mask(window=win) > 0
    if np.issubdtype(np.dtype(src.dtypes[0]), np.floating):
        valid &= np.isfinite(src.read(list(bands), window=win)).all(axis=0)
    return float(valid.mean())


def source_crs(src: rasterio.DatasetReader, path: Path, fallback: str | None) -> CRS:
    """The raster's CRS, or ``data.tiles.crs`` when the file has none."""
    if src.crs is not None:
        return src.crs
    if fallback is None:
        raise InputDataError(f"{path} has no CRS. Re-export it with one, or set data.tiles.crs "
                             "in the config.")
    try:
        return CRS.from_user_input(fallback)
    except CRSError as exc:
        raise InputDataError(f"data.tiles.crs: {fallback!r} is not a CRS ({exc}).") from exc


def check_source(src: rasterio.DatasetReader, path: Path, bands: Sequence[int],
                 scaled: bool) -> None:
    """Raise when the raster cannot give the requested bands in 0..255."""
    if src.transform.is_identity:
        raise InputDataError(f"{path} has no geotransform. Re-export it georeferenced.")
    if max(bands) > src.count:
        raise InputDataError(
            f"{path} has {src.count} band(s); data.tiles.bands asks for {list(bands)}."
        )
    if src.dtypes[0] != "uint8" and not scaled:
        raise InputDataError(
            f"{path} is {src.dtypes[0]}; set data.tiles.scale: [low, high] (or percentile) to "
            "map it to 0..255."
        )


def gsd_m(src: rasterio.DatasetReader, crs: CRS, lat: float) -> float:
    """Ground size of a pixel's width in metres at latitude ``lat`` (degrees of a geographic
    CRS at the equator's 111.320 km per degree, times the cosine of the latitude)."""
    res = abs(src.transform.a)
    if crs.is_geographic:
        return res * KM_PER_DEG_LON_EQUATOR * 1000.0 * np.cos(np.radians(lat))
    return res * crs.linear_units_factor[1]


def window_meta(src: rasterio.DatasetReader, crs: CRS, window: PixelWindow, valid_share: float,
                date: str | None) -> TileMeta:
    """Catalog metadata of a pixel window of ``src``; the footprint is left empty.

    Fill footprints with :func:`with_footprints`, which transforms many tiles at once.
    """
    bounds = tuple(float(b) for b in rasterio.windows.bounds(Window(*window), src.transform))
    return TileMeta(
        crs=crs.to_string(),
        bounds=bounds,
        footprint=None,
        gsd_m=float(gsd_m(src, crs, (bounds[1] + bounds[3]) / 2)),
        width_px=int(window[2]),
        height_px=int(window[3]),
        band_count=src.count,
        valid_share=valid_share,
        window=tuple(int(v) for v in window),
        date=date,
    )


def measured_meta(src: rasterio.DatasetReader, path: Path, crs: CRS, window: PixelWindow,
                  valid_share: float, date: str | None = None) -> TileMeta:
    """:func:`window_meta`, with a CRS that has no metres (e.g. LOCAL_CS) an InputDataError."""
    try:
        return window_meta(src, crs, window, valid_share, date)
    except CRSError as exc:
        raise off_earth(path, crs.to_string(), exc) from exc


def check_on_earth(src: rasterio.DatasetReader, path: Path, crs: CRS) -> None:
    """Raise unless the whole raster lies on the globe (a mosaic, once, before its windows).

    Raises:
        InputDataError: see :func:`with_checked_footprint`.
    """
    with_checked_footprint(measured_meta(src, path, crs, (0, 0, src.width, src.height), 1.0), path)


def off_earth(path: Path, crs: str, exc: Exception) -> InputDataError:
    """The error for a tile whose CRS (e.g. an engineering LOCAL_CS) has no place on the Earth."""
    return InputDataError(
        f"{path}: its CRS {crs} cannot be placed on the Earth ({exc}). Re-export it in a "
        "geographic or projected CRS (e.g. its UTM zone), or, for a file without a CRS, set "
        "data.tiles.crs to one.")


def with_checked_footprint(meta: TileMeta, path: Path) -> TileMeta:
    """``meta`` with its EPSG:4326 footprint, checked to be finite and within lon -180..180,
    lat -90..90.

    Raises:
        InputDataError: naming ``path``: the CRS cannot be transformed to EPSG:4326, the
            footprint is off the globe (e.g. metre coordinates read as degrees through
            ``data.tiles.crs: EPSG:4326``), or it crosses the antimeridian.
    """
    try:
        located = with_footprints([meta])[0]
    except (CRSError, CPLE_BaseError) as exc:
        raise off_earth(path, meta.crs, exc) from exc
    corners = np.asarray(located.footprint.exterior.coords)
    on_globe = (np.isfinite(corners).all() and np.abs(corners[:, 0]).max() <= 180.0
                and np.abs(corners[:, 1]).max() <= 90.0)
    if not on_globe:
        raise InputDataError(
            f"{path}: its footprint {tuple(located.footprint.bounds)} is not within lon "
            f"-180..180, lat -90..90: its bounds {meta.bounds} are not coordinates of its CRS "
            f"{meta.crs}. Re-export it with the CRS of its coordinates, or, for a file without "
            "a CRS, set data.tiles.crs to it.")
    if np.ptp(corners[:, 0]) > 180.0:
        raise InputDataError(
            f"{path}: it crosses the antimeridian (its corners lie at longitudes "
            f"{corners[:, 0].min():.4f} and {corners[:, 0].max():.4f}), which the pipeline's "
            "longitude-based footprints, nightlight sampling and maps do not handle. Split the "
            "imagery at 180° (e.g. gdalwarp -te with each side's bounds) and give the halves as "
            "separate files.")
    return located


def with_footprints(metas: Sequence[TileMeta]) -> list[TileMeta]:
    """The tiles with their EPSG:4326 footprints, one coordinate transformation per CRS.

    The outline is the tile's bounds box (5 vertices, closed) transformed point by point,
    as ``rasterio.warp.transform_geom`` would do for each tile, in one call per CRS. Tiles that
    already have a footprint keep it.
    """
    out = list(metas)
    by_crs: dict[str, list[int]] = {}
    for i, meta in enumerate(metas):
        if meta.footprint is None:
            by_crs.setdefault(meta.crs, []).append(i)
    for crs, rows in by_crs.items():
        rings = np.array([box(*metas[i].bounds).exterior.coords for i in rows])  # (n, 5, 2)
        lon, lat = transform(crs, WGS84, rings[..., 0].ravel(), rings[..., 1].ravel())
        lon, lat = np.reshape(lon, rings.shape[:2]), np.reshape(lat, rings.shape[:2])
        for k, i in enumerate(rows):
            out[i] = replace(metas[i], footprint=Polygon(np.column_stack([lon[k], lat[k]])))
    return out
