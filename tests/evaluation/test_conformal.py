import numpy as np
import pytest

from pipeline.evaluation.conformal import OodReference, conformal_half_width, split_check


def test_half_width_is_the_conformal_quantile():
    r = np.arange(1, 10, dtype=float)  # n = 9: rank ceil(10 * 0.8) = 8
    assert conformal_half_width(r, 0.8) == 8.0
    assert conformal_half_width(-r, 0.8) == 8.0
    assert conformal_half_width(r, 0.99) == 9.0


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
