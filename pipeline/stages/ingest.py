"""ingest: tile catalog, tile cache and survey clusters.

Inputs: ``data.tiles.path`` (a folder of GeoTIFFs, or one mosaic GeoTIFF/COG/VRT cut into
windows), ``data.survey`` (a cluster table, or DHS/LSMS household files and a recipe),
``data.manifests`` (verified before anything is read).
Outputs (``ingest/``):
    tiles.parquet     GeoParquet, one row per usable tile: tile_id, path, crs, minx..maxy (tile
                      CRS), gsd_m, width_px, height_px, col_off, row_off (window in the source,
                      pixels), valid_share, date, year (acquisition, when known), lon, lat
                      (centroid, WGS84), shard, offset; geometry = footprint in EPSG:4326.
    cache/            shard_NNNNN.npy, uint8 (n, size, size, bands): the tiles resampled to
                      ``data.tiles.tile_size_px``, band-last, in catalog order within each shard.
    scaling.json      how pixels were mapped to 0..255: method (none|fixed|percentile), bands,
                      per-band low and high (computed once for a percentile stretch).
    clusters.parquet  GeoParquet, one row per valid survey cluster (see geo.survey).
    rejected.csv      source, row, id, reason: every tile, cluster and household not used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.config.schema import Config, TilesConfig
from pipeline.engine.provenance import verify_all
from pipeline.errors import InputDataError
from pipeline.tiles.dates import acquisition_date, year_of
from pipeline.tiles.mosaic import (
    mosaic_windows,
    read_folder_sample,
    read_overview,
    source_files,
    source_kind,
    window_id,
)
from pipeline.survey.recipes import survey_clusters
from pipeline.tiles.scaling import Ranges, band_ranges, save_ranges
from pipeline.survey.tables import REJECTED_COLUMNS, beyond_reach, check_not_swapped
from pipeline.tiles.reading import (
    PixelWindow,
    ReadSpec,
    TileMeta,
    check_on_earth,
    check_source,
    find_tiles,
    many_files_env,
    open_raster,
    read_tile,
    read_window,
    source_crs,
    with_footprints,
)
from pipeline.engine.context import StageContext
from pipeline.engine.stage import Stage

# The fewest valid clusters any cross-validation can use: 2 per fold, regression.folds >= 2.
# Fewer stop here, before any training; ``fit`` checks the configured regression.folds.
MIN_CLUSTERS = 4


def input_files(config: Config) -> list[Path]:
    survey = config.data.survey
    extra = [survey.locations] if survey.locations is not None else []
    return [*source_files(config.data.tiles.path), survey.path, *extra, *config.data.manifests]


@dataclass(frozen=True)
class ShardJob:
    """One shard of tiles: tile files, or windows of one mosaic (``paths[0]``)."""

    index: int
    paths: tuple[Path, ...]
    windows: tuple[PixelWindow, ...] = ()


def read_spec(settings: TilesConfig, ranges: Ranges | None) -> ReadSpec:
    return ReadSpec(settings.bands, settings.tile_size_px, ranges, settings.crs,
                    settings.date_tags, settings.year_pattern)


TileRead = tuple[str, Path, "np.ndarray | None", "TileMeta | None", "str | None"]


def _tile_reads(job: ShardJob, settings: TilesConfig, spec: ReadSpec) -> Iterator[TileRead]:
    """(tile_id, path, pixels, meta, error) for each tile of a shard; error None when read."""
    if not job.windows:
        with many_files_env():
            for path in job.paths:
                tile_id = path.relative_to(settings.path).with_suffix("").as_posix()
                yield _read_or_reject(tile_id, path, partial(
                    read_tile, path, spec.bands, spec.size_px, spec.ranges, spec))
        return
    path = job.paths[0]
    with open_raster(path) as src:
        date = acquisition_date(src.tags(), path.name, spec.date_tags, spec.year_pattern)
        for window in job.windows:
            col, row, width, height = window
            yield _read_or_reject(window_id(path, window), path,
                                  partial(read_window, src, path, window, spec, date),
                                  f"window col_off={col} row_off={row} ({width} x {height} px) of ")


def _read_or_reject(tile_id: str, path: Path, read: Callable[[], tuple[np.ndarray, TileMeta]],
                    where: str = "") -> TileRead:
    """One tile read, or the reason it is unusable (``where`` + the error) to reject it alone."""
    try:
        pixels, meta = read()
    except InputDataError as exc:
        return tile_id, path, None, None, f"{where}{exc}"
    return tile_id, path, pixels, meta, None


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


def ingest_shard(job: ShardJob, settings: TilesConfig, cache_dir: Path,
                 ranges: Ranges | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read one shard of tiles and write its cache file; return catalog rows and rejections."""
    kept, rejected, pixels = [], [], []
    for tile_id, path, tile, meta, error in _tile_reads(job, settings, read_spec(settings, ranges)):
        if error is None and meta.valid_share < settings.min_valid_share:
            error = (f"valid share {meta.valid_share:.2f} is below data.tiles.min_valid_share "
                     f"{settings.min_valid_share}")
        if error is not None:
            rejected.append({"source": str(path), "row": None, "id": tile_id, "reason": error})
            continue
        kept.append((tile_id, path, meta))
        pixels.append(tile)
    metas = with_footprints([meta for _, _, meta in kept])  # tile files come with theirs
    rows = [catalog_row(tile_id, path, meta, job.index, offset)
            for offset, ((tile_id, path, _), meta) in enumerate(zip(kept, metas))]
    if pixels:
        np.save(cache_dir / f"shard_{job.index:05d}.npy", np.stack(pixels))
    return pd.DataFrame(rows), pd.DataFrame(rejected, columns=REJECTED_COLUMNS)


def shard_jobs(settings: TilesConfig, kind: str, shard_size: int) -> list[ShardJob]:
    """The shards of a folder (tile files) or of a mosaic (windows), ``shard_size`` each."""
    if kind == "folder":
        paths = find_tiles(settings.path)
        return [ShardJob(i, tuple(paths[s:s + shard_size]))
                for i, s in enumerate(range(0, len(paths), shard_size))]
    windows = mosaic_windows(settings.path, settings.window_px or settings.tile_size_px,
                             settings.overlap_px)
    return [ShardJob(i, (settings.path,), tuple(windows[s:s + shard_size]))
            for i, s in enumerate(range(0, len(windows), shard_size))]


def scaling_ranges(settings: TilesConfig, kind: str) -> Ranges | None:
    """Per-band ranges for the run (a percentile stretch reads a sample once, here)."""
    if kind == "mosaic":
        with open_raster(settings.path) as src:
            crs = source_crs(src, settings.path, settings.crs)
            check_source(src, settings.path, settings.bands, settings.scale is not None)
            check_on_earth(src, settings.path, crs)

    def sample() -> list[np.ma.MaskedArray]:
        if kind == "mosaic":
            return [read_overview(settings.path, settings.bands)]
        return read_folder_sample(settings.path, settings.bands, settings.stretch_sample_tiles)

    return band_ranges(settings.scale, len(settings.bands), settings.stretch_percentiles,
                       sample, str(settings.path))


def run(ctx: StageContext) -> dict[str, Any]:
    data = ctx.config.data
    verify_all(data.manifests)
    kind = source_kind(data.tiles.path, data.tiles.source)
    jobs = shard_jobs(data.tiles, kind, data.shard_size)
    ranges = scaling_ranges(data.tiles, kind)
    save_ranges(ctx.out / "scaling.json", ranges, data.tiles.scale, data.tiles.bands,
                data.tiles.stretch_percentiles)
    (ctx.out / "cache").mkdir(exist_ok=True)  # kept on resume: finished shards wrote there
    work = partial(ingest_shard, settings=data.tiles, cache_dir=ctx.out / "cache", ranges=ranges)
    results = ctx.executor.map(work, jobs, desc="ingest tiles")
    tiles_rejected = pd.concat([r for _, r in results], ignore_index=True)
    frames = [rows for rows, _ in results if len(rows)]
    if not frames:
        tiles_rejected.to_csv(ctx.out / "rejected.csv", index=False)
        raise InputDataError(f"{data.tiles.path}: none of the tiles is usable; see the reasons "
                             f"in {ctx.out / 'rejected.csv'}.")
    catalog = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry",
                               crs="EPSG:4326").astype({"year": "Int64"})
    logged = ctx.config.regression.log_columns
    clusters, bad_clusters, bad_households = survey_clusters(data.survey, logged)
    check_not_swapped(clusters, catalog["lon"].to_numpy(), catalog["lat"].to_numpy(), data.survey)
    if data.survey.reach_km is not None:
        clusters, far = beyond_reach(clusters, catalog["lon"].to_numpy(), catalog["lat"].to_numpy(),
                                     data.survey.reach_km, data.survey.path)
        bad_clusters = pd.concat([bad_clusters, far], ignore_index=True)
    rejected = pd.concat([tiles_rejected, bad_households, bad_clusters], ignore_index=True)
    rejected.to_csv(ctx.out / "rejected.csv", index=False)
    if len(clusters) < MIN_CLUSTERS:
        raise InputDataError(
            f"{data.survey.path}: only {len(clusters)} valid survey cluster(s); cross-validation "
            f"needs at least {MIN_CLUSTERS} (2 per fold, 2 folds at least). Add clusters or fix "
            f"the rejected rows listed in {ctx.out / 'rejected.csv'}.")
    catalog.to_parquet(ctx.out / "tiles.parquet")
    clusters.to_parquet(ctx.out / "clusters.parquet")
    _log_rejections(ctx, pd.concat([bad_households, bad_clusters], ignore_index=True))
    return {"tiles": len(catalog), "tiles_rejected": len(tiles_rejected),
            "tiles_low_valid_share": int(tiles_rejected["reason"].str.startswith("valid share").sum()),
            "clusters": len(clusters), "clusters_rejected": len(bad_clusters),
            "households_rejected": len(bad_households), "tile_source": kind}


def _log_rejections(ctx: StageContext, bad_rows: pd.DataFrame) -> None:
    reasons = bad_rows["reason"].str.replace(r"\(nearest tile centre .*\)", "", regex=True)
    for reason, n in reasons.value_counts(sort=False).items():
        ctx.log.warning("%d survey row(s) rejected: %s", int(n), reason.strip())


STAGE = Stage(
    name="ingest",
    version=2,
    inputs=(),
    outputs=("tiles.parquet", "clusters.parquet", "rejected.csv", "scaling.json", "cache"),
    # Of the targets, ingest reads only which outcomes are logged: it rejects rows where they
    # are <= 0.
    config=("data.tiles", "data.survey", "data.shard_size", "data.manifests",
            "regression.log_columns"),
    run=run,
    input_files=input_files,
)
