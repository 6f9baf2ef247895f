"""CV+ intervals: equal to MAPIE's, honest on pure noise, measured on held-out blocks."""

import numpy as np
import pytest
from sklearn.model_selection import KFold

from pipeline.evaluation.coverage import coverage_record, held_out_intervals
from pipeline.evaluation.estimators import PovertyRidge
from pipeline.evaluation.evaluate import Survey
from pipeline.evaluation.folds import random_folds, spatial_folds
from pipeline.evaluation.intervals import (
    FoldSet,
    cv_plus_bounds,
    cv_plus_guarantee,
    cv_plus_rank,
)
from pipeline.evaluation.ridge import fold_models
from pipeline.evaluation.settings import CvSettings
from pipeline.evaluation.target import measured_intervals
from pipeline.geo.blocks import block_ids

N = 300


def test_cv_plus_bounds_by_hand():
    # two folds, four calibration clusters; one new place where fold 0 says 1.0, fold 1 says 2.0
    pred = np.array([[1.0], [2.0]])
    fold = np.array([0, 0, 1, 1])
    r = np.array([0.1, 0.4, 0.2, 0.3])
    # coverage 0.6: k = ceil(0.6 * 5) = 3; uppers 1.1 1.4 2.2 2.3 -> 2.2; lowers 0.9 0.6 1.8 1.7
    # -> the 3rd largest = 0.9
    lower, upper = cv_plus_bounds(pred, fold, r, 0.6)
    assert (lower[0], upper[0]) == pytest.approx((0.9, 2.2))
    assert cv_plus_rank(4, 0.6) == 3
    assert np.isinf(cv_plus_bounds(pred, fold, r, 0.9)[1]).all()  # k = 5 > n: no finite bound
    assert cv_plus_guarantee(1000, 5, 0.9) == pytest.approx(0.8 - 2 * 0.8 / 201)


def test_cv_plus_equals_mapie_cross_conformal_plus():
    mapie = pytest.importorskip("mapie.regression")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(150, 6))
    y = x[:, 0] + rng.normal(scale=0.5, size=150)
    x_new = rng.normal(size=(40, 6))
    cv = KFold(5, shuffle=True, random_state=0)
    reference = mapie.CrossConformalRegressor(PovertyRidge(), confidence_level=0.9,
                                              method="plus", cv=cv).fit_conformalize(x, y)
    _, ends = reference.predict_interval(x_new)
    folds = random_folds(150, 5, 0)
    models = fold_models(x, y, folds, PovertyRidge().alphas)
    lower, upper = FoldSet.fit(x, y, folds, models, normalised=False).bounds(x_new, 0.9)
    np.testing.assert_allclose(lower, ends[:, 0, 0], rtol=1e-10)
    np.testing.assert_allclose(upper, ends[:, 1, 0], rtol=1e-10)


def noise_world(seed):
    rng = np.random.default_rng(seed)
    lon, lat = rng.uniform(34, 34.5, N), rng.uniform(-14, -13.5, N)
    x = np.column_stack([np.sin(lon * 40 + k) + np.cos(lat * 30 - k) for k in range(20)])
    x += rng.normal(scale=0.3, size=x.shape)
    return x, rng.normal(size=N), np.column_stack([lon, lat]), rng.uniform(0.2, 5.0, N), \
        (rng.random(N) < 0.3).astype(float)


@pytest.mark.parametrize("weighted", [False, True])
def test_intervals_on_pure_noise_cover_at_their_nominal_level_on_held_out_blocks(weighted):
    rates = {}
    for seed in (0, 1, 2):
        x, y, lonlat, w, urban = noise_world(seed)
        weight = w if weighted else None
        outer = spatial_folds(lonlat[:, 0], lonlat[:, 1], 5, 8.0, seed)
        ends = held_out_intervals(
            x, y, outer, lambda rows: spatial_folds(lonlat[rows, 0], lonlat[rows, 1], 5, 8.0, seed),
            lambda rows: block_ids(lonlat[rows, 0], lonlat[rows, 1], 8.0), 0.9,
            tuple(np.logspace(-3, 6, 10)), True, weight, urban)
        for method, entry in coverage_record(ends, y, 0.9, weight).items():
            assert entry["held_out_clusters"] == N and entry["infinite_share"] == 0
            rates.setdefault(method, []).append(entry["held_out_coverage"])
    for method in ("naive_cv", "cv_plus", "normalised", "mondrian_urban"):
        mean = float(np.mean(rates[method]))  # 900 held-out clusters: sd of the share ~ 0.01
        assert 0.86 <= mean <= 0.95, (method, rates[method])


def test_measured_intervals_name_every_method_and_the_map_one():
    x, y, lonlat, _, urban = noise_world(3)
    survey = Survey(y=y, y_raw=y, lonlat=lonlat, urban=urban.astype(int).astype(object))
    cfg = CvSettings(folds=4, spatial_block_km=8.0, bootstrap=0)
    measured = measured_intervals(survey, x, "spatial", cfg, 0)
    assert set(measured) == {"naive_cv", "cv_plus", "normalised", "mondrian_urban"}
    assert all(m["nominal"] == 0.9 and m["mean_width"] > 0 for m in measured.values())
