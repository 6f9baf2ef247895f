"""One target, end to end: cross-validated metrics, the final model, intervals, OOD reference.

Shared by the ``fit`` stage (image features) and ``fit-features`` (a table a user brings).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.config.schema import RegressionConfig
from pipeline.evaluation.conformal import (
    OodReference,
    conformal_half_width,
    conformal_rank,
    split_check,
)
from pipeline.evaluation.evaluate import Survey, evaluate
from pipeline.evaluation.predictors import Predictor
from pipeline.geo.blocks import block_ids
from pipeline.evaluation.ridge import fit_ridge

INTERVAL_SCHEMES = ("spatial", "country", "random")


@dataclass(frozen=True)
class TargetResult:
    """What fitting one target produced.

    Attributes:
        metrics: ``targets.<target>`` of metrics.json (``schemes``, ``interval``, counts).
        model: ``<target>`` of model.json (ridge, interval half-width, OOD reference).
        predictions: long table of out-of-fold predictions, one row per cluster and scheme.
    """

    metrics: dict[str, Any]
    model: dict[str, Any]
    predictions: pd.DataFrame


def interval_spec(survey: Survey, oof: dict[str, dict[str, np.ndarray]], cfg: RegressionConfig,
                  seed: int, log: bool) -> dict[str, Any]:
    """Split-conformal interval from the most demanding scheme's out-of-fold residuals."""
    scheme = next((s for s in INTERVAL_SCHEMES if s in oof), None)
    if scheme is None:
        return {}
    residuals = survey.y - oof[scheme]["model"]
    return {"coverage": cfg.interval_coverage, "scheme": scheme,
            "half_width": conformal_half_width(residuals, cfg.interval_coverage),
            "split_check_coverage": split_check(residuals, cfg.interval_coverage, seed),
            "guaranteed": conformal_rank(residuals, cfg.interval_coverage) is not None,
            "units": "log" if log else "outcome"}


def fit_target(name: str, survey: Survey, predictors: dict[str, Predictor], ids: pd.Series,
               cfg: RegressionConfig, seed: int, log: bool) -> TargetResult:
    """Cross-validate every predictor, then fit the final model on all rows.

    Args:
        name: the target column.
        survey: the clusters (rows already restricted to usable ones).
        predictors: ``model`` (ridge on the features to save) and the baselines.
        ids: cluster ids, row-aligned.
        cfg, seed: the regression settings and the run's seed.
        log: whether ``survey.y`` is log(outcome).
    """
    schemes, oof = evaluate(survey, predictors, cfg, seed)
    x = predictors["model"].x
    blocks = block_ids(survey.lonlat[:, 0], survey.lonlat[:, 1], cfg.spatial_block_km)
    model = fit_ridge(x, survey.y, cfg.alphas, cfg.log_skewed, blocks)  # the map: new places
    interval = interval_spec(survey, oof, cfg, seed, log)
    ood = OodReference.fit(model.prep.transform(x, clip=False), cfg.ood_quantile)
    metrics = {"log": log, "n": int(len(survey.y)), "schemes": schemes, "interval": interval,
               "alpha": model.alpha, "features_used": len(model.prep.keep),
               "features_log1p": int(sum(model.prep.log1p))}
    saved = {**model.to_dict(), "log": log, "feature_dim": int(x.shape[1]), "n_train": len(x),
             "clusters_sha256": ids_hash(ids), "interval": interval, "ood": ood.to_dict()}
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
