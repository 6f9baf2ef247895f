"""label: nightlight radiance per tile and nightlight intensity classes.

Inputs: ``ingest/tiles.parquet``; the raster at ``data.nightlights.path`` (any CRS), or with
``data.nightlights.source: stac`` the items of a STAC collection over the tiles' area.
Outputs (``label/``):
    labels.parquet  one row per catalog tile, same order: tile_id, radiance_mean, radiance_max
                    (raster units, e.g. nW/cm²/sr for VIIRS) over the tile footprint, each
                    pixel weighted by the exact share of it the footprint covers (see
                    :mod:`pipeline.geo.nightlights`),
                    ``label_radiance`` (the radiance the label is made of: ``radiance_mean``,
                    or with ``labels.context_km`` the mean over a square of that side
                    centred on the tile), ``label`` (0 = darkest class .. n_classes-1; -1
                    when the tile lies outside the raster) and ``train_ok`` (bool: the tile
                    is in the training set; with ``labels.balance`` the dark class is
                    subsampled).
    bins.json       method, n_classes, thresholds (radiance at each class boundary), class
                    counts, class mean radiance, balancing, and the years of tiles,
                    nightlights and survey with the gaps between them.
    histogram.png   tiles per log(1 + radiance), coloured by class, thresholds marked.
    nightlights.tif ``source: stac`` only: the acquired raster (float32 COG, the items' own CRS
                    and resolution, reduced in time), read by everything that needs night
                    lights; nightlights.json beside it: url, collection, datetime, asset,
                    reducer, items and their datetimes, the cache key.

Classes follow Jean et al. 2016: a Gaussian mixture over tile intensities (here on
log(1 + radiance), radiance clipped at 0, which tames VIIRS' heavy tail and DMSP's 0-63
digital numbers alike), quantiles, or fixed radiance thresholds from the config (the algorithms:
:mod:`pipeline.evaluation.light_classes`).
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import Polygon

from pipeline.config.schema import Config
from pipeline.errors import InputDataError
from pipeline.evaluation.light_classes import (
    assign_classes,
    balance_mask,
    check_classes,
    class_thresholds,
)
from pipeline.tiles.dates import alignment, nightlight_year
from pipeline.geo.blocks import context_boxes
from pipeline.geo.nightlights import intensity, open_nightlights, sample_footprints
from pipeline.tiles.stac_api import StacQuery
from pipeline.tiles.stac_raster import RasterRequest, acquire_raster, padded_bbox
from pipeline.outputs.histogram import save_class_histogram
from pipeline.engine.context import StageContext
from pipeline.engine.stage import Stage


ACQUIRED = "nightlights.tif"
"""The raster a ``stac`` night-light source is acquired into, in ``label/``."""


def input_files(config: Config) -> list[Path]:
    path = config.data.nightlights.path
    return [] if path is None else [path]  # stac: the search terms key the fingerprint


def nightlight_raster(ctx: StageContext, catalog: gpd.GeoDataFrame) -> Path | str:
    """The night-light raster of the run: ``data.nightlights.path``, or with ``source: stac``
    the raster acquired over the catalog's area into ``label/`` (reused from the previous
    run's ``label/`` when its search terms, area and items are unchanged)."""
    nl = ctx.config.data.nightlights
    if nl.source == "file":
        return nl.path
    s = nl.stac
    query = StacQuery(s.url, s.collection, s.datetime, (s.asset,), "none", None, 100.0,
                      "client", s.max_items, s.token_env, tuple(s.headers_env.items()),
                      "none", s.retries, s.retry_delay_s, s.timeout_s,
                      settings="data.nightlights.stac", area="the tiles of ingest",
                      read_threads=s.read_threads)
    margin_km = (ctx.config.labels.context_km or 0.0) / 2 + 2.0  # context squares + a pixel
    request = RasterRequest(query, padded_bbox(tuple(catalog.total_bounds), margin_km), s.reducer)
    record = acquire_raster(request, ctx.out / ACQUIRED, ctx.run.output("label", ACQUIRED))
    ctx.log.info("night lights: %d item(s) of %s (%s) reduced by %s into %s", len(record["items"]),
                 s.collection, s.datetime, s.reducer, ACQUIRED)
    return ctx.out / ACQUIRED


def temporal_alignment(catalog: pd.DataFrame, clusters: pd.DataFrame, path: Path,
                       configured: int | None, max_gap: int) -> tuple[dict[str, Any], list[str]]:
    """Years of tiles, nightlights and survey, their gaps, and a warning per gap > max_gap."""
    with open_nightlights(path) as src:
        tags = src.tags()
    align = alignment(catalog["year"] if "year" in catalog else [],
                      nightlight_year(path, tags, configured),
                      clusters["year"] if "year" in clusters else [])
    record = {"tiles": align.tiles, "nightlights": align.nightlights, "survey": align.survey,
              "gaps_years": align.gaps, "max_year_gap": max_gap}
    return record, align.warnings(max_gap)


def run(ctx: StageContext) -> dict[str, Any]:
    cfg, nl = ctx.config.labels, ctx.config.data.nightlights
    catalog = gpd.read_parquet(ctx.input("ingest", "tiles.parquet"))
    clusters = pd.read_parquet(ctx.input("ingest", "clusters.parquet"), columns=["year"])
    per_job = int(catalog["shard"].value_counts().max())  # as many tiles as an ingest shard
    raster = nightlight_raster(ctx, catalog)
    stats = _sample(ctx, raster, list(catalog.geometry), per_job, "label tiles")
    finite = np.isfinite(stats[:, 0])
    label_radiance = stats[:, 0]
    if cfg.context_km is not None:
        context = _sample(ctx, raster, context_boxes(catalog.geometry, cfg.context_km),
                          per_job, "label context")
        label_radiance = np.where(finite, context[:, 0], np.nan)
    if finite.sum() < cfg.n_classes * 10:
        raise InputDataError(f"{raster}: only {int(finite.sum())} of {len(catalog)} tiles lie on "
                             "the nightlight raster; check that it covers the tiles.")
    distinct = np.unique(intensity(label_radiance[finite])).size
    if cfg.method != "fixed" and distinct < cfg.n_classes:
        raise InputDataError(
            f"{raster}: the tiles see only {distinct} distinct radiance value(s) after clipping "
            f"negatives to 0 (all zero?), too few for labels.n_classes={cfg.n_classes}. Check "
            "data.nightlights.path and data.nightlights.band.")
    thresholds = class_thresholds(label_radiance[finite], cfg.method, cfg.n_classes,
                                  ctx.config.seed, cfg.thresholds)
    labels = assign_classes(label_radiance, thresholds)
    counts = np.bincount(labels[labels >= 0], minlength=cfg.n_classes)
    check_classes(counts, thresholds, cfg.method, cfg.n_classes, raster)
    train_ok = balance_mask(labels, cfg.balance, cfg.max_dark_ratio, ctx.config.seed)
    table = pd.DataFrame({"tile_id": catalog["tile_id"], "radiance_mean": stats[:, 0],
                          "radiance_max": stats[:, 1], "label_radiance": label_radiance,
                          "label": labels, "train_ok": train_ok})
    table.to_parquet(ctx.out / "labels.parquet", index=False)
    temporal, warnings = temporal_alignment(catalog, clusters, raster, nl.year, cfg.max_year_gap)
    bins = {"method": cfg.method, "n_classes": cfg.n_classes, "scale": "log1p(radiance)",
            "context_km": cfg.context_km,
            "thresholds": thresholds.tolist(), "counts": counts.tolist(),
            "mean_radiance": [float(label_radiance[labels == k].mean()) if counts[k] else None
                              for k in range(cfg.n_classes)],
            "balance": {"enabled": cfg.balance, "max_dark_ratio": cfg.max_dark_ratio,
                        "train_ok": int(train_ok.sum())},
            "temporal": {**temporal, "warnings": warnings}}
    (ctx.out / "bins.json").write_text(json.dumps(bins, indent=2))
    save_class_histogram(ctx.out / "histogram.png", label_radiance, thresholds, counts, cfg.method)
    _warn(ctx, int((~finite).sum()), warnings)
    return {"tiles": len(table), "outside_raster": int((~finite).sum()),
            **{f"class_{k}": int(c) for k, c in enumerate(counts)},
            "train_ok": int(train_ok.sum()), "temporal_warnings": len(warnings),
            **{f"year_gap_{pair}": gap for pair, gap in temporal["gaps_years"].items()}}


def _sample(ctx: StageContext, raster: Path | str, footprints: list[Polygon], size: int,
            desc: str) -> np.ndarray:
    """(mean, max) radiance over each footprint, ``size`` footprints a shard on the executor."""
    band = ctx.config.data.nightlights.band
    chunks = [footprints[i:i + size] for i in range(0, len(footprints), size)]
    return np.concatenate(ctx.executor.map(partial(sample_footprints, path=raster, band=band),
                                           chunks, desc=desc))


def _warn(ctx: StageContext, outside: int, temporal_warnings: list[str]) -> None:
    if outside:
        ctx.log.warning("%d tile(s) lie outside the nightlight raster; they get label -1 and are "
                        "not used for training", outside)
    for message in temporal_warnings:
        ctx.log.warning("temporal alignment: %s", message)


STAGE = Stage(
    name="label",
    version=6,  # 6: coverage-weighted zonal means (exactextract), not pixel centres
    inputs=("ingest",),
    outputs=("labels.parquet", "bins.json", "histogram.png"),
    config=("labels", "data.nightlights", "seed"),
    run=run,
    input_files=input_files,
    optional_outputs=(ACQUIRED, "nightlights.json"),  # source: stac only; the report shows them
)
