"""fit: ridge from cluster features to each survey outcome, cross-validated, with baselines.

Inputs: ``aggregate/cluster_features.npy`` + ``aggregate/clusters.parquet``.
Outputs (``fit/``):
    metrics.json         per target, per CV scheme (random k-fold, spatial blocks), per subset
                         (all clusters; clusters below each of ``regression.poor_percentiles`` of
                         the outcome, refitted within the subset as Jean et al. do): R², Pearson
                         r², RMSE and n for the image model and the nightlights-only baseline, on
                         the very same folds.
    cv_predictions.csv   cluster_id, target, scheme, fold, observed, predicted,
                         predicted_nightlights (all clusters; log units where the target is
                         logged).
    model.json           per target: the final ridge (fitted on all usable clusters) as JSON.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.config import Config, RegressionConfig, TargetConfig
from pipeline.errors import InputDataError
from pipeline.regression import (
    Folds,
    cross_predict,
    fit_ridge,
    random_folds,
    save_models,
    scores,
    spatial_folds,
)
from pipeline.stages.context import StageContext

NAME = "fit"
VERSION = 1
INPUTS = ("aggregate",)
OUTPUTS = ("metrics.json", "cv_predictions.csv", "model.json")
CONFIG = ("regression",)


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


def make_folds(scheme: str, lon: np.ndarray, lat: np.ndarray, cfg: RegressionConfig, seed: int) -> Folds:
    if scheme == "spatial":
        return spatial_folds(lon, lat, cfg.folds, cfg.spatial_block_km, seed)
    return random_folds(len(lon), cfg.folds, seed)


def subsets(y_raw: np.ndarray, percentiles: tuple[float, ...]) -> dict[str, np.ndarray]:
    """Row masks: all clusters, and those at or below each percentile of the outcome."""
    out = {"all": np.ones(len(y_raw), dtype=bool)}
    for p in percentiles:
        if p < 100:
            out[f"below_p{p:g}"] = y_raw <= np.percentile(y_raw, p)
    return out


def evaluate(x_img: np.ndarray, x_nl: np.ndarray, y: np.ndarray, y_raw: np.ndarray,
             lonlat: np.ndarray, cfg: RegressionConfig, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Metrics per scheme and subset, and the out-of-fold predictions over all clusters."""
    metrics: dict[str, Any] = {}
    oof: dict[str, Any] = {}
    for scheme in cfg.schemes:
        metrics[scheme] = {}
        for name, mask in subsets(y_raw, cfg.poor_percentiles).items():
            rows = np.flatnonzero(mask)
            if len(rows) < 2 * cfg.folds:
                metrics[scheme][name] = {"n": int(len(rows)), "skipped": "fewer than 2 x folds clusters"}
                continue
            folds = make_folds(scheme, lonlat[rows, 0], lonlat[rows, 1], cfg, seed)
            pred, alphas = cross_predict(x_img[rows], y[rows], folds, cfg.alphas)
            pred_nl, _ = cross_predict(x_nl[rows], y[rows], folds, cfg.alphas)
            metrics[scheme][name] = {"n": int(len(rows)), "model": scores(y[rows], pred),
                                     "nightlights": scores(y[rows], pred_nl),
                                     "alphas": alphas, "folds": len(folds)}
            if name == "all":
                fold_of = np.empty(len(rows), dtype=np.int64)
                for k, (_, test) in enumerate(folds):
                    fold_of[test] = k
                oof[scheme] = {"fold": fold_of, "predicted": pred, "predicted_nightlights": pred_nl}
    return metrics, oof


def run(ctx: StageContext) -> dict[str, Any]:
    cfg, seed = ctx.config.regression, ctx.config.seed
    clusters = gpd.read_parquet(ctx.input("aggregate", "clusters.parquet"))
    features = np.load(ctx.input("aggregate", "cluster_features.npy"))
    usable = clusters["usable"].to_numpy()
    metrics: dict[str, Any] = {"targets": {}}
    models: dict[str, Any] = {}
    predictions = []
    summary: dict[str, Any] = {}
    for target in cfg.targets:
        y, keep = target_values(clusters, target)
        rows = np.flatnonzero(usable & keep)
        if len(rows) < 2 * cfg.folds:
            raise InputDataError(
                f"only {len(rows)} usable clusters for target {target.column!r}; "
                f"regression.folds={cfg.folds} needs at least {2 * cfg.folds}."
            )
        sub = clusters.iloc[rows]
        lonlat = sub[["lon", "lat"]].to_numpy()
        result, oof = evaluate(features[rows], nightlight_design(sub), y[rows],
                               sub[target.column].to_numpy(dtype=np.float64), lonlat, cfg, seed)
        model = fit_ridge(features[rows], y[rows], cfg.alphas)
        metrics["targets"][target.column] = {
            "log": target.log, "n": len(rows), "excluded": int((usable & ~keep).sum()),
            "schemes": result}
        models[target.column] = {**model.to_dict(), "log": target.log, "feature_layer": "features",
                                 "feature_dim": int(features.shape[1]), "n_train": len(rows),
                                 "clusters_sha256": _ids_hash(sub["cluster_id"])}
        for scheme, cols in oof.items():
            predictions.append(pd.DataFrame({
                "cluster_id": sub["cluster_id"].to_numpy(), "target": target.column,
                "scheme": scheme, "observed": y[rows], **cols}))
        first = result[cfg.schemes[0]]["all"]
        summary[f"{target.column}_r2"] = round(first["model"]["r2"], 4)
        summary[f"{target.column}_nightlights_r2"] = round(first["nightlights"]["r2"], 4)
    (ctx.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    pd.concat(predictions, ignore_index=True).to_csv(ctx.out / "cv_predictions.csv", index=False)
    save_models(ctx.out / "model.json", models)
    return summary


def _ids_hash(ids: pd.Series) -> str:
    return hashlib.sha256("\n".join(sorted(map(str, ids))).encode()).hexdigest()
