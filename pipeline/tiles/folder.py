"""A folder of GeoTIFF tiles (searched recursively), each file one tile.

Every file is read whole, resampled to the tile size; a tile that cannot be used is rejected
alone, with its reason. Tiles of several CRSs may mix.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import ClassVar

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioError

from pipeline.tiles.inspect import TilesInfo, describe_sample
from pipeline.tiles.reading import (
    ReadSpec,
    TileRead,
    TileShard,
    find_tiles,
    in_shards,
    many_files_env,
    read_or_reject,
    read_tile,
)
from pipeline.tiles.scaling import sample_indices

DESCRIBE_FILES = 50
"""Files :meth:`FolderSource.describe` opens (evenly spaced, in path order)."""


@dataclass(frozen=True)
class FolderSource:
    """Tiles as files below ``path``; a shard's items are tile paths."""

    path: Path
    kind: ClassVar[str] = "folder"

    def files(self) -> list[Path]:
        return [self.path]

    def tiles(self) -> list[Path]:
        """Every tile file, sorted (see :func:`~pipeline.tiles.reading.find_tiles`)."""
        return find_tiles(self.path)

    def describe(self) -> TilesInfo:
        return describe_sample(self.kind, self.tiles(), DESCRIBE_FILES)

    def count(self) -> int:
        return len(self.tiles())

    def shards(self, shard_size: int) -> list[TileShard]:
        return in_shards(self.tiles(), shard_size)

    def check(self, bands: tuple[int, ...], crs: str | None, scaled: bool) -> None:
        """Nothing to check as a whole: each tile is checked (and rejected) on its own."""

    def sample(self, bands: tuple[int, ...], k: int, size_px: int = 64) -> list[np.ma.MaskedArray]:
        """Up to ``k`` evenly spaced tiles, read at ``size_px``, masked where nodata.

        Unreadable tiles and tiles without the bands are left out (ingest rejects them later,
        with their reason).
        """
        paths = self.tiles()
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

    def read(self, shard: TileShard, spec: ReadSpec) -> Iterator[TileRead]:
        with many_files_env():
            for path in shard.items:
                tile_id = path.relative_to(self.path).with_suffix("").as_posix()
                yield read_or_reject(tile_id, path, partial(
                    read_tile, path, spec.bands, spec.size_px, spec.ranges, spec))
