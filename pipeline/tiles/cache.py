"""The tile cache's layout: one ``shard_NNNNN.npy`` per shard, uint8 (n, size, size, bands).

Ingest writes the tiles of shard ``i`` to :func:`shard_file` in catalog order (a tile's
``offset`` is its row in the file); readers (:class:`pipeline.models.datasets.TileCache`) find
them there and learn the tiles' size and bands from the file's header as a :class:`TileShape`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class TileShape:
    """The shape of every cached tile: ``size_px`` x ``size_px`` pixels of ``bands`` bands."""

    size_px: int
    bands: int

    @classmethod
    def of(cls, shard_shape: tuple[int, ...]) -> TileShape:
        """From a shard array's shape (n, size, size, bands)."""
        _, size_px, _, bands = shard_shape
        return cls(int(size_px), int(bands))


def shard_file(cache_dir: Path, index: int) -> Path:
    """The cache file of shard ``index``."""
    return Path(cache_dir) / f"shard_{index:05d}.npy"


def write_shard(cache_dir: Path, index: int, tiles: list[np.ndarray]) -> None:
    """Save a shard's tiles, each uint8 (size, size, bands), stacked in order."""
    np.save(shard_file(cache_dir, index), np.stack(tiles))
