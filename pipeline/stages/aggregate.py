"""aggregate: mean image features and nightlights of the tiles around each survey cluster.

Inputs: ``ingest/clusters.parquet``; ``extract/features.npy`` + ``extract/index.parquet``;
``label/labels.parquet`` (radiance, for the nightlights-only baseline).
Outputs (``aggregate/``):
    cluster_features.npy  float32 (n_clusters, feature_dim), row i = cluster i of
                          clusters.parquet; NaN rows for clusters with too few tiles.
    clusters.parquet      the clusters plus n_tiles (tiles within ``aggregate.radius_km``),
                          nl_mean and nl_max (mean / max of the tiles' mean radiance) and
                          ``usable`` (n_tiles >= ``aggregate.min_tiles``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.config import Config
from pipeline.errors import InputDataError
from pipeline.geo.neighbours import all_neighbourhood_means, lonlat_tree, neighbours
from pipeline.stages.context import StageContext

NAME = "aggregate"
VERSION = 1
INPUTS = ("ingest", "label", "extract")
OUTPUTS = ("cluster_features.npy", "clusters.parquet")
CONFIG = ("aggregate",)


def input_files(config: Config) -> list[Path]:
    return []


def nightlight_stats(radiance: np.ndarray, members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and max radiance over each cluster's member tiles (NaN where none is finite)."""
    mean = np.full(len(members), np.nan)
    peak = np.full(len(members), np.nan)
    for i, idx in enumerate(members):
        values = radiance[idx]
        values = values[np.isfinite(values)]
        if values.size:
            mean[i], peak[i] = values.mean(), values.max()
    return mean, peak


def run(ctx: StageContext) -> dict[str, Any]:
    cfg = ctx.config.aggregate
    clusters = gpd.read_parquet(ctx.input("ingest", "clusters.parquet"))
    index = pd.read_parquet(ctx.input("extract", "index.parquet"))
    features = np.load(ctx.input("extract", "features.npy"), mmap_mode="r")
    radiance = pd.read_parquet(ctx.input("label", "labels.parquet"))["radiance_mean"].to_numpy()
    tree = lonlat_tree(index["lon"].to_numpy(), index["lat"].to_numpy())
    lon, lat = clusters["lon"].to_numpy(), clusters["lat"].to_numpy()
    means, counts = all_neighbourhood_means(features, tree, lon, lat, cfg.radius_km)
    nl_mean, nl_max = nightlight_stats(radiance, neighbours(tree, lon, lat, cfg.radius_km))
    usable = counts >= cfg.min_tiles
    means[~usable] = np.nan
    out = clusters.assign(n_tiles=counts, nl_mean=nl_mean, nl_max=nl_max, usable=usable)
    if usable.sum() == 0:
        raise InputDataError(
            f"no survey cluster has {cfg.min_tiles}+ tiles within aggregate.radius_km="
            f"{cfg.radius_km} km; check that the survey and the tiles cover the same area."
        )
    np.save(ctx.out / "cluster_features.npy", means.astype(np.float32))
    out.to_parquet(ctx.out / "clusters.parquet")
    if (~usable).any():
        ctx.log.warning("%d cluster(s) have fewer than %d tile(s) within %.1f km and are not used "
                        "(n_tiles and usable in aggregate/clusters.parquet)",
                        int((~usable).sum()), cfg.min_tiles, cfg.radius_km)
    return {"clusters": len(out), "usable": int(usable.sum()), "unusable": int((~usable).sum()),
            "median_tiles_per_cluster": float(np.median(counts))}
