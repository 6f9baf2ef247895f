"""The survey side of an evaluation, from the aggregated cluster table.

What ``fit`` (and the demo's truth check) derive from ``aggregate/clusters.parquet``: the
outcome of a target (logged where configured), the designs of the nightlights and region
baselines, the predictors to compare on shared folds, and the :class:`Survey` they are scored on.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from pipeline.evaluation.evaluate import Survey
from pipeline.evaluation.predictors import Predictor


def nightlight_design(clusters: pd.DataFrame) -> np.ndarray:
    """Baseline features: mean and max radiance around the cluster, raw and log(1 + x)."""
    nl = np.clip(clusters[["nl_mean", "nl_max"]].to_numpy(dtype=np.float64), 0.0, None)
    return np.nan_to_num(np.column_stack([nl, np.log1p(nl)]))


def target_values(clusters: pd.DataFrame, column: str,
                  log: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(y, keep): the outcome ``column``, logged when ``log``; keep is False where y is
    unusable (not finite, or not > 0 when logged)."""
    raw = clusters[column].to_numpy(dtype=np.float64)
    if not log:
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
                     baselines: Iterable[str]) -> dict[str, Predictor]:
    """The image model and the ``baselines`` (names) that have features, for the rows of
    ``sub``."""
    nl = nightlight_design(sub)
    candidates = {
        "nightlights": Predictor("ridge", nl),
        "nightlights_knn": Predictor("knn", nl[:, 2:]),
        "region_mean": Predictor("group_mean", region_labels(sub)),
        **{name: Predictor("ridge", x) for name, x in features.items() if name != "model"},
    }
    chosen = {name: candidates[name] for name in baselines
              if name in candidates and candidates[name].has_features}
    return {"model": Predictor("ridge", features["model"]), **chosen}


def survey_of(sub: pd.DataFrame, y: np.ndarray, column: str,
              weight: np.ndarray | None = None) -> Survey:
    """The :class:`Survey` of the rows of ``sub``: ``y`` as modelled, the raw ``column``, the
    coordinates, country, urban and district where present, and the cluster weights."""
    return Survey(y=y, y_raw=sub[column].to_numpy(dtype=np.float64),
                  lonlat=sub[["lon", "lat"]].to_numpy(dtype=np.float64),
                  country=optional_column(sub, "country"), urban=optional_column(sub, "urban"),
                  district=optional_column(sub, "district"), weight=weight)
