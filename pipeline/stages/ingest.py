"""ingest: tile catalog, tile cache and survey clusters.

Inputs: ``data.tiles.path`` (a folder of GeoTIFFs, or one mosaic GeoTIFF/COG/VRT cut into
windows) or ``data.tiles.stac`` (a STAC search composited around the clusters),
``data.survey`` (a cluster table, or DHS/LSMS household files and a recipe),
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
    stac/             ``source: stac`` only: <tile>.tif, the float32 composite COG of each tile
                      (the assets, then clear_count), and <tile>.json, its provenance; the
                      catalog then also has stac_items, stac_datetimes, stac_cloud_cover,
                      clear_count_mean and clear_share.
    acquisition.json  ``source: stac`` only: the API, collection and search terms, every item
                      found (id, datetime, eo:cloud_cover, tiles it covers) and the tiles'
                      clear-observation statistics (:mod:`pipeline.tiles.acquisition`).
    rejected.csv      source, row, id, reason: every tile, cluster and household not used.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields
from functools import partial
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from pipeline.config.schema import Config, SurveyConfig, TilesConfig
from pipeline.engine.context import StageContext
from pipeline.engine.provenance import verify_all
from pipeline.errors import InputDataError
from pipeline.geo.polygons import read_region
from pipeline.survey.columns import DhsColumns, LsmsColumns
from pipeline.survey.recipes import SurveySource, survey_clusters
from pipeline.survey.tables import ClusterColumns, beyond_reach, check_not_swapped
from pipeline.tiles.acquisition import acquisition_summary
from pipeline.tiles.area import area_tiles
from pipeline.tiles.catalog import ingest_shard
from pipeline.tiles.reading import ReadSpec
from pipeline.tiles.scaling import Ranges, band_ranges, save_ranges
from pipeline.tiles.source import TileSource, tile_source
from pipeline.tiles.stac import TOO_FEW_CLEAR, StacRequest, provenance_table
from pipeline.tiles.stac_api import StacQuery
from pipeline.engine.stage import Stage

# The fewest valid clusters any cross-validation can use: 2 per fold, regression.folds >= 2.
# Fewer stop here, before any training; ``fit`` checks the configured regression.folds.
MIN_CLUSTERS = 4


def input_files(config: Config) -> list[Path]:
    survey = config.data.survey
    extra = [survey.locations] if survey.locations is not None else []
    return [*tile_files(config.data.tiles), survey.path, *extra, *config.data.manifests]


def tile_files(tiles: TilesConfig) -> list[Path]:
    """The tile source's files; a missing or mismatched source fails when ingest runs, and its
    path alone keys the fingerprint until then. A STAC search reads only its region file."""
    if tiles.source == "stac":
        return [tiles.stac.region.path] if tiles.stac.region is not None else []
    try:
        return source_of(tiles).files()
    except InputDataError:
        return [tiles.path]


def source_of(tiles: TilesConfig, points: Sequence[tuple[float, float]] = (),
              folder: Path | None = None, reuse: Path | None = None) -> TileSource:
    """The tile source ``data.tiles`` describes (also used by ``validate``).

    Args:
        tiles: ``data.tiles``.
        points: ``stac`` only: (lon, lat) of the survey clusters to acquire imagery around.
        folder: ``stac`` only: where the composites are written.
        reuse: ``stac`` only: a previous run's composites, reused where their key matches.
    """
    window_px = tiles.window_px or tiles.tile_size_px
    if tiles.source == "stac":
        return tile_source(folder or Path("stac"), "stac", window_px,
                           stac=stac_request(tiles, points), reuse=reuse)
    return tile_source(tiles.path, tiles.source, window_px, tiles.overlap_px)


def stac_request(tiles: TilesConfig, points: Sequence[tuple[float, float]]) -> StacRequest:
    """``data.tiles.stac`` as plain values, with the grid tiles around ``points``."""
    s = tiles.stac
    query = StacQuery(s.url, s.collection, s.datetime, s.assets, s.cloud_mask, s.mask_asset,
                      s.max_cloud_cover, s.cloud_filter, s.max_items, s.token_env,
                      tuple(s.headers_env.items()), s.sign, s.retries, s.retry_delay_s,
                      s.timeout_s, read_threads=s.read_threads)
    tile_m = (tiles.window_px or tiles.tile_size_px) * s.resolution_m
    region = s.region_bbox if s.region is None else read_region(
        s.region.path, "data.tiles.stac.region.path", s.region.column, s.region.values)
    boxes = area_tiles(points, s.reach_km, region, tile_m, s.crs, s.grid_origin or (0.0, 0.0))
    return StacRequest(query, tuple(boxes), s.resolution_m, s.resampling,
                       s.min_clear_observations, s.min_clear_share)


def cluster_points(clusters: pd.DataFrame) -> list[tuple[float, float]]:
    """(lon, lat) of each cluster."""
    return list(zip(clusters["lon"].astype(float), clusters["lat"].astype(float)))


def read_spec(tiles: TilesConfig, ranges: Ranges | None) -> ReadSpec:
    return ReadSpec(tiles.bands, tiles.tile_size_px, ranges, tiles.crs, tiles.date_tags,
                    tiles.year_pattern)


def scaling_ranges(source: TileSource, tiles: TilesConfig) -> Ranges | None:
    """Per-band ranges for the run (a percentile stretch reads a sample once, here), after the
    source as a whole is checked."""
    source.check(tiles.bands, tiles.crs, tiles.scale is not None)
    sample = partial(source.sample, tiles.bands, tiles.stretch_sample_tiles)
    return band_ranges(tiles.scale, len(tiles.bands), tiles.stretch_percentiles, sample,
                       str(tiles.path or source.path))


def survey_source(survey: SurveyConfig) -> SurveySource:
    """``data.survey`` as the survey recipes take it."""
    columns = ClusterColumns(**{f.name: getattr(survey, f.name) for f in fields(ClusterColumns)})
    return SurveySource(survey.path, survey.recipe, columns, survey.locations,
                        DhsColumns(**survey.dhs.model_dump()),
                        LsmsColumns(**survey.lsms.model_dump()))


def read_tiles(ctx: StageContext, source: TileSource, shards: list[Any], spec: ReadSpec,
               min_valid_share: float, where: Path) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Every shard's tiles into ``ctx.out/cache``: the catalog and the rejected tiles.

    Raises:
        InputDataError: no tile is usable (the reasons are in ``rejected.csv``).
    """
    (ctx.out / "cache").mkdir(exist_ok=True)  # kept on resume: finished shards wrote there
    work = partial(ingest_shard, source, spec=spec, min_valid_share=min_valid_share,
                   cache_dir=ctx.out / "cache")
    results = ctx.executor.map(work, shards, desc="ingest tiles")
    tiles_rejected = pd.concat([r for _, r in results], ignore_index=True)
    frames = [rows for rows, _ in results if len(rows)]
    if not frames:
        tiles_rejected.to_csv(ctx.out / "rejected.csv", index=False)
        raise InputDataError(f"{where}: none of the tiles is usable; see the reasons "
                             f"in {ctx.out / 'rejected.csv'}.")
    catalog = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry",
                               crs="EPSG:4326").astype({"year": "Int64"})
    return catalog, tiles_rejected


def run(ctx: StageContext) -> dict[str, Any]:
    data = ctx.config.data
    verify_all(data.manifests)
    logged = ctx.config.regression.log_columns
    clusters, bad_clusters, bad_households = survey_clusters(survey_source(data.survey), logged)
    source = source_of(data.tiles, cluster_points(clusters), ctx.out / "stac",
                       ctx.run.output("ingest", "stac"))
    shards = source.shards(data.shard_size)
    ranges = scaling_ranges(source, data.tiles)
    save_ranges(ctx.out / "scaling.json", ranges, data.tiles.scale, data.tiles.bands,
                data.tiles.stretch_percentiles)
    catalog, tiles_rejected = read_tiles(ctx, source, shards, read_spec(data.tiles, ranges),
                                         data.tiles.min_valid_share,
                                         data.tiles.path or source.path)
    if source.kind == "stac":  # provenance columns; paths where the stage folder will be
        catalog = catalog.assign(**pd.DataFrame(provenance_table(list(catalog["path"]))))
        final = ctx.run.output("ingest", "stac")
        catalog["path"] = [str(final / Path(p).name) for p in catalog["path"]]
    check_not_swapped(clusters, catalog["lon"].to_numpy(), catalog["lat"].to_numpy(),
                      data.survey.path, data.survey.recipe)
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
    counts = {"tiles": len(catalog), "tiles_rejected": len(tiles_rejected),
              "tiles_low_valid_share": int(
                  tiles_rejected["reason"].str.startswith("valid share").sum()),
              "clusters": len(clusters), "clusters_rejected": len(bad_clusters),
              "households_rejected": len(bad_households), "tile_source": source.kind}
    if source.kind == "stac":
        counts["tiles_too_few_clear"] = int(
            tiles_rejected["reason"].str.startswith(TOO_FEW_CLEAR).sum())
        summary = acquisition_summary(source.request.query, source.items, catalog,
                                      counts["tiles_too_few_clear"])
        (ctx.out / "acquisition.json").write_text(json.dumps(summary, indent=1))
    return counts


def _log_rejections(ctx: StageContext, bad_rows: pd.DataFrame) -> None:
    reasons = bad_rows["reason"].str.replace(r"\(nearest tile centre .*\)", "", regex=True)
    for reason, n in reasons.value_counts(sort=False).items():
        ctx.log.warning("%d survey row(s) rejected: %s", int(n), reason.strip())


STAGE = Stage(
    name="ingest",
    version=3,  # 3: a stac source writes acquisition.json
    inputs=(),
    outputs=("tiles.parquet", "clusters.parquet", "rejected.csv", "scaling.json", "cache"),
    # Of the targets, ingest reads only which outcomes are logged: it rejects rows where they
    # are <= 0.
    config=("data.tiles", "data.survey", "data.shard_size", "data.manifests",
            "regression.log_columns"),
    run=run,
    input_files=input_files,
    optional_outputs=("acquisition.json",),  # stac only; export's report shows it
)
