import numpy as np
import pytest

from pipeline.evaluation.folds import random_folds, spatial_folds
from pipeline.evaluation.metrics import scores
from pipeline.regression import RidgeModel, cross_predict, fit_ridge


def test_tiny_alpha_equals_least_squares():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    y = x @ np.array([1.0, -2.0, 0.5, 0.0]) + 3.0 + rng.normal(scale=0.1, size=200)
    model = fit_ridge(x, y, alphas=[1e-10])
    design = np.column_stack([x, np.ones(len(x))])
    beta = np.linalg.lstsq(design, y, rcond=None)[0]
    np.testing.assert_allclose(model.predict(x), design @ beta, atol=1e-8)


def test_json_round_trip_predicts_the_same():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(50, 3)), rng.normal(size=50)
    model = fit_ridge(x, y, alphas=[0.1, 1, 10])
    again = RidgeModel.from_dict(model.to_dict())
    np.testing.assert_array_equal(again.predict(x), model.predict(x))


def test_noise_target_does_not_score():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(300, 50)), rng.normal(size=300)
    pred, alphas = cross_predict(x, y, random_folds(300, 5, 0), [1e-2, 1, 100, 1e4])
    assert scores(y, pred)["r2"] < 0.02
    assert len(alphas) == 5


def test_scores_match_hand_computation():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    pred = np.array([1.0, 2.0, 3.0, 5.0])
    s = scores(y, pred)
    assert s["r2"] == pytest.approx(1 - 1 / 5)
    assert s["rmse"] == pytest.approx(0.5)
    assert s["pearson_r2"] == pytest.approx(np.corrcoef(y, pred)[0, 1] ** 2)


def test_spatial_folds_keep_blocks_together():
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(34, 34.5, 400), rng.uniform(-14, -13.5, 400)
    folds = spatial_folds(lon, lat, 5, block_km=10, seed=0)
    block = np.floor(lat * 110.574 / 10) * 1e7 + np.floor(lon * 111.320 * np.cos(np.radians(lat.mean())) / 10)
    for train, test in folds:
        assert not set(block[train]) & set(block[test])
    assert sorted(np.concatenate([t for _, t in folds]).tolist()) == list(range(400))
