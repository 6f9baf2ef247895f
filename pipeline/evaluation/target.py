"""One target, end to end: cross-validated metrics, the final model, intervals, OOD reference.

Shared by the ``fit`` stage (image features) and ``fit-features`` (a table a user brings).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from pipeline.evaluation.conformal import OodReference
from pipeline.evaluation.coverage import coverage_record, held_out_intervals
from pipeline.evaluation.evaluate import Survey, evaluate, inner_groups, make_folds, urban_flags
from pipeline.evaluation.folds import Folds, random_folds, spatial_folds
from pipeline.evaluation.intervals import FoldSet, guarantee_text, naive_half_width
from pipeline.evaluation.predictors import Predictor
from pipeline.evaluation.estimators import PovertyRidge
from pipeline.evaluation.ridge import fold_models
from pipeline.evaluation.settings import CvSettings
from pipeline.geo.blocks import block_ids

INTERVAL_SCHEMES = ("spatial", "country", "random")


@dataclass(frozen=True)
class TargetResult:
    """What fitting one target produced.

    Attributes:
        metrics: ``targets.<target>`` of metrics.json (``schemes``, ``interval``, counts).
        model: ``<target>`` of model.json (ridge, interval fold models, OOD reference).
        predictions: long table of out-of-fold predictions, one row per cluster and scheme.
    """

    metrics: dict[str, Any]
    model: dict[str, Any]
    predictions: pd.DataFrame


def interval_scheme(cfg: CvSettings, oof: dict[str, Any]) -> str | None:
    """The most demanding scheme that ran: its folds calibrate the intervals."""
    return next((s for s in INTERVAL_SCHEMES if s in oof), None)


def interval_fold_set(survey: Survey, x: np.ndarray, scheme: str, cfg: CvSettings,
                      seed: int) -> FoldSet:
    """The fold models and residuals of ``scheme`` over all clusters (the saved interval)."""
    rows = np.arange(len(survey.y))
    folds = make_folds(scheme, survey, rows, cfg, seed)
    models = fold_models(x, survey.y, folds, cfg.alphas, cfg.log_skewed,
                         inner_groups(scheme, survey, rows, cfg), survey.weight)
    return FoldSet.fit(x, survey.y, folds, models, normalised=cfg.interval == "normalised")


def held_out_folds(survey: Survey, cfg: CvSettings, seed: int) -> tuple[str, Folds]:
    """The folds the intervals are measured on: spatial blocks, or random folds when the
    clusters have no coordinates (one block)."""
    lon, lat = survey.lonlat[:, 0], survey.lonlat[:, 1]
    if len(np.unique(block_ids(lon, lat, cfg.spatial_block_km))) >= 2:
        return "spatial", spatial_folds(lon, lat, cfg.folds, cfg.spatial_block_km, seed, 0.0)
    return "random", random_folds(len(lon), cfg.folds, seed)


def measured_intervals(survey: Survey, x: np.ndarray, scheme: str, cfg: CvSettings,
                       seed: int) -> dict[str, dict[str, Any]]:
    """Every method's coverage on held-out spatial blocks (calibrated on the other blocks)."""
    _, outer = held_out_folds(survey, cfg, seed)
    urban = urban_flags(survey.urban) if survey.urban is not None else None
    ends = held_out_intervals(
        x, survey.y, outer,
        lambda rows: make_folds(scheme, survey, rows, cfg, seed),
        lambda rows: inner_groups(scheme, survey, rows, cfg),
        cfg.interval_coverage, tuple(cfg.alphas), cfg.log_skewed, survey.weight,
        None if isinstance(urban, str) else urban)
    return coverage_record(ends, survey.y, cfg.interval_coverage, survey.weight)


def interval_spec(survey: Survey, x: np.ndarray, oof: dict[str, dict[str, np.ndarray]],
                  cfg: CvSettings, seed: int, log: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metrics entry, model.json entry) of the prediction interval; ({}, {}) without CV."""
    scheme = interval_scheme(cfg, oof)
    if scheme is None:
        return {}, {}
    folds = interval_fold_set(survey, x, scheme, cfg, seed)
    n, k = len(folds.residuals), len(folds.models)
    measured = measured_intervals(survey, x, scheme, cfg, seed)
    methods = {m: {"guarantee": guarantee_text(m, n, k, cfg.interval_coverage),
                   **measured.get(m, {"held_out_coverage": None})}
               for m in ("naive_cv", "cv_plus", "normalised", "mondrian_urban")
               if m in measured or m != "mondrian_urban"}
    units = "log" if log else "outcome"
    metrics = {"coverage": cfg.interval_coverage, "scheme": scheme, "map_method": cfg.interval,
               "guarantee": methods[cfg.interval]["guarantee"], "calibration_clusters": n,
               "folds": k, "units": units,
               "naive_half_width": naive_half_width(folds.residuals, cfg.interval_coverage),
               "held_out": {"scheme": held_out_folds(survey, cfg, seed)[0],
                            "block_km": cfg.spatial_block_km, "folds": cfg.folds},
               "methods": methods}
    model = {"method": cfg.interval, "coverage": cfg.interval_coverage, "scheme": scheme,
             "units": units, **folds.to_dict(cfg.interval)}
    return metrics, model


def fit_target(name: str, survey: Survey, predictors: dict[str, Predictor], ids: pd.Series,
               cfg: CvSettings, seed: int, log: bool) -> TargetResult:
    """Cross-validate every predictor, then fit the final model on all rows.

    Args:
        name: the target column.
        survey: the clusters (rows already restricted to usable ones; weights set when
            ``cfg.weights`` is not ``none``).
        predictors: ``model`` (ridge on the features to save) and the baselines.
        ids: cluster ids, row-aligned.
        cfg, seed: the regression settings and the run's seed.
        log: whether ``survey.y`` is log(outcome).
    """
    schemes, oof = evaluate(survey, predictors, cfg, seed)
    x = predictors["model"].x
    blocks = block_ids(survey.lonlat[:, 0], survey.lonlat[:, 1], cfg.spatial_block_km)
    model = PovertyRidge(cfg.alphas, cfg.log_skewed).fit(  # the map: new places
        x, survey.y, sample_weight=survey.weight, groups=blocks).model_
    with threadpool_limits(1):  # many small decompositions, as in evaluate
        interval, saved_interval = interval_spec(survey, x, oof, cfg, seed, log)
    ood = OodReference.fit(model.prep.transform(x, clip=False), cfg.ood_quantile)
    metrics = {"log": log, "n": int(len(survey.y)), "weights": cfg.weights, "schemes": schemes,
               "interval": interval, "alpha": model.alpha, "features_used": len(model.prep.keep),
               "features_log1p": int(sum(model.prep.log1p))}
    saved = {**model.to_dict(), "log": log, "feature_dim": int(x.shape[1]), "n_train": len(x),
             "weights": cfg.weights, "clusters_sha256": ids_hash(ids), "interval": saved_interval,
             "ood": ood.to_dict()}
    frames = [pd.DataFrame({"cluster_id": ids.to_numpy(), "target": name, "scheme": scheme,
                            "fold": cols["fold"], "observed": survey.y,
                            "predicted": cols["model"],
                            **{f"predicted_{k}": v for k, v in cols.items()
                               if k not in ("fold", "model")}})
              for scheme, cols in oof.items()]
    predictions = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return TargetResult(metrics, saved, predictions)


def ids_hash(ids: pd.Series) -> str:
    """sha256 of the sorted cluster ids: which clusters a model was trained on."""
    return hashlib.sha256("\n".join(sorted(map(str, ids))).encode()).hexdigest()
