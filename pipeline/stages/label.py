"""label: nightlight radiance per tile and nightlight intensity classes.

Inputs: ``ingest/tiles.parquet``; the raster at ``data.nightlights.path`` (any CRS).
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

Classes follow Jean et al. 2016: a Gaussian mixture over tile intensities (here on
log(1 + radiance), radiance clipped at 0, which tames VIIRS' heavy tail and DMSP's 0-63
digital numbers alike), quantiles, or fixed radiance thresholds from the config.
"""

from __future__ import annotations

import json
from functools import partial
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import Polygon, box
from sklearn.mixture import GaussianMixture

from pipeline.config.schema import Config, LabelsConfig
from pipeline.errors import InputDataError
from pipeline.tiles.dates import alignment, nightlight_year
from pipeline.geo.blocks import KM_PER_DEG_LAT, KM_PER_DEG_LON_EQUATOR
from pipeline.geo.nightlights import open_nightlights, sample_footprints
from pipeline.outputs.histogram import save_class_histogram
from pipeline.engine.context import StageContext
from pipeline.engine.stage import Stage

# What to try instead when a class gets no tile, by labels.method.
OTHER_METHODS = {"gmm": "use labels.method: quantile, or fixed with labels.thresholds",
                 "quantile": "use labels.method: gmm, or fixed with labels.thresholds",
                 "fixed": "use labels.method: gmm or quantile, or choose other labels.thresholds"}


def input_files(config: Config) -> list[Path]:
    return [config.data.nightlights.path]


def intensity(radiance: np.ndarray) -> np.ndarray:
    """The scale classes are fitted on: log(1 + max(radiance, 0))."""
    return np.log1p(np.clip(radiance, 0.0, None))


def class_thresholds(radiance: np.ndarray, method: str, n_classes: int, seed: int,
                     fixed: Sequence[float] | None = None) -> np.ndarray:
    """Radiance thresholds between consecutive classes, ascending, length n_classes - 1.

    Args:
        radiance: finite per-tile radiance, shape (n,).
        method: ``gmm`` (boundaries where the most likely mixture component changes),
            ``quantile`` (classes as equal in count as ties allow, see
            :func:`quantile_thresholds`) or ``fixed`` (``fixed`` as given).
        fixed: the ``labels.thresholds`` of method ``fixed``, radiance units.
    """
    if method == "fixed":
        return np.asarray(fixed, dtype=np.float64)
    if method == "quantile":
        return quantile_thresholds(radiance, n_classes)
    x = intensity(radiance)
    gmm = GaussianMixture(n_classes, random_state=seed, n_init=3).fit(x.reshape(-1, 1))
    grid = np.linspace(x.min(), x.max(), 4096)
    order = np.argsort(gmm.means_.ravel())
    rank = np.empty_like(order)
    rank[order] = np.arange(n_classes)
    labels = np.maximum.accumulate(rank[gmm.predict(grid.reshape(-1, 1))])
    cuts = [grid[np.argmax(labels >= k)] for k in range(1, n_classes)]
    return np.expm1(np.asarray(cuts))


def quantile_thresholds(radiance: np.ndarray, n_classes: int) -> np.ndarray:
    """Thresholds of classes as equal in count as ties allow; tiles of equal radiance share a class.

    Each threshold is a radiance that occurs (the lowest of the class above), chosen in turn so
    that the tiles above the previous one split as evenly as possible into the classes left: with
    70% of the tiles at 0 and 3 classes, the dark 70% and two halves of the rest. Fewer distinct
    values than classes give fewer thresholds, so a class stays empty.

    Args:
        radiance: finite per-tile radiance, shape (n,); negatives count as 0.
    """
    values, counts = np.unique(np.clip(radiance, 0.0, None), return_counts=True)
    below = np.cumsum(counts) - counts  # tiles below each distinct value
    thresholds: list[float] = []
    taken = 0
    for k in range(1, n_classes):
        target = taken + (counts.sum() - taken) / (n_classes - k + 1)
        # above the previous threshold, leaving a distinct value for each class still to come
        room = np.arange(len(values)) <= len(values) - n_classes + k
        fits = np.flatnonzero((below > taken) & room)
        if not len(fits):
            break
        j = fits[np.argmin(np.abs(below[fits] - target))]
        thresholds.append(values[j])
        taken = below[j]
    return np.asarray(thresholds, dtype=np.float64)


def context_boxes(footprints: gpd.GeoSeries, side_km: float) -> list[Polygon]:
    """Squares of ``side_km`` (EPSG:4326) centred on each footprint's centre.

    Degrees per km as everywhere in the pipeline (:mod:`pipeline.geo.blocks`: 110.574 km per
    degree of latitude, 111.320 km per degree of longitude at the equator times the cosine of the
    latitude): exact at the equator, within 1% of the WGS84 geodesic up to 60 degrees.
    """
    bounds = footprints.bounds.to_numpy()
    lon, lat = (bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2
    half_lat = side_km / 2 / KM_PER_DEG_LAT
    half_lon = side_km / 2 / (KM_PER_DEG_LON_EQUATOR * np.maximum(np.cos(np.radians(lat)), 1e-6))
    return [box(x - dx, y - half_lat, x + dx, y + half_lat)
            for x, y, dx in zip(lon, lat, half_lon, strict=True)]


def assign_classes(radiance: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Class of each radiance value (int64); -1 where radiance is not finite."""
    labels = np.searchsorted(thresholds, np.clip(radiance, 0.0, None), side="right")
    return np.where(np.isfinite(radiance), labels, -1).astype(np.int64)


def check_classes(counts: np.ndarray, thresholds: np.ndarray, cfg: LabelsConfig,
                  path: Path) -> None:
    """Refuse a class without tiles: train would have no example of it.

    With ``labels.balance`` and every tile in the dark class, no tile would train at all.

    Raises:
        InputDataError: naming the method, n_classes, thresholds and class counts.
    """
    empty = np.flatnonzero(counts == 0).tolist()
    if empty:
        cuts = ", ".join(f"{t:.4g}" for t in thresholds)
        raise InputDataError(
            f"{path}: labels.method {cfg.method} with labels.n_classes={cfg.n_classes} and "
            f"thresholds [{cuts}] leaves class(es) {empty} without tiles (class counts "
            f"{counts.tolist()}), so the model could not learn them. Lower labels.n_classes, "
            f"{OTHER_METHODS[cfg.method]}.")


def balance_mask(labels: np.ndarray, balance: bool, max_dark_ratio: float, seed: int) -> np.ndarray:
    """Which tiles train on: every labelled tile, or with ``balance`` a subsample of the dark class.

    The dark class (0) is cut, at random (seeded), to at most ``max_dark_ratio`` times the size
    of the largest other class when it is larger than that (Jean et al. subsampled the
    dominant dark tiles). Tiles labelled -1 never train.

    Returns:
        bool array, shape (n,).
    """
    ok = labels >= 0
    counts = np.bincount(labels[ok], minlength=2)
    cap = int(np.ceil(max_dark_ratio * counts[1:].max()))
    if not balance or counts[0] <= cap:
        return ok
    dark = np.flatnonzero(labels == 0)
    drop = np.random.default_rng(seed).choice(dark, size=len(dark) - cap, replace=False)
    ok[drop] = False
    return ok


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
    stats = _sample(ctx, list(catalog.geometry), per_job, "label tiles")
    finite = np.isfinite(stats[:, 0])
    label_radiance = stats[:, 0]
    if cfg.context_km is not None:
        context = _sample(ctx, context_boxes(catalog.geometry, cfg.context_km), per_job,
                          "label context")
        label_radiance = np.where(finite, context[:, 0], np.nan)
    if finite.sum() < cfg.n_classes * 10:
        raise InputDataError(f"{nl.path}: only {int(finite.sum())} of {len(catalog)} tiles lie on "
                             "the nightlight raster; check that it covers the tiles.")
    distinct = np.unique(intensity(label_radiance[finite])).size
    if cfg.method != "fixed" and distinct < cfg.n_classes:
        raise InputDataError(
            f"{nl.path}: the tiles see only {distinct} distinct radiance value(s) after clipping "
            f"negatives to 0 (all zero?), too few for labels.n_classes={cfg.n_classes}. Check "
            "data.nightlights.path and data.nightlights.band.")
    thresholds = class_thresholds(label_radiance[finite], cfg.method, cfg.n_classes,
                                  ctx.config.seed, cfg.thresholds)
    labels = assign_classes(label_radiance, thresholds)
    counts = np.bincount(labels[labels >= 0], minlength=cfg.n_classes)
    check_classes(counts, thresholds, cfg, nl.path)
    train_ok = balance_mask(labels, cfg.balance, cfg.max_dark_ratio, ctx.config.seed)
    table = pd.DataFrame({"tile_id": catalog["tile_id"], "radiance_mean": stats[:, 0],
                          "radiance_max": stats[:, 1], "label_radiance": label_radiance,
                          "label": labels, "train_ok": train_ok})
    table.to_parquet(ctx.out / "labels.parquet", index=False)
    temporal, warnings = temporal_alignment(catalog, clusters, nl.path, nl.year, cfg.max_year_gap)
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


def _sample(ctx: StageContext, footprints: list[Polygon], size: int, desc: str) -> np.ndarray:
    """(mean, max) radiance over each footprint, ``size`` footprints a shard on the executor."""
    nl = ctx.config.data.nightlights
    chunks = [footprints[i:i + size] for i in range(0, len(footprints), size)]
    return np.concatenate(ctx.executor.map(partial(sample_footprints, path=nl.path, band=nl.band),
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
)
