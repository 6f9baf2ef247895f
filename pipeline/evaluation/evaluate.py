"""Every predictor under every CV scheme and subset, on the very same folds.

``metrics[scheme][subset]`` holds ``n``, ``folds``, ``alphas`` (the image model's alpha per fold),
one score dict (see :mod:`pipeline.evaluation.metrics`) per predictor (``model``,
``nightlights``, ...) and ``model_vs``: for each baseline, the model's R² minus the baseline's
with a paired bootstrap interval (:func:`~pipeline.evaluation.metrics.paired_gain`). Subsets:

- ``all``: every cluster;
- ``below_pNN``: the clusters at or below the NN-th percentile of the outcome; every predictor
  is refitted and cross-validated within the subset (Jean et al. 2016, Fig. 4);
- ``urban`` / ``rural``: the all-cluster out-of-fold predictions scored within each group
  (not refitted), when the survey has an urban column;
- ``districts``: the all-cluster out-of-fold predictions and the observed values averaged per
  district, then scored (district-level evaluation), when clusters carry a district.

A scheme that cannot run (``country`` with one country) is recorded as ``{"skipped": reason}``,
and so is a subset of fewer than 20 clusters.

With cluster weights (``Survey.weight``) every predictor is fitted weighted, every score is the
weighted one with the unweighted beside it (:func:`~pipeline.evaluation.metrics.scores`), the
percentile subsets are cut at weighted percentiles, and district means are weighted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from pipeline.evaluation.folds import Folds, country_folds, fold_of, random_folds, spatial_folds
from pipeline.evaluation.metrics import paired_gain, scores, weighted_percentile
from pipeline.evaluation.predictors import Predictor
from pipeline.evaluation.settings import CvSettings
from pipeline.geo.blocks import block_ids

MIN_CLUSTERS = 20  # an r² over fewer clusters is noise; such subsets are reported as skipped


@dataclass(frozen=True)
class Survey:
    """The clusters being evaluated, row-aligned.

    Attributes:
        y: the target (logged where configured), (n,).
        y_raw: the outcome in its own units (percentile subsets are cut on it), (n,).
        lonlat: (n, 2) WGS84 degrees.
        country, urban, district: (n,) object arrays, or None when the survey has none.
        weight: (n,) positive cluster weights, or None (every cluster alike).
    """

    y: np.ndarray
    y_raw: np.ndarray
    lonlat: np.ndarray
    country: np.ndarray | None = None
    urban: np.ndarray | None = None
    district: np.ndarray | None = None
    weight: np.ndarray | None = None

    def weights(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray | None:
        return None if self.weight is None else self.weight[rows]


def make_folds(scheme: str, survey: Survey, rows: np.ndarray, cfg: CvSettings,
               seed: int) -> Folds | str:
    """The folds of ``scheme`` over ``rows``, or the reason it cannot run."""
    lon, lat = survey.lonlat[rows, 0], survey.lonlat[rows, 1]
    if scheme == "spatial":
        return spatial_folds(lon, lat, cfg.folds, cfg.spatial_block_km, seed, cfg.buffer_km)
    if scheme == "country":
        if survey.country is None:
            return "the survey has no country column (data.survey.country)"
        folds = country_folds(survey.country[rows])
        return folds if len(folds) >= 2 else "fewer than 2 countries"
    return random_folds(len(rows), cfg.folds, seed)


def subsets(y_raw: np.ndarray, percentiles: tuple[float, ...],
            weight: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Row masks: all clusters, and those at or below each (weighted) percentile of the
    outcome."""
    out = {"all": np.ones(len(y_raw), dtype=bool)}
    for p in sorted(percentiles):
        if p < 100:
            out[f"below_p{p:g}"] = y_raw <= weighted_percentile(y_raw, p, weight)
    return out


def score_all(y: np.ndarray, preds: dict[str, np.ndarray], cfg: CvSettings,
              seed: int, weight: np.ndarray | None = None) -> dict[str, Any]:
    """Scores of each predictor over the rows every predictor predicted, and the model's gain
    over each baseline (``model_vs``); weighted when ``weight`` (n,) is given."""
    tested = np.all([np.isfinite(p) for p in preds.values()], axis=0)
    y = y[tested]
    w = None if weight is None else weight[tested]
    entry = {"n": int(tested.sum()), **{name: scores(y, p[tested], cfg.bootstrap, seed, w)
                                        for name, p in preds.items()}}
    if "model" in preds:
        entry["model_vs"] = {name: paired_gain(y, preds["model"][tested], p[tested],
                                               cfg.bootstrap, seed, w)
                             for name, p in preds.items() if name != "model"}
    return entry


def inner_groups(scheme: str, survey: Survey, rows: np.ndarray,
                 cfg: CvSettings) -> np.ndarray | None:
    """Spatial blocks of ``rows`` for choosing alpha / k inside spatial and country folds
    (None for random folds: leave-one-out then)."""
    if scheme == "random":
        return None
    return block_ids(survey.lonlat[rows, 0], survey.lonlat[rows, 1], cfg.spatial_block_km)


def evaluate_rows(survey: Survey, predictors: dict[str, Predictor], rows: np.ndarray,
                  folds: Folds, cfg: CvSettings, seed: int,
                  groups: np.ndarray | None = None) -> tuple[dict, dict]:
    """Cross-validate every predictor on ``folds`` of ``rows``: (entry, predictions).

    ``groups`` (len(rows),): spatial blocks for the inner choice of alpha / k, or None.
    """
    y, w = survey.y[rows], survey.weights(rows)
    preds, alphas = {}, []
    for name, predictor in predictors.items():
        preds[name], params = predictor.rows(rows).cross_predict(y, folds, cfg.alphas,
                                                                 cfg.log_skewed, groups, w)
        if name == "model":
            alphas = params
    entry = score_all(y, preds, cfg, seed, w)
    entry.update(alphas=alphas, folds=len(folds),
                 train_sizes=[int(len(train)) for train, _ in folds])
    return entry, preds


URBAN_CODES = {"1": 1.0, "0": 0.0, "1.0": 1.0, "0.0": 0.0, "true": 1.0, "false": 0.0,
               "u": 1.0, "r": 0.0, "urban": 1.0, "rural": 0.0}
"""How urban columns are coded: 1/0, True/False, U/R (DHS), urban/rural; any case."""


def urban_flags(values: np.ndarray) -> np.ndarray | str:
    """1.0 (urban), 0.0 (rural) or NaN (missing) per cluster; or, when some value is none of
    :data:`URBAN_CODES`, the reason the urban/rural subsets are skipped."""
    text = pd.Series(values, dtype=object)
    codes = text.astype(str).str.strip().str.lower().where(text.notna())
    unknown = sorted(set(codes.dropna()) - set(URBAN_CODES))
    if unknown:
        return (f"the urban column has values other than 1/0, U/R or urban/rural: "
                f"{unknown[:5]}; recode the column to 1 (urban) and 0 (rural)")
    return codes.map(URBAN_CODES).to_numpy(dtype=np.float64)


def group_entries(survey: Survey, preds: dict[str, np.ndarray], cfg: CvSettings,
                  seed: int) -> dict[str, Any]:
    """Urban / rural scores and district-level scores of the all-cluster predictions."""
    out: dict[str, Any] = {}
    urban = urban_flags(survey.urban) if survey.urban is not None else None
    if isinstance(urban, str):
        out["urban"] = out["rural"] = {"skipped": urban}
    elif urban is not None:
        for name, mask in (("urban", urban == 1), ("rural", urban == 0)):
            if mask.sum() >= 3:
                out[name] = score_all(survey.y[mask], {k: v[mask] for k, v in preds.items()},
                                      cfg, seed, survey.weights(mask))
    if survey.district is not None:
        means, weight = district_means(survey, preds)
        if len(means) >= 3:
            out["districts"] = score_all(means["observed"].to_numpy(),
                                         {k: means[k].to_numpy() for k in preds}, cfg, seed,
                                         weight)
    return out


def district_means(survey: Survey,
                   preds: dict[str, np.ndarray]) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Observed and predicted values averaged per district (weighted by the cluster weights,
    when there are), and each district's total weight (None without weights)."""
    frame = pd.DataFrame({"district": survey.district, "observed": survey.y, **preds})
    if survey.weight is None:
        return frame.dropna(subset=["district"]).groupby("district").mean(), None
    frame = frame.assign(_w=survey.weight).dropna(subset=["district"])
    columns = ["observed", *preds]
    weighted = frame[columns].mul(frame["_w"], axis=0).assign(
        district=frame["district"], _w=frame["_w"]).groupby("district").sum()
    means = weighted[columns].div(weighted["_w"], axis=0)
    return means, weighted["_w"].to_numpy(dtype=np.float64)


def evaluate(survey: Survey, predictors: dict[str, Predictor], cfg: CvSettings,
             seed: int) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    """Metrics per scheme and subset, and each scheme's all-cluster out-of-fold predictions.

    The many small linear-algebra problems run with one BLAS thread: on a busy machine the
    threads of a few-hundred-row decomposition mostly wait for each other (10x slower).

    Returns:
        (metrics, oof): ``oof[scheme]`` maps ``fold`` and each predictor name to (n,) arrays.
    """
    with threadpool_limits(1):
        return _evaluate(survey, predictors, cfg, seed)


def _evaluate(survey: Survey, predictors: dict[str, Predictor], cfg: CvSettings,
              seed: int) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    metrics: dict[str, Any] = {}
    oof: dict[str, dict[str, np.ndarray]] = {}
    for scheme in cfg.schemes:
        metrics[scheme] = {}
        for name, mask in subsets(survey.y_raw, cfg.poor_percentiles, survey.weight).items():
            rows = np.flatnonzero(mask)
            folds = make_folds(scheme, survey, rows, cfg, seed)
            if isinstance(folds, str) and name == "all":
                metrics[scheme] = {"skipped": folds}
                break
            if isinstance(folds, str):
                metrics[scheme][name] = {"n": int(len(rows)), "skipped": folds}
                continue
            if len(rows) < max(MIN_CLUSTERS, 2 * len(folds)) or min(len(t) for t, _ in folds) < 2:
                metrics[scheme][name] = {"n": int(len(rows)), "skipped": (
                    f"fewer than {MIN_CLUSTERS} clusters, or than 2 per fold")}
                continue
            groups = inner_groups(scheme, survey, rows, cfg)
            entry, preds = evaluate_rows(survey, predictors, rows, folds, cfg, seed, groups)
            metrics[scheme][name] = entry
            if name == "all":
                metrics[scheme].update(group_entries(survey, preds, cfg, seed))
                oof[scheme] = {"fold": fold_of(folds, len(rows)), **preds}
    return metrics, oof
