import numpy as np
import pytest

from pipeline.evaluation.conformal import (
    OodReference,
    conformal_half_width,
    conformal_rank,
    split_check,
)


def test_half_width_is_the_conformal_quantile():
    r = np.arange(1, 10, dtype=float)  # n = 9: rank ceil(10 * 0.8) = 8
    assert conformal_half_width(r, 0.8) == 8.0
    assert conformal_half_width(-r, 0.8) == 8.0
    assert conformal_half_width(r, 0.99) == 9.0  # rank 10 > n: the largest, not guaranteed
    assert conformal_rank(r, 0.8) == 8
    assert conformal_rank(r, 0.99) is None
    assert conformal_rank(np.r_[r, np.nan], 0.9) == 9  # NaN residuals are not counted


def test_intervals_cover_new_points_at_the_stated_rate():
    rng = np.random.default_rng(0)
    calib = rng.standard_t(4, size=500)
    half = conformal_half_width(calib, 0.9)
    fresh = rng.standard_t(4, size=20000)
    assert np.mean(np.abs(fresh) <= half) == pytest.approx(0.9, abs=0.02)
    assert split_check(calib, 0.9, seed=1) == pytest.approx(0.9, abs=0.03)


def test_ood_flags_far_points_and_few_training_points():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(300, 12))
    ref = OodReference.fit(z, quantile=0.99)
    assert ref.flag(z).mean() <= 0.02  # training clusters are in distribution
    far = rng.normal(size=(20, 12)) + 8.0
    assert ref.flag(far).all()
    near = z[:20] + rng.normal(scale=0.05, size=(20, 12))
    assert not ref.flag(near).any()
    again = OodReference(**ref.to_dict())
    np.testing.assert_allclose(again.distance(far), ref.distance(far))


def test_ood_flags_a_place_off_the_principal_axes():
    # Training clusters vary along 3 directions of 12; a place far out along another direction
    # projects onto the axes near the training cloud but must still be flagged.
    rng = np.random.default_rng(2)
    basis = np.linalg.qr(rng.normal(size=(12, 12)))[0]
    z = rng.normal(size=(300, 3)) @ basis[:, :3].T * 3 + rng.normal(scale=0.01, size=(300, 12))
    ref = OodReference.fit(z, quantile=0.99)
    assert len(ref.components) == 3
    off_axis = z[:5] + 4.0 * basis[:, 5]
    assert ref.flag(off_axis).all()
    assert not ref.flag(z[:5] + 0.001 * basis[:, 5]).any()


def test_ood_sees_a_feature_beyond_the_training_range_that_prediction_clips():
    from pipeline.evaluation.apply import model_outputs
    from pipeline.evaluation.ridge import fit_ridge

    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 6))
    y = x @ rng.normal(size=6) + rng.normal(scale=0.1, size=200)
    model = fit_ridge(x, y, (0.1, 1.0, 10.0))
    spec = {**model.to_dict(), "log": False,
            "ood": OodReference.fit(model.prep.transform(x, clip=False), 0.99).to_dict()}
    bright, edge = x[:4].copy(), x[:4].copy()
    bright[:, 0] = 50 * x[:, 0].max()  # a city brighter than any surveyed cluster
    edge[:, 0] = x[:, 0].max()
    out = model_outputs(bright, "y", spec)
    assert out["ood_y"].all()
    np.testing.assert_allclose(out["pred_y"], model_outputs(edge, "y", spec)["pred_y"])
    assert not model_outputs(x[:4], "y", spec)["ood_y"].any()
