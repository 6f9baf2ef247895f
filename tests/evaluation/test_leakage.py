"""No leakage: noise scores nothing, training-only information cannot score on held-out folds."""

import numpy as np
import pytest

from pipeline.evaluation.evaluate import Survey, evaluate
from pipeline.evaluation.folds import random_folds, spatial_folds
from pipeline.evaluation.metrics import scores
from pipeline.evaluation.predictors import Predictor
from pipeline.evaluation.ridge import fit_ridge
from pipeline.evaluation.settings import CvSettings

N = 300


def settings(**extra) -> CvSettings:
    return CvSettings(folds=5, spatial_block_km=8, poor_percentiles=(50.0,), bootstrap=0, **extra)


def world(seed: int) -> tuple[Survey, dict[str, Predictor]]:
    """Spatially smooth features over two countries, and a target that is pure noise."""
    rng = np.random.default_rng(seed)
    lon, lat = rng.uniform(34, 34.5, N), rng.uniform(-14, -13.5, N)
    smooth = np.column_stack([np.sin(lon * 40 + k) + np.cos(lat * 30 - k) for k in range(40)])
    x = smooth + rng.normal(scale=0.3, size=(N, 40))
    y = rng.normal(size=N)
    survey = Survey(y=y, y_raw=y, lonlat=np.column_stack([lon, lat]),
                    country=np.where(lon < 34.25, "A", "B").astype(object),
                    urban=(rng.random(N) < 0.3).astype(int).astype(object))
    predictors = {"model": Predictor("ridge", x),
                  "nightlights_knn": Predictor("knn", np.exp(x[:, :2])),
                  "nightlights": Predictor("ridge", np.exp(x[:, :4])),
                  "region_mean": Predictor("group_mean", survey.country)}
    return survey, predictors


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("weighted", [False, True])
def test_pure_noise_target_scores_nothing_under_every_scheme(seed, weighted):
    survey, predictors = world(seed)
    if weighted:  # survey weights that vary 25-fold, as DHS cluster weights can
        weight = np.random.default_rng(seed + 10).uniform(0.2, 5.0, N)
        survey = Survey(**{**survey.__dict__, "weight": weight})
    metrics, oof = evaluate(survey, predictors, settings(buffer_km=2.0), seed)
    assert set(metrics) == {"random", "spatial", "country"}
    for scheme, subsets in metrics.items():
        for subset in ("all", "below_p50"):
            for name in predictors:
                assert subsets[subset][name]["r2"] <= 0.02, (scheme, subset, name)
                if weighted:
                    assert subsets[subset][name]["unweighted"]["r2"] <= 0.02
                assert subsets[subset][name]["spearman"] < 0.15, (scheme, subset, name)  # signed
        assert np.isfinite(oof[scheme]["model"]).all()


def test_feature_copying_the_target_in_training_folds_only_cannot_score():
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(34, 34.5, N), rng.uniform(-14, -13.5, N)
    y = rng.normal(size=N)
    noise = rng.normal(size=(N, 10))
    for folds in (random_folds(N, 5, 0), spatial_folds(lon, lat, 5, 8, 0, buffer_km=2.0)):
        pred = np.full(N, np.nan)
        for train, test in folds:
            x = noise.copy()
            x[train, 0] = y[train]  # the leak: a perfect copy of the target, training rows only
            model = fit_ridge(x[train], y[train], np.logspace(-3, 6, 10))
            assert abs(model.predict(x[train])[0] - y[train][0]) < 0.05  # it did learn the copy
            pred[test] = model.predict(x[test])
        assert scores(y, pred)["r2"] < 0.0


@pytest.mark.slow
def test_the_same_folds_serve_every_predictor():
    survey, predictors = world(4)
    survey = Survey(**{**survey.__dict__, "y": survey.lonlat[:, 0] * 10 + np.random.default_rng(
        0).normal(scale=0.2, size=N)})
    metrics, oof = evaluate(survey, predictors, settings(), 0)
    entry = metrics["spatial"]["all"]
    assert entry["folds"] == len(set(oof["spatial"]["fold"])) == 5
    assert entry["n"] == N and len(entry["alphas"]) == 5
    assert set(metrics["random"]) >= {"all", "urban", "rural", "below_p50"}
    assert metrics["country"]["all"]["folds"] == 2
    # country mean is informative within-country on random folds, useless across countries
    assert metrics["random"]["all"]["region_mean"]["r2"] > 0.5
    assert metrics["country"]["all"]["region_mean"]["r2"] < 0
