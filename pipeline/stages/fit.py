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
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.errors import ConfigError, InputDataError
from pipeline.evaluation.design import build_predictors, survey_of, target_values
from pipeline.evaluation.folds import spatial_cv_record
from pipeline.outputs.evaluation_figures import write_plots
from pipeline.evaluation.ridge import save_models
from pipeline.evaluation.settings import CvSettings
from pipeline.evaluation.target import fit_target
from pipeline.engine.context import StageContext
from pipeline.stages.aggregate import neighbourhood
from pipeline.engine.stage import Stage

BASELINE_FEATURES = {"imagenet": "imagenet_features.npy", "random_features": "random_features.npy"}
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


def load_features(ctx: StageContext) -> dict[str, np.ndarray]:
    features = {"model": np.load(ctx.input("aggregate", "cluster_features.npy"))}
    for name, file in BASELINE_FEATURES.items():
        features[name] = np.load(ctx.input("aggregate", file))
    return features


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
        y, keep = target_values(clusters, target.column, target.log)
        rows = np.flatnonzero(usable & keep)
        if len(rows) < 2 * cfg.folds:
            raise InputDataError(
                f"{ctx.input('aggregate', 'clusters.parquet')}: only {len(rows)} usable clusters "
                f"for target {target.column!r}; regression.folds={cfg.folds} needs at least "
                f"{2 * cfg.folds}. Lower regression.folds or add survey clusters near the tiles.")
        sub = clusters.iloc[rows]
        predictors = build_predictors(sub, {k: v[rows] for k, v in features.items()},
                                      cfg.baselines)
        survey = survey_of(sub, y[rows], target.column, None if weight is None else weight[rows])
        result = fit_target(target.column, survey, predictors, sub["cluster_id"], settings, seed,
                            target.log)
        metrics["targets"][target.column] = {**result.metrics,
                                             "excluded": int((usable & ~keep).sum()),
                                             "excluded_no_weight": int((no_weight & keep).sum())}
        if "spatial" in cfg.schemes:
            metrics["targets"][target.column]["spatial_cv"] = record = spatial_cv_record(
                sub["lon"].to_numpy(), sub["lat"].to_numpy(), cfg.folds, cfg.spatial_block_km,
                cfg.buffer_km, neighbourhood(ctx.config.aggregate).reach_km, seed)
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


STAGE = Stage(
    name="fit",
    version=6,  # 6: CV+ intervals measured on held-out blocks; regression.weights
    inputs=("aggregate",),
    outputs=("metrics.json", "cv_predictions.csv", "model.json"),
    # the neighbourhood's reach, for the spatial folds' record of shared tiles
    config=("regression", "seed", "aggregate.radius_km", "aggregate.box_km"),
    run=run,
)
