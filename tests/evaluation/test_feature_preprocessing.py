"""Preprocessing fitted inside the fold, on tables like the ones users bring."""

import json

import numpy as np
import pytest

from pipeline.errors import InputDataError
from pipeline.evaluation.folds import random_folds
from pipeline.evaluation.metrics import scores
from pipeline.evaluation.preprocess import Preprocessor
from pipeline.evaluation.ridge import (
    MODEL_FORMAT,
    RidgeModel,
    cross_predict,
    fit_ridge,
    load_models,
    save_models,
)

ALPHAS = np.logspace(-3, 6, 10)


def messy_table(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Radiance-like heavy tails, near-empty histogram bins, collinear copies, NaNs, a constant."""
    rng = np.random.default_rng(seed)
    wealth = rng.normal(size=n)
    radiance = np.exp(2.0 * wealth + rng.normal(scale=0.5, size=n))  # lognormal, skew >> 2
    bins = rng.poisson(np.exp(wealth)[:, None] * np.linspace(0.2, 2, 8), size=(n, 8)).astype(float)
    sparse = np.zeros((n, 30))
    sparse[rng.integers(0, n, 2), rng.integers(0, 30, 2)] = 50.0  # almost always zero
    collinear = np.column_stack([wealth + rng.normal(scale=0.3, size=n)] * 5) + rng.normal(
        scale=1e-3, size=(n, 5))
    x = np.column_stack([radiance, bins, sparse, collinear, np.full(n, 7.0)])
    x[rng.random(x.shape) < 0.02] = np.nan
    y = wealth + rng.normal(scale=0.4, size=n)
    return x, y


def test_skewed_columns_are_logged_and_unsupported_ones_dropped():
    x, _ = messy_table(400, 0)
    prep = Preprocessor.fit(x)
    assert prep.log1p[prep.keep.index(0)]  # radiance
    assert 44 not in prep.keep  # the constant column
    assert not set(range(9, 39)) & set(prep.keep)  # the near-empty bins
    z = prep.transform(x)
    assert np.isfinite(z).all()
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-9)


def test_ridge_stays_sound_on_messy_tables():
    x, y = messy_table(400, 1)
    pred, alphas = cross_predict(x, y, random_folds(400, 5, 0), ALPHAS)
    assert scores(y, pred)["r2"] > 0.7
    assert min(alphas) >= 1e-3 and max(alphas) <= 1e6


def test_log1p_recovers_a_signal_in_the_log_of_a_heavy_tailed_column():
    rng = np.random.default_rng(5)
    radiance = np.exp(rng.normal(scale=1.5, size=(400, 3)))
    y = np.log1p(radiance[:, 0]) + rng.normal(scale=0.2, size=400)
    folds = random_folds(400, 5, 0)
    logged = scores(y, cross_predict(radiance, y, folds, ALPHAS)[0])["r2"]
    raw = scores(y, cross_predict(radiance, y, folds, ALPHAS, log_skewed=False)[0])["r2"]
    assert logged > 0.9 and logged > raw + 0.1


def test_transform_of_unseen_rows_uses_training_statistics_only():
    x, y = messy_table(200, 2)
    model = fit_ridge(x[:150], y[:150], ALPHAS)
    changed = x.copy()
    changed[151:] *= 100.0  # other held-out rows change wildly
    np.testing.assert_array_equal(model.predict(x[150:151]), model.predict(changed[150:151]))


def test_model_json_round_trip_and_pre_release_models(tmp_path):
    x, y = messy_table(120, 3)
    model = fit_ridge(x, y, ALPHAS)
    save_models(tmp_path / "model.json", {"y": {**model.to_dict(), "log": False}})
    saved = json.loads((tmp_path / "model.json").read_text())["y"]
    assert next(iter(saved)) == "format_version" and saved["format_version"] == MODEL_FORMAT
    loaded = load_models(tmp_path / "model.json")["y"]
    assert loaded == saved
    np.testing.assert_array_equal(RidgeModel.from_dict(loaded).predict(x), model.predict(x))
    # 0.1 pre-releases: no format_version; plain standardisation, or no training range
    plain = {"mean": [1.0, 2.0], "scale": [2.0, 4.0], "coef": [1.0, -1.0], "intercept": 0.5,
             "alpha": 1.0}
    unclipped = {**plain, "keep": [0, 1], "fill": [0.0, 0.0], "log1p": [False, False]}
    (tmp_path / "old.json").write_text(json.dumps({"plain": plain, "unclipped": unclipped}))
    old = load_models(tmp_path / "old.json")
    for name in ("plain", "unclipped"):
        assert old[name]["format_version"] == MODEL_FORMAT
        predict = RidgeModel.from_dict(old[name]).predict
        assert predict(np.array([[3.0, 6.0]]))[0] == pytest.approx(0.5)
        assert predict(np.array([[1e6, 2.0]]))[0] == pytest.approx(0.5 + (1e6 - 1.0) / 2.0)


def test_a_model_json_from_a_newer_version_is_refused(tmp_path):
    (tmp_path / "model.json").write_text(json.dumps({"y": {"format_version": MODEL_FORMAT + 1}}))
    with pytest.raises(InputDataError, match=f"the y model has format_version {MODEL_FORMAT + 1};"
                                             f" this poverty-pipeline reads up to {MODEL_FORMAT}"):
        load_models(tmp_path / "model.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InputDataError, match=r"bad\.json: cannot read the saved models"):
        load_models(tmp_path / "bad.json")


def test_held_out_rows_are_clipped_to_the_training_range():
    """A feature that barely varies in training cannot blow up a held-out prediction."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(200, 5))
    x[:, 4] = 0.0
    x[:6, 4] = rng.uniform(0, 1e-3, 6)  # fires faintly on a few training rows
    y = x[:, 0] + 0.1 * x[:, 4] * 1e3 + rng.normal(scale=0.1, size=200)
    model = fit_ridge(x, y, ALPHAS)
    z_train = model.prep.transform(x)
    unseen = x[:1].copy()
    unseen[0, 4] = 5.0  # 5000 x the largest training value
    z = model.prep.transform(unseen)
    assert np.abs(z).max() <= np.abs(z_train).max() + 1e-9
    span = model.predict(x)
    assert span.min() - 1 < model.predict(unseen)[0] < span.max() + 1
