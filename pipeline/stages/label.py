"""label: nightlight radiance per tile and nightlight intensity classes.

Inputs: ``ingest/tiles.parquet``; the raster at ``data.nightlights.path`` (any CRS).
Outputs (``label/``):
    labels.parquet  one row per catalog tile, same order: tile_id, radiance_mean, radiance_max
                    (raster units, e.g. nW/cm²/sr for VIIRS) over the tile footprint, and
                    ``label`` (0 = darkest class .. n_classes-1; -1 when the tile lies outside
                    the raster).
    bins.json       method, n_classes, thresholds (radiance at each class boundary), class
                    counts and class mean radiance.

Classes follow Jean et al. 2016: a Gaussian mixture over tile intensities (here on
log(1 + radiance), radiance clipped at 0, which tames VIIRS' heavy tail), or quantiles.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from sklearn.mixture import GaussianMixture

from pipeline.config import Config
from pipeline.errors import InputDataError
from pipeline.geo.nightlights import sample_footprints
from pipeline.stages.context import StageContext

NAME = "label"
VERSION = 1
INPUTS = ("ingest",)
OUTPUTS = ("labels.parquet", "bins.json")
CONFIG = ("labels", "data.nightlights")


def input_files(config: Config) -> list[Path]:
    return [config.data.nightlights.path]


def intensity(radiance: np.ndarray) -> np.ndarray:
    """The scale classes are fitted on: log(1 + max(radiance, 0))."""
    return np.log1p(np.clip(radiance, 0.0, None))


def class_thresholds(radiance: np.ndarray, method: str, n_classes: int, seed: int) -> np.ndarray:
    """Radiance thresholds between consecutive classes, ascending, length n_classes - 1.

    Args:
        radiance: finite per-tile radiance, shape (n,).
        method: ``gmm`` (boundaries where the most likely mixture component changes) or
            ``quantile`` (equal-count classes).
    """
    x = intensity(radiance)
    if method == "quantile":
        cuts = np.quantile(x, np.linspace(0, 1, n_classes + 1)[1:-1])
        return np.expm1(cuts)
    gmm = GaussianMixture(n_classes, random_state=seed, n_init=3).fit(x.reshape(-1, 1))
    grid = np.linspace(x.min(), x.max(), 4096)
    order = np.argsort(gmm.means_.ravel())
    rank = np.empty_like(order)
    rank[order] = np.arange(n_classes)
    labels = np.maximum.accumulate(rank[gmm.predict(grid.reshape(-1, 1))])
    cuts = [grid[np.argmax(labels >= k)] for k in range(1, n_classes)]
    return np.expm1(np.asarray(cuts))


def assign_classes(radiance: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Class of each radiance value (int64); -1 where radiance is not finite."""
    labels = np.searchsorted(thresholds, np.clip(radiance, 0.0, None), side="right")
    return np.where(np.isfinite(radiance), labels, -1).astype(np.int64)


def run(ctx: StageContext) -> dict[str, Any]:
    cfg, nl = ctx.config.labels, ctx.config.data.nightlights
    catalog = gpd.read_parquet(ctx.input("ingest", "tiles.parquet"))
    chunks = [list(catalog.geometry.iloc[i:i + ctx.config.data.shard_size])
              for i in range(0, len(catalog), ctx.config.data.shard_size)]
    stats = np.concatenate(ctx.executor.map(partial(sample_footprints, path=nl.path, band=nl.band),
                                            chunks, desc="label tiles"))
    finite = np.isfinite(stats[:, 0])
    if finite.sum() < cfg.n_classes * 10:
        raise InputDataError(f"{nl.path}: only {int(finite.sum())} of {len(catalog)} tiles lie on "
                             "the nightlight raster; check that it covers the tiles.")
    thresholds = class_thresholds(stats[finite, 0], cfg.method, cfg.n_classes, ctx.config.seed)
    labels = assign_classes(stats[:, 0], thresholds)
    table = pd.DataFrame({"tile_id": catalog["tile_id"], "radiance_mean": stats[:, 0],
                          "radiance_max": stats[:, 1], "label": labels})
    table.to_parquet(ctx.out / "labels.parquet", index=False)
    counts = np.bincount(labels[labels >= 0], minlength=cfg.n_classes)
    bins = {"method": cfg.method, "n_classes": cfg.n_classes, "scale": "log1p(radiance)",
            "thresholds": thresholds.tolist(), "counts": counts.tolist(),
            "mean_radiance": [float(stats[labels == k, 0].mean()) if counts[k] else None
                              for k in range(cfg.n_classes)]}
    (ctx.out / "bins.json").write_text(json.dumps(bins, indent=2))
    if (~finite).any():
        ctx.log.warning("%d tile(s) lie outside the nightlight raster; they get label -1 and are "
                        "not used for training", int((~finite).sum()))
    return {"tiles": len(table), "outside_raster": int((~finite).sum()),
            **{f"class_{k}": int(c) for k, c in enumerate(counts)}}
