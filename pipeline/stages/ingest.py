"""ingest: tile catalog, tile cache and survey clusters.

Inputs: ``data.tiles.path`` (folder of GeoTIFFs), ``data.survey.path`` (cluster table).
Outputs (``ingest/``):
    tiles.parquet     GeoParquet, one row per usable tile: tile_id, path, crs, minx..maxy (tile
                      CRS), gsd_m, width_px, height_px, valid_share, lon, lat (centroid, WGS84),
                      shard, offset; geometry = footprint polygon in EPSG:4326.
    cache/            shard_NNNNN.npy, uint8 (n, size, size, bands): the tiles resampled to
                      ``data.tiles.tile_size_px``, band-last, in catalog order within each shard.
    clusters.parquet  GeoParquet, one row per valid survey cluster (see geo.survey).
    rejected.csv      source, row, id, reason: every tile and survey row that was not used.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.config import Config, TilesConfig
from pipeline.errors import InputDataError
from pipeline.geo.survey import clean_clusters, read_table
from pipeline.geo.tiles import find_tiles, read_tile
from pipeline.stages.context import StageContext

NAME = "ingest"
VERSION = 1
INPUTS: tuple[str, ...] = ()
OUTPUTS = ("tiles.parquet", "clusters.parquet", "rejected.csv", "cache")
CONFIG = ("data.tiles", "data.survey", "data.shard_size")
REJECTED_COLUMNS = ["source", "row", "id", "reason"]


def input_files(config: Config) -> list[Path]:
    return [config.data.tiles.path, config.data.survey.path]


@dataclass(frozen=True)
class ShardJob:
    index: int
    paths: tuple[Path, ...]


def ingest_shard(job: ShardJob, settings: TilesConfig, cache_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read one shard of tiles and write its cache file; return catalog rows and rejections."""
    rows, rejected, pixels = [], [], []
    for path in job.paths:
        try:
            tile, meta = read_tile(path, settings.bands, settings.tile_size_px, settings.scale)
        except InputDataError as exc:
            rejected.append({"source": str(path), "row": None, "id": path.stem, "reason": str(exc)})
            continue
        if meta.valid_share < settings.min_valid_share:
            rejected.append({"source": str(path), "row": None, "id": path.stem,
                             "reason": f"valid share {meta.valid_share:.2f} is below "
                                       f"data.tiles.min_valid_share {settings.min_valid_share}"})
            continue
        centroid = meta.footprint.centroid
        rows.append({
            "tile_id": path.relative_to(settings.path).with_suffix("").as_posix(),
            "path": str(path), "crs": meta.crs,
            "minx": meta.bounds[0], "miny": meta.bounds[1],
            "maxx": meta.bounds[2], "maxy": meta.bounds[3],
            "gsd_m": meta.gsd_m, "width_px": meta.width_px, "height_px": meta.height_px,
            "valid_share": meta.valid_share, "lon": centroid.x, "lat": centroid.y,
            "shard": job.index, "offset": len(pixels), "geometry": meta.footprint,
        })
        pixels.append(tile)
    if pixels:
        np.save(cache_dir / f"shard_{job.index:05d}.npy", np.stack(pixels))
    return pd.DataFrame(rows), pd.DataFrame(rejected, columns=REJECTED_COLUMNS)


def shard_jobs(paths: list[Path], shard_size: int) -> list[ShardJob]:
    return [ShardJob(i, tuple(paths[s:s + shard_size]))
            for i, s in enumerate(range(0, len(paths), shard_size))]


def run(ctx: StageContext) -> dict[str, Any]:
    data = ctx.config.data
    cache_dir = ctx.out / "cache"
    cache_dir.mkdir()
    jobs = shard_jobs(find_tiles(data.tiles.path), data.shard_size)
    work = partial(ingest_shard, settings=data.tiles, cache_dir=cache_dir)
    results = ctx.executor.map(work, jobs, desc="ingest tiles")
    frames = [rows for rows, _ in results if len(rows)]
    if not frames:
        raise InputDataError(f"{data.tiles.path}: none of the tiles is usable; see the reasons "
                             f"in {ctx.out / 'rejected.csv'}.")
    catalog = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry",
                               crs="EPSG:4326")
    clusters, bad_rows = clean_clusters(read_table(data.survey.path), data.survey, data.survey.path)
    rejected = pd.concat([r for _, r in results] + [bad_rows], ignore_index=True)
    rejected.to_csv(ctx.out / "rejected.csv", index=False)
    if len(clusters) == 0:
        raise InputDataError(f"{data.survey.path}: no valid survey cluster; see {ctx.out / 'rejected.csv'}.")
    catalog.to_parquet(ctx.out / "tiles.parquet")
    clusters.to_parquet(ctx.out / "clusters.parquet")
    for reason in bad_rows["reason"].unique():
        ctx.log.warning("%d survey row(s) rejected: %s", int((bad_rows["reason"] == reason).sum()), reason)
    return {"tiles": len(catalog), "tiles_rejected": len(rejected) - len(bad_rows),
            "clusters": len(clusters), "clusters_rejected": len(bad_rows)}
