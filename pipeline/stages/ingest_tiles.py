"""ingest (prediction run): the tile catalog and cache of new tiles, prepared as the bundle's.

A prediction run (a config with ``bundle:``) reads no survey. Its tiles are read with the
bundle's bands (or ``data.tiles.bands`` when set: the same bands at other indexes of another
stack), resampled to the bundle's ``tile_size_px`` and scaled with the bundle's stored
per-band ranges (unless ``data.tiles.scale`` is set for another sensor's radiometry). Their
cached resolution must match the bundle's within a tolerance (resampled, and logged) or the run
stops naming both (:mod:`pipeline.bundles.tiles`); a mosaic without ``data.tiles.window_px`` is
cut into windows of the bundle's ground size.

Inputs: the bundle (``bundle.json``, ``scaling.json``), ``data.tiles``, ``data.manifests``.
Outputs (``ingest/``): ``tiles.parquet``, ``cache/``, ``scaling.json`` and ``rejected.csv`` as
in a training run's ingest (:mod:`pipeline.stages.ingest`); no ``clusters.parquet``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pipeline.bundles.format import Bundle, bundle_files, open_bundle
from pipeline.bundles.tiles import (
    cached_resolution_m,
    check_bands,
    check_resolution,
    matching_window_px,
)
from pipeline.config.schema import Config, TilesConfig
from pipeline.engine.context import StageContext
from pipeline.engine.manifest import package_version
from pipeline.engine.provenance import verify_all
from pipeline.engine.stage import Stage
from pipeline.errors import InputDataError
from pipeline.stages.ingest import read_tiles, scaling_ranges, tile_files
from pipeline.tiles.reading import ReadSpec
from pipeline.tiles.scaling import Ranges, load_ranges, save_ranges
from pipeline.tiles.source import TileSource, source_kind, tile_source


def input_files(config: Config) -> list[Path]:
    bundle = bundle_files(config.bundle)
    return [*bundle, *tile_files(config.data.tiles), *config.data.manifests]


def tile_size(tiles: TilesConfig, bundle: Bundle) -> int:
    """The bundle's tile size; InputDataError when the config sets another."""
    size = int(bundle.tiles["tile_size_px"])
    if "tile_size_px" in tiles.model_fields_set and tiles.tile_size_px != size:
        raise InputDataError(
            f"data.tiles.tile_size_px is {tiles.tile_size_px} but the bundle {bundle.path} was "
            f"trained on {size} px tiles; remove the key (the bundle's size is used).")
    return size


def matched_source(tiles: TilesConfig, size: int, bundle: Bundle) -> tuple[TileSource, str | None]:
    """The tile source, cut (a mosaic) or checked (a folder) to the bundle's resolution, and a
    note when the tiles are resampled to it."""
    wanted = float(bundle.tiles["resolution_m"])
    window = tiles.window_px
    if source_kind(tiles.path, tiles.source) == "mosaic" and window is None:
        gsd = tile_source(tiles.path, tiles.source, size).describe().sampled[0].gsd_m
        window = matching_window_px(wanted, size, gsd) if gsd else None
    source = tile_source(tiles.path, tiles.source, window or size, tiles.overlap_px)
    sides = [r.gsd_m * (window or r.width) for r in source.describe().sampled if r.gsd_m]
    if not sides:
        return source, (f"{tiles.path}: the tiles' resolution is unknown (no metric CRS); "
                        f"assumed to match the bundle's {wanted:.3g} m per cached pixel.")
    found = cached_resolution_m(float(np.median(sides)), 1.0, size)
    return source, check_resolution(found, wanted, bundle.path, tiles.path)


def bundle_ranges(ctx: StageContext, source: TileSource, bands: tuple[int, ...],
                  bundle: Bundle) -> Ranges | None:
    """The bundle's pixel scaling, or ``data.tiles.scale``'s when the config sets it."""
    tiles = ctx.config.data.tiles
    if "scale" in tiles.model_fields_set:
        ctx.log.warning("data.tiles.scale is set: these tiles are scaled with %s, not the "
                        "bundle's training scaling (%s)", tiles.scale, bundle.tiles["scaling"])
        return scaling_ranges(source, tiles.model_copy(update={"bands": bands}))
    ranges = load_ranges(bundle.scaling)
    try:
        source.check(bands, tiles.crs, ranges is not None)
    except InputDataError as exc:
        raise InputDataError(f"{exc} (the bundle {bundle.path} was trained on bands "
                             f"{bundle.tiles['bands']} with scaling "
                             f"{bundle.tiles['scaling']}.)") from exc
    return ranges


def run(ctx: StageContext) -> dict[str, Any]:
    data = ctx.config.data
    tiles = data.tiles
    bundle = open_bundle(ctx.config.bundle, package_version())
    verify_all(data.manifests)
    asked = tiles.bands if "bands" in tiles.model_fields_set else None
    bands = check_bands(bundle.tiles["bands"], asked, bundle.path, tiles.path)
    size = tile_size(tiles, bundle)
    source, note = matched_source(tiles, size, bundle)
    if note:
        ctx.log.warning(note)
    ranges = bundle_ranges(ctx, source, bands, bundle)
    save_ranges(ctx.out / "scaling.json", ranges, "fixed" if ranges is not None else None,
                bands, tiles.stretch_percentiles)
    spec = ReadSpec(bands, size, ranges, tiles.crs, tiles.date_tags, tiles.year_pattern)
    catalog, rejected = read_tiles(ctx, source, source.shards(data.shard_size), spec,
                                   tiles.min_valid_share, tiles.path)
    rejected.to_csv(ctx.out / "rejected.csv", index=False)
    catalog.to_parquet(ctx.out / "tiles.parquet")
    return {"tiles": len(catalog), "tiles_rejected": len(rejected), "tile_source": source.kind,
            "resolution_note": note is not None, "bundle": bundle.digest[:12]}


STAGE = Stage(
    name="ingest",
    version=1,
    inputs=(),
    outputs=("tiles.parquet", "rejected.csv", "scaling.json", "cache"),
    config=("bundle", "data.tiles", "data.shard_size", "data.manifests"),
    run=run,
    input_files=input_files,
)
