"""One large raster (GeoTIFF, COG or VRT of a mosaic) cut into a grid of windows.

The raster is never read whole: ingest reads one window at a time (see
:func:`pipeline.tiles.reading.read_window`), and the percentile stretch reads a decimated overview.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioError

from pipeline.errors import InputDataError
from pipeline.tiles.scaling import sample_indices
from pipeline.tiles.reading import (
    TILE_SUFFIXES,
    PixelWindow,
    find_tiles,
    many_files_env,
    open_raster,
)

MOSAIC_SUFFIXES = (*TILE_SUFFIXES, ".vrt")
OVERVIEW_PX = 1024


def source_kind(path: Path, source: str) -> str:
    """``folder`` or ``mosaic``: what ``data.tiles.path`` is, checked against ``data.tiles.source``.

    Raises:
        InputDataError: the path is missing or does not match the configured source.
    """
    if not path.exists():
        raise InputDataError(f"{path}: not found (data.tiles.path).")
    kind = "folder" if path.is_dir() else "mosaic"
    if source != "auto" and source != kind:
        raise InputDataError(f"{path} is a {'folder' if kind == 'folder' else 'file'}; "
                             f"data.tiles.source: {source} needs a "
                             f"{'folder of tiles' if source == 'folder' else 'raster file'}.")
    if kind == "mosaic" and path.suffix.lower() not in MOSAIC_SUFFIXES:
        raise InputDataError(f"{path}: a mosaic must be a .tif/.tiff/.vrt raster "
                             "(data.tiles.path).")
    return kind


def source_files(path: Path) -> list[Path]:
    """The files a tile source reads: the path itself, plus a VRT's source rasters.

    Used for stage fingerprints, so that editing a file under a VRT reruns ingest.
    An unreadable VRT gives just its own path (ingest reports the error when it runs).
    """
    if path.suffix.lower() != ".vrt" or not path.is_file():
        return [path]
    try:
        with rasterio.open(path) as src:
            return [Path(f) for f in src.files]
    except RasterioError:
        return [path]


def grid_windows(width: int, height: int, window_px: int, overlap_px: int = 0) -> list[PixelWindow]:
    """Windows of ``window_px`` covering a ``width`` x ``height`` raster, row by row.

    Neighbouring windows share ``overlap_px`` pixels. The last column and row are shifted
    inward so that every window lies inside the raster and every pixel is covered (they
    overlap their neighbour more). A raster smaller than one window gives no window.

    Returns:
        (col_off, row_off, width, height) tuples, rows top to bottom, columns left to right.
    """
    cols = _starts(width, window_px, window_px - overlap_px)
    rows = _starts(height, window_px, window_px - overlap_px)
    return [(c, r, window_px, window_px) for r in rows for c in cols]


def _starts(size: int, window: int, stride: int) -> list[int]:
    if size < window:
        return []
    starts = list(range(0, size - window + 1, stride))
    if starts[-1] + window < size:
        starts.append(size - window)
    return starts


def window_id(path: Path, window: PixelWindow) -> str:
    """Stable tile id of a mosaic window: ``<stem>/r<row_off>_c<col_off>``."""
    return f"{path.stem}/r{window[1]:06d}_c{window[0]:06d}"


def mosaic_windows(path: Path, window_px: int, overlap_px: int) -> list[PixelWindow]:
    """The window grid of the mosaic at ``path``.

    Raises:
        InputDataError: unreadable raster, or one smaller than a single window.
    """
    with open_raster(path) as src:
        windows = grid_windows(src.width, src.height, window_px, overlap_px)
        if not windows:
            raise InputDataError(f"{path} is {src.width}x{src.height} px, smaller than one "
                                 f"window of {window_px} px; lower data.tiles.window_px.")
    return windows


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


def read_folder_sample(folder: Path, bands: tuple[int, ...], k: int,
                       size_px: int = 64) -> list[np.ma.MaskedArray]:
    """Up to ``k`` evenly spaced tiles of a folder, read at ``size_px``, masked where nodata.

    Unreadable tiles and tiles without the bands are left out (ingest rejects them later,
    with their reason).
    """
    paths = find_tiles(folder)
    out = []
    with many_files_env():
        for i in sample_indices(len(paths), k):
            try:
                with rasterio.open(paths[i]) as src:
                    if max(bands) <= src.count:
                        out.append(src.read(list(bands), out_shape=(len(bands), size_px, size_px),
                                            resampling=Resampling.nearest, masked=True))
            except RasterioError:
                continue
    return out

