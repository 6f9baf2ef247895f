"""Where tiles come from: the :class:`TileSource` protocol, and the one place that picks one.

A tile source answers what ``ingest``, ``init``, ``validate`` and the percentile stretch ask of
imagery, whatever its form:

- :meth:`~TileSource.describe`: metadata of a few files (``init`` chooses defaults from it);
- :meth:`~TileSource.count`: how many tiles it holds (``validate``);
- :meth:`~TileSource.shards`: the tiles cut into shards of work (``ingest``'s executor);
- :meth:`~TileSource.check`: stop before any tile is read when the whole source is unusable;
- :meth:`~TileSource.sample`: a few tiles at reduced size, for the percentile stretch;
- :meth:`~TileSource.read`: the tiles of one shard, each read or rejected with its reason;
- :meth:`~TileSource.files`: the local files it reads (they key ingest's fingerprint).

Implementations: :class:`~pipeline.tiles.folder.FolderSource` (a folder of GeoTIFF tiles),
:class:`~pipeline.tiles.mosaic.MosaicSource` (one raster cut into windows) and
:class:`~pipeline.tiles.stac.StacSource` (composites of a STAC search, written into a folder of
the run directory as they are acquired). Adding a source is
one new module with a class like them, plus its branch in :func:`tile_source` and the config
value ``data.tiles.source`` that names it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from pipeline.errors import InputDataError
from pipeline.tiles.folder import FolderSource
from pipeline.tiles.inspect import TilesInfo
from pipeline.tiles.mosaic import MOSAIC_SUFFIXES, MosaicSource
from pipeline.tiles.reading import ReadSpec, TileRead, TileShard
from pipeline.tiles.stac import StacRequest, StacSource


class TileSource(Protocol):
    """Imagery the pipeline can cut into tiles (see the module docstring)."""

    kind: str
    path: Path

    def files(self) -> list[Path]:
        """The local files read, for fingerprints (editing one reruns ingest)."""
        ...

    def describe(self) -> TilesInfo:
        """Metadata of the source's files (a sample of them); no pixels read."""
        ...

    def count(self) -> int:
        """The number of tiles the source holds."""
        ...

    def shards(self, shard_size: int) -> list[TileShard]:
        """The tiles in shards of ``shard_size``, numbered from 0, in catalog order."""
        ...

    def check(self, bands: tuple[int, ...], crs: str | None, scaled: bool) -> None:
        """Raise :class:`InputDataError` when no tile of the source can be read as asked."""
        ...

    def sample(self, bands: tuple[int, ...], k: int) -> list[np.ma.MaskedArray]:
        """Up to ``k`` reads (bands, h, w) at reduced size, masked where nodata."""
        ...

    def read(self, shard: TileShard, spec: ReadSpec) -> Iterator[TileRead]:
        """Each tile of ``shard`` read with ``spec``, or rejected alone with its reason."""
        ...


def source_kind(path: Path, source: str = "auto") -> str:
    """What ``path`` is (``folder`` or ``mosaic``), checked against the configured ``source``.

    Raises:
        InputDataError: the path is missing, or does not match the configured source.
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


def tile_source(path: Path, source: str = "auto", window_px: int = 64,
                overlap_px: int = 0, stac: StacRequest | None = None,
                reuse: Path | None = None) -> TileSource:
    """The tile source at ``path``: the one place that chooses an implementation.

    Args:
        path: a folder of tiles, or one raster (GeoTIFF, COG, VRT); for ``stac``, the folder
            the composites are written to.
        source: ``auto`` (from what ``path`` is), ``folder``, ``mosaic`` or ``stac``.
        window_px: side of a mosaic's windows, source pixels.
        overlap_px: pixels shared by neighbouring windows of a mosaic.
        stac: ``stac`` only: the search, the tiles and the composite.
        reuse: ``stac`` only: a previous run's composites folder (tiles with the same cache
            key are copied, not acquired again).

    Raises:
        InputDataError: see :func:`source_kind`.
    """
    if source == "stac":
        if stac is None:
            raise InputDataError("data.tiles.source: stac needs the data.tiles.stac section.")
        return StacSource(stac, path, reuse)
    if source_kind(path, source) == "folder":
        return FolderSource(path)
    return MosaicSource(path, window_px, overlap_px)
