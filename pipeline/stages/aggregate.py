"""aggregate: mean image features and nightlights of the tiles around each survey cluster.

A cluster's neighbourhood is every tile whose centre lies within ``aggregate.radius_km``
(great circle), or, when ``aggregate.box_km`` is set, inside a square box of that side centred
on the cluster (Jean et al.'s 10 x 10 km box). Means are plain, or weighted by each tile's
valid-pixel share (``aggregate.weight: valid_share``) or population (``population``, the mean of
the ``aggregate.population`` raster over the tile).

Inputs: ``ingest/clusters.parquet`` + ``ingest/tiles.parquet``; ``extract/features.npy`` +
``extract/index.parquet``; ``label/labels.parquet`` (radiance, for the nightlights baselines);
``baselines/imagenet_features.npy`` + ``baselines/random_features.npy``;
``aggregate.districts.path`` (optional polygons).
Outputs (``aggregate/``):
    cluster_features.npy   float32 (n_clusters, feature_dim), row i = cluster i of
                           clusters.parquet; NaN rows for clusters with too few tiles.
    imagenet_features.npy  the same for the untrained ImageNet features (n_clusters, d or 0).
    random_features.npy    the same for the random convolutional features (n_clusters, d or 0).
    clusters.parquet       the clusters plus n_tiles, nl_mean and nl_max (mean / max of the
                           tiles' mean radiance), ``usable`` (n_tiles >= ``aggregate.min_tiles``)
                           and, with ``aggregate.districts``, ``district`` (None outside).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.geo.aggregation import (
    assign_districts,
    nightlight_stats,
    tile_weights,
    weight_files,
    weighted_means,
)
from pipeline.config.schema import AggregateConfig, Config
from pipeline.errors import InputDataError
from pipeline.geo.neighbours import Neighbourhood
from pipeline.engine.context import StageContext
from pipeline.engine.stage import Stage

BASELINE_FILES = ("imagenet_features.npy", "random_features.npy")


def input_files(config: Config) -> list[Path]:
    cfg = config.aggregate
    return (weight_files(cfg.weight, cfg.population)
            + ([cfg.districts.path] if cfg.districts is not None else []))


def neighbourhood(cfg: AggregateConfig) -> Neighbourhood:
    """The tiles around a cluster: ``aggregate.radius_km``, or the ``aggregate.box_km`` box
    (also what ``fit`` and ``predict`` use)."""
    return Neighbourhood(cfg.radius_km, cfg.box_km)


def _save_means(ctx: StageContext, name: str, values: np.ndarray, groups: np.ndarray,
                weights: np.ndarray | None, usable: np.ndarray) -> None:
    means = weighted_means(values, groups, weights)
    means[~usable] = np.nan
    np.save(ctx.out / name, means.astype(np.float32))


def run(ctx: StageContext) -> dict[str, Any]:
    cfg = ctx.config.aggregate
    clusters = gpd.read_parquet(ctx.input("ingest", "clusters.parquet"))
    catalog = gpd.read_parquet(ctx.input("ingest", "tiles.parquet"))
    index = pd.read_parquet(ctx.input("extract", "index.parquet"))
    radiance = pd.read_parquet(ctx.input("label", "labels.parquet"))["radiance_mean"].to_numpy()
    groups = neighbourhood(cfg).members(index["lon"].to_numpy(), index["lat"].to_numpy(),
                                        clusters["lon"].to_numpy(), clusters["lat"].to_numpy())
    counts = np.array([len(g) for g in groups], dtype=np.int64)
    usable = counts >= cfg.min_tiles
    if usable.sum() == 0:
        raise InputDataError(
            f"no survey cluster has {cfg.min_tiles}+ tiles within aggregate.radius_km="
            f"{cfg.radius_km} km (box_km={cfg.box_km}); check that the survey and the tiles "
            "cover the same area.")
    weights = tile_weights(cfg.weight, catalog, cfg.population, cfg.population_holds)
    _save_means(ctx, "cluster_features.npy", np.load(ctx.input("extract", "features.npy"),
                                                     mmap_mode="r"), groups, weights, usable)
    for name in BASELINE_FILES:
        _save_means(ctx, name, np.load(ctx.input("baselines", name), mmap_mode="r"), groups,
                    weights, usable)
    nl_mean, nl_max = nightlight_stats(radiance, groups)
    out = clusters.assign(n_tiles=counts, nl_mean=nl_mean, nl_max=nl_max, usable=usable)
    result = {"clusters": len(out), "usable": int(usable.sum()), "unusable": int((~usable).sum()),
              "median_tiles_per_cluster": float(np.median(counts))}
    if cfg.districts is not None:
        out["district"] = assign_districts(out, cfg.districts.path, cfg.districts.id).to_numpy()
        result["outside_districts"] = int(pd.isna(out["district"]).sum())
    out.to_parquet(ctx.out / "clusters.parquet")
    if (~usable).any():
        ctx.log.warning("%d cluster(s) have fewer than %d tile(s) in their neighbourhood and are "
                        "not used (n_tiles and usable in aggregate/clusters.parquet): %s",
                        int((~usable).sum()), cfg.min_tiles,
                        ", ".join(out.loc[~usable, "cluster_id"].astype(str).head(10)))
    return result


STAGE = Stage(
    name="aggregate",
    version=2,
    inputs=("ingest", "label", "extract", "baselines"),
    outputs=("cluster_features.npy", *BASELINE_FILES, "clusters.parquet"),
    config=("aggregate",),
    run=run,
    input_files=input_files,
)
