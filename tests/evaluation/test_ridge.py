import numpy as np
import pytest

from pipeline.evaluation.folds import random_folds, spatial_folds
from pipeline.evaluation.metrics import scores
from pipeline.evaluation.ridge import RidgeModel, cross_predict, fit_ridge


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


def test_grouped_alpha_matches_a_brute_force_grouped_search():
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GroupKFold

    from pipeline.evaluation.ridge import INNER_FOLDS, grouped_alpha

    rng = np.random.default_rng(3)
    z = rng.normal(size=(120, 8))
    y = z @ rng.normal(size=8) + rng.normal(scale=2.0, size=120)
    groups = np.repeat(np.arange(12), 10)
    alphas = [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0]
    errors = []
    for alpha in alphas:
        sse = 0.0
        for train, test in GroupKFold(INNER_FOLDS).split(z, y, groups):
            fitted = Ridge(alpha=alpha).fit(z[train], y[train])
            sse += float(((fitted.predict(z[test]) - y[test]) ** 2).sum())
        errors.append(sse)
    assert grouped_alpha(z, y, alphas, groups) == alphas[int(np.argmin(errors))]


def place_memorising_world(seed: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clusters in blocks: each block has its own feature signature and its own outcome offset
    (neighbours share tiles and conditions); one feature carries the signal that generalises."""
    rng = np.random.default_rng(seed)
    blocks = np.repeat(np.arange(60), 8)
    signature = rng.normal(size=(60, 60))[blocks]
    signal = rng.normal(size=len(blocks))
    x = np.column_stack([signal, signature + rng.normal(scale=0.3, size=signature.shape)])
    y = signal + rng.normal(scale=0.8, size=60)[blocks] + rng.normal(scale=0.3, size=len(blocks))
    return x, y, blocks


def test_grouped_alpha_does_not_memorise_places_that_held_out_blocks_lack():
    x, y, blocks = place_memorising_world()
    alphas = [10.0**k for k in range(-3, 7)]
    folds = [(np.flatnonzero(blocks % 5 != k), np.flatnonzero(blocks % 5 == k)) for k in range(5)]
    loo, loo_alphas = cross_predict(x, y, folds, alphas)
    grouped, grouped_alphas = cross_predict(x, y, folds, alphas, groups=blocks)
    assert min(grouped_alphas) > max(loo_alphas)
    assert scores(y, grouped)["r2"] > scores(y, loo)["r2"] + 0.05
