"""The tile catalog: one shard of a source read into catalog rows, rejections and cache tiles.

A catalog row (one per usable tile, see :func:`catalog_row`) becomes a row of
``ingest/tiles.parquet``; a rejected tile becomes a ``source, row, id, reason`` row of
``ingest/rejected.csv``; the shard's tiles are written to the tile cache in row order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.survey.tables import REJECTED_COLUMNS
from pipeline.tiles.cache import write_shard
from pipeline.tiles.dates import year_of
from pipeline.tiles.reading import ReadSpec, TileMeta, TileShard, with_footprints
from pipeline.tiles.source import TileSource


def catalog_row(tile_id: str, path: Path, meta: TileMeta, shard: int, offset: int) -> dict[str, Any]:
    """One row of tiles.parquet."""
    centroid = meta.footprint.centroid
    return {
        "tile_id": tile_id, "path": str(path), "crs": meta.crs,
        "minx": meta.bounds[0], "miny": meta.bounds[1],
        "maxx": meta.bounds[2], "maxy": meta.bounds[3],
        "gsd_m": meta.gsd_m, "width_px": meta.width_px, "height_px": meta.height_px,
        "col_off": meta.window[0], "row_off": meta.window[1],
        "valid_share": meta.valid_share, "date": meta.date, "year": year_of(meta.date),
        "lon": centroid.x, "lat": centroid.y,
        "shard": shard, "offset": offset, "geometry": meta.footprint,
    }


def ingest_shard(source: TileSource, shard: TileShard, spec: ReadSpec, min_valid_share: float,
                 cache_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read one shard of tiles and write its cache file; return catalog rows and rejections.

    Args:
        source: the source the shard comes from.
        shard: one of ``source.shards(...)``.
        spec: how tiles are read (bands, size, scaling).
        min_valid_share: tiles with a smaller share of valid pixels are rejected.
        cache_dir: the tile cache folder (``ingest/cache``).
    """
    kept, rejected, pixels = [], [], []
    for tile in source.read(shard, spec):
        error = tile.error
        if error is None and tile.meta.valid_share < min_valid_share:
            error = (f"valid share {tile.meta.valid_share:.2f} is below data.tiles.min_valid_share "
                     f"{min_valid_share}")
        if error is not None:
            rejected.append({"source": str(tile.path), "row": None, "id": tile.tile_id,
                             "reason": error})
            continue
        kept.append(tile)
        pixels.append(tile.pixels)
    metas = with_footprints([tile.meta for tile in kept])  # tile files come with theirs
    rows = [catalog_row(tile.tile_id, tile.path, meta, shard.index, offset)
            for offset, (tile, meta) in enumerate(zip(kept, metas))]
    if pixels:
        write_shard(cache_dir, shard.index, pixels)
    return pd.DataFrame(rows), pd.DataFrame(rejected, columns=REJECTED_COLUMNS)
