"""One large raster (GeoTIFF, COG or VRT of a mosaic) cut into a grid of windows.

The raster is never read whole: ingest reads one window at a time (see
:func:`pipeline.tiles.reading.read_window`), and the percentile stretch reads a decimated overview.
The whole raster is checked once (bands, scaling, CRS on the Earth) before any window is read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import ClassVar

import numpy as np
import rasterio
from rasterio.errors import RasterioError

from pipeline.errors import InputDataError
from pipeline.tiles.dates import acquisition_date
from pipeline.tiles.inspect import TilesInfo, describe_raster, read_overview
from pipeline.tiles.reading import (
    TILE_SUFFIXES,
    PixelWindow,
    ReadSpec,
    TileRead,
    TileShard,
    check_on_earth,
    check_source,
    in_shards,
    open_raster,
    read_or_reject,
    read_window,
    source_crs,
)

MOSAIC_SUFFIXES = (*TILE_SUFFIXES, ".vrt")


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
    with open_raster(path, allow_truncated=True) as src:
        windows = grid_windows(src.width, src.height, window_px, overlap_px)
        if not windows:
            raise InputDataError(f"{path} is {src.width}x{src.height} px, smaller than one "
                                 f"window of {window_px} px; lower data.tiles.window_px.")
    return windows


@dataclass(frozen=True)
class MosaicSource:
    """One raster at ``path`` cut into ``window_px`` windows sharing ``overlap_px`` pixels; a
    shard's items are pixel windows."""

    path: Path
    window_px: int
    overlap_px: int = 0
    kind: ClassVar[str] = "mosaic"

    def files(self) -> list[Path]:
        return source_files(self.path)

    def windows(self) -> list[PixelWindow]:
        """Every window, row by row (see :func:`mosaic_windows`)."""
        return mosaic_windows(self.path, self.window_px, self.overlap_px)

    def describe(self) -> TilesInfo:
        return TilesInfo(self.kind, 1, (describe_raster(self.path),))

    def count(self) -> int:
        return len(self.windows())

    def shards(self, shard_size: int) -> list[TileShard]:
        return in_shards(self.windows(), shard_size)

    def check(self, bands: tuple[int, ...], crs: str | None, scaled: bool) -> None:
        """Raise when the raster cannot give ``bands`` in 0..255 or does not lie on the Earth,
        rather than rejecting every window for the same reason."""
        with open_raster(self.path, allow_truncated=True) as src:
            located = source_crs(src, self.path, crs)
            check_source(src, self.path, bands, scaled)
            check_on_earth(src, self.path, located)

    def sample(self, bands: tuple[int, ...], k: int) -> list[np.ma.MaskedArray]:
        """The decimated overview of the whole raster (``k`` does not apply)."""
        return [read_overview(self.path, bands)]

    def read(self, shard: TileShard, spec: ReadSpec) -> Iterator[TileRead]:
        with open_raster(self.path, allow_truncated=True) as src:
            date = acquisition_date(src.tags(), self.path.name, spec.date_tags, spec.year_pattern)
            for window in shard.items:
                col, row, width, height = window
                yield read_or_reject(window_id(self.path, window), self.path,
                                     partial(read_window, src, self.path, window, spec, date),
                                     f"window col_off={col} row_off={row} ({width} x {height} px) of ")
