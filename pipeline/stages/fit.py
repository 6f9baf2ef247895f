"""fit: ridge from cluster features to each survey outcome, cross-validated, with baselines.

Inputs: ``aggregate/cluster_features.npy``, ``aggregate/imagenet_features.npy``,
``aggregate/random_features.npy`` + ``aggregate/clusters.parquet``.
Outputs (``fit/``):
    metrics.json         ``targets.<target>.schemes.<scheme>.<subset>``: for the image model
                         (``model``) and each baseline (``nightlights``, ``nightlights_knn``,
                         ``random_features``, ``imagenet``, ``region_mean``) on the very same
                         folds: R², Pearson r², RMSE, Spearman, n and bootstrap 95% intervals
                         of both r²s, and ``model_vs``: the model's R² gain over each baseline
                         with its paired bootstrap interval (see
                         :mod:`pipeline.evaluation.evaluate` for the schemes and subsets);
                         ``targets.<target>.interval``: the prediction interval the map
                         carries, what it promises, and every method's coverage measured
                         on held-out spatial blocks beside the nominal one, with mean width;
                         ``targets.<target>.weights``: the cluster weights used
                         (``regression.weights``; weighted scores keep ``unweighted``);
                         ``targets.<target>.spatial_cv``: block side, buffer, and the share
                         of test clusters whose neighbourhoods share tiles with a training
                         cluster's.
    cv_predictions.csv   cluster_id, target, scheme, fold, observed, predicted and
                         predicted_<baseline> (all clusters; log units where the target is
                         logged).
    model.json           per target: the final ridge (fitted on all usable clusters) with its
                         preprocessing, the interval's fold models and residuals (CV+) and the
                         OOD reference, as JSON.
    <target>_*.png       evaluation plots (see :mod:`pipeline.outputs.evaluation_figures`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.config.schema import AggregateConfig, Config, RegressionConfig, TargetConfig
from pipeline.errors import ConfigError, InputDataError
from pipeline.evaluation.evaluate import Survey
from pipeline.evaluation.folds import share_tested_near_training, spatial_folds
from pipeline.outputs.evaluation_figures import write_plots
from pipeline.evaluation.predictors import Predictor
from pipeline.evaluation.ridge import save_models
from pipeline.evaluation.settings import CvSettings
from pipeline.evaluation.target import fit_target
from pipeline.engine.context import StageContext

NAME = "fit"
VERSION = 6  # 6: CV+ intervals measured on held-out blocks; regression.weights
INPUTS = ("aggregate",)
OUTPUTS = ("metrics.json", "cv_predictions.csv", "model.json")
CONFIG = ("regression", "seed")
BASELINE_FEATURES = {"imagenet": "imagenet_features.npy", "random_features": "random_features.npy"}


def input_files(config: Config) -> list[Path]:
    return []


def nightlight_design(clusters: pd.DataFrame) -> np.ndarray:
    """Baseline features: mean and max radiance around the cluster, raw and log(1 + x)."""
    nl = np.clip(clusters[["nl_mean", "nl_max"]].to_numpy(dtype=np.float64), 0.0, None)
    return np.nan_to_num(np.column_stack([nl, np.log1p(nl)]))


def target_values(clusters: pd.DataFrame, target: TargetConfig) -> tuple[np.ndarray, np.ndarray]:
    """(y, keep): the outcome, logged when configured; keep is False where y is unusable."""
    raw = clusters[target.column].to_numpy(dtype=np.float64)
    if not target.log:
        return raw, np.isfinite(raw)
    keep = np.isfinite(raw) & (raw > 0)
    return np.log(np.where(keep, raw, 1.0)), keep


def optional_column(frame: pd.DataFrame, column: str) -> np.ndarray | None:
    """A column as an object array, or None when absent or entirely empty."""
    if column not in frame.columns or frame[column].isna().all():
        return None
    return frame[column].to_numpy(dtype=object)


def region_labels(frame: pd.DataFrame) -> np.ndarray:
    """The region of each cluster for the region-mean baseline: district, else country."""
    for column in ("district", "country"):
        labels = optional_column(frame, column)
        if labels is not None:
            return labels
    return np.zeros(len(frame), dtype=object)


def build_predictors(sub: pd.DataFrame, features: dict[str, np.ndarray],
                     cfg: RegressionConfig) -> dict[str, Predictor]:
    """The image model and the configured baselines for the rows of ``sub``."""
    nl = nightlight_design(sub)
    candidates = {
        "nightlights": Predictor("ridge", nl),
        "nightlights_knn": Predictor("knn", nl[:, 2:]),
        "region_mean": Predictor("group_mean", region_labels(sub)),
        **{name: Predictor("ridge", x) for name, x in features.items() if name != "model"},
    }
    chosen = {name: candidates[name] for name in cfg.baselines
              if name in candidates and candidates[name].has_features}
    return {"model": Predictor("ridge", features["model"]), **chosen}


WEIGHT_COLUMNS = {"survey": ("weight", "data.survey.weight"),
                  "households": ("n_households", "data.survey.households")}


def cluster_weights(clusters: pd.DataFrame, mode: str, path: Path) -> np.ndarray | None:
    """The clusters' weights for ``regression.weights`` (None for ``none``); NaN where a
    cluster has no positive weight (it is then left out of the fit and counted as excluded).

    Raises:
        ConfigError: the survey has no such column.
    """
    if mode == "none":
        return None
    column, key = WEIGHT_COLUMNS[mode]
    if column not in clusters.columns or clusters[column].isna().all():
        raise ConfigError(f"regression.weights: {mode} needs each cluster's {column}, which "
                          f"{path} does not have; map it with {key} (DHS and LSMS recipes "
                          "fill it), or set regression.weights: none.")
    values = pd.to_numeric(clusters[column], errors="coerce").to_numpy(dtype=np.float64)
    return np.where(values > 0, values, np.nan)


def survey_of(sub: pd.DataFrame, y: np.ndarray, target: TargetConfig,
              weight: np.ndarray | None = None) -> Survey:
    return Survey(y=y, y_raw=sub[target.column].to_numpy(dtype=np.float64),
                  lonlat=sub[["lon", "lat"]].to_numpy(dtype=np.float64),
                  country=optional_column(sub, "country"), urban=optional_column(sub, "urban"),
                  district=optional_column(sub, "district"), weight=weight)


def load_features(ctx: StageContext) -> dict[str, np.ndarray]:
    features = {"model": np.load(ctx.input("aggregate", "cluster_features.npy"))}
    for name, file in BASELINE_FEATURES.items():
        features[name] = np.load(ctx.input("aggregate", file))
    return features


def neighbourhood_reach_km(agg: AggregateConfig) -> float:
    """The distance within which two clusters' neighbourhoods can share tiles: 2 ×
    ``radius_km``, or ``box_km`` × √2 for boxes."""
    return agg.box_km * math.sqrt(2) if agg.box_km is not None else 2 * agg.radius_km


def spatial_cv_record(clusters: pd.DataFrame, cfg: RegressionConfig, agg: AggregateConfig,
                      seed: int) -> dict[str, float]:
    """How separate the spatial folds of ``clusters`` (one target's rows, as scored) are: block
    side, buffer, and the share of test clusters within neighbourhood reach of a training
    cluster (their features share tiles)."""
    lon, lat = clusters["lon"].to_numpy(), clusters["lat"].to_numpy()
    folds = spatial_folds(lon, lat, cfg.folds, cfg.spatial_block_km, seed, cfg.buffer_km)
    reach = neighbourhood_reach_km(agg)
    return {"block_km": cfg.spatial_block_km, "buffer_km": cfg.buffer_km,
            "neighbourhood_reach_km": round(reach, 6),
            "test_share_sharing_tiles": round(share_tested_near_training(lon, lat, folds, reach),
                                              4)}


def warn_shared_tiles(ctx: StageContext, target: str, record: dict[str, float]) -> None:
    """Log a warning, with the setting to change, when spatial test clusters share tiles."""
    share, reach = record["test_share_sharing_tiles"], record["neighbourhood_reach_km"]
    if share > 0:
        ctx.log.warning(
            "spatial CV of %s: %.0f%% of test clusters lie within %g km of a training cluster, so "
            "their neighbourhoods share tiles (regression.buffer_km is %g). Set "
            "regression.buffer_km: %g for a stricter test that drops those training clusters "
            "(fewer to train on).", target, 100 * share, reach, record["buffer_km"], reach)


def run(ctx: StageContext) -> dict[str, Any]:
    cfg, seed = ctx.config.regression, ctx.config.seed
    settings = CvSettings.of(cfg)
    clusters = gpd.read_parquet(ctx.input("aggregate", "clusters.parquet"))
    features = load_features(ctx)
    weight = cluster_weights(clusters, cfg.weights, ctx.input("aggregate", "clusters.parquet"))
    usable = clusters["usable"].to_numpy()
    no_weight = np.zeros(len(usable), dtype=bool) if weight is None else usable & ~np.isfinite(
        weight)
    usable = usable & ~no_weight
    metrics: dict[str, Any] = {"targets": {}}
    models: dict[str, Any] = {}
    predictions, summary = [], {}
    for target in cfg.targets:
        y, keep = target_values(clusters, target)
        rows = np.flatnonzero(usable & keep)
        if len(rows) < 2 * cfg.folds:
            raise InputDataError(
                f"{ctx.input('aggregate', 'clusters.parquet')}: only {len(rows)} usable clusters "
                f"for target {target.column!r}; regression.folds={cfg.folds} needs at least "
                f"{2 * cfg.folds}. Lower regression.folds or add survey clusters near the tiles.")
        sub = clusters.iloc[rows]
        predictors = build_predictors(sub, {k: v[rows] for k, v in features.items()}, cfg)
        survey = survey_of(sub, y[rows], target, None if weight is None else weight[rows])
        result = fit_target(target.column, survey, predictors, sub["cluster_id"], settings, seed,
                            target.log)
        metrics["targets"][target.column] = {**result.metrics,
                                             "excluded": int((usable & ~keep).sum()),
                                             "excluded_no_weight": int((no_weight & keep).sum())}
        if "spatial" in cfg.schemes:
            metrics["targets"][target.column]["spatial_cv"] = record = spatial_cv_record(
                sub, cfg, ctx.config.aggregate, seed)
            warn_shared_tiles(ctx, target.column, record)
        models[target.column] = {**result.model, "feature_layer": "features"}
        predictions.append(result.predictions)
        label = f"log {target.column}" if target.log else target.column
        write_plots(ctx.out, target.column, label, result.metrics["schemes"],
                    result.predictions, sub["nl_mean"].to_numpy(dtype=np.float64), y[rows])
        summary.update(headline(target.column, result.metrics["schemes"]))
    (ctx.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    pd.concat(predictions, ignore_index=True).to_csv(ctx.out / "cv_predictions.csv", index=False)
    save_models(ctx.out / "model.json", models)
    return summary


def headline(target: str, schemes: dict[str, Any]) -> dict[str, float]:
    """Counts for the manifest: all-cluster R² of the model and baselines, first scheme."""
    for entry in schemes.values():
        first = entry.get("all", {})
        return {f"{target}_{'r2' if name == 'model' else name + '_r2'}": round(value["r2"], 4)
                for name, value in first.items() if isinstance(value, dict) and "r2" in value}
    return {}
