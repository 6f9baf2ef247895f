"""Nightlight intensity classes: thresholds (gmm, quantile, fixed), classes, balancing."""

import numpy as np
import pytest

from pipeline.errors import InputDataError
from pipeline.evaluation.light_classes import (
    assign_classes,
    balance_mask,
    check_classes,
    class_thresholds,
)
from pipeline.geo.nightlights import intensity


def test_gmm_separates_three_well_separated_groups():
    rng = np.random.default_rng(0)
    dark = rng.normal(0.0, 0.05, 600)
    mid = np.expm1(rng.normal(1.5, 0.1, 300))
    bright = np.expm1(rng.normal(3.5, 0.1, 100))
    radiance = np.concatenate([dark, mid, bright])
    thresholds = class_thresholds(radiance, "gmm", 3, seed=0)
    assert len(thresholds) == 2
    assert 0.1 < thresholds[0] < np.expm1(1.2)
    assert np.expm1(1.8) < thresholds[1] < np.expm1(3.2)
    labels = assign_classes(radiance, thresholds)
    assert np.bincount(labels).tolist() == [600, 300, 100]


def test_quantile_classes_have_equal_counts():
    radiance = np.arange(300, dtype=float)
    labels = assign_classes(radiance, class_thresholds(radiance, "quantile", 3, seed=0))
    assert np.bincount(labels).tolist() == [100, 100, 100]


def test_outside_raster_gets_minus_one():
    labels = assign_classes(np.array([np.nan, 0.0, 5.0]), np.array([1.0, 3.0]))
    assert labels.tolist() == [-1, 0, 2]


def test_fixed_thresholds_are_used_as_given():
    radiance = np.array([0.0, 0.4, 0.5, 2.0, 7.0, np.nan])
    thresholds = class_thresholds(radiance, "fixed", 3, seed=0, fixed=(0.5, 5.0))
    assert thresholds.tolist() == [0.5, 5.0]
    assert assign_classes(radiance, thresholds).tolist() == [0, 0, 1, 1, 2, -1]


def test_balancing_subsamples_only_the_dominant_dark_class():
    labels = np.array([0] * 70 + [1] * 20 + [2] * 10 + [-1] * 5)
    ok = balance_mask(labels, True, 1.5, seed=0)
    assert ok[labels == 0].sum() == 30 and ok[labels == 1].all() and ok[labels == 2].all()
    assert not ok[labels == -1].any()
    assert (balance_mask(labels, True, 1.5, seed=0) == ok).all()  # seeded
    assert balance_mask(labels, False, 1.0, seed=0).sum() == 100
    assert balance_mask(labels, True, 5.0, seed=0).sum() == 100  # 70 <= 5 * 20: nothing cut


def test_quantile_classes_keep_tied_tiles_in_the_lower_class():
    rng = np.random.default_rng(0)
    lit = rng.lognormal(0, 1, 300)
    radiance = np.r_[np.zeros(700), lit]  # most rural VIIRS tiles read 0 after clipping
    thresholds = class_thresholds(radiance, "quantile", 3, seed=0)
    labels = assign_classes(radiance, thresholds)
    assert np.bincount(labels).tolist() == [700, 150, 150]  # the lit tiles split evenly
    assert (labels[:700] == 0).all()
    assert thresholds.tolist() == [lit.min(), np.sort(lit)[150]]
    tied = np.array([1.0, 2.0, 3.0, 3.0, 3.0, 3.0, 3.0, 4.0, 5.0])
    assert assign_classes(tied, class_thresholds(tied, "quantile", 3, seed=0)).tolist() == [
        0, 0, 1, 1, 1, 1, 1, 2, 2]


def test_intensity_is_log1p_of_radiance_clipped_at_zero():
    np.testing.assert_allclose(intensity(np.array([-3.0, 0.0, np.e - 1, np.nan])),
                               [0.0, 0.0, 1.0, np.nan])


def test_an_empty_class_is_refused_naming_the_method_and_what_else_to_try(tmp_path):
    check_classes(np.array([5, 1, 2]), np.array([1.0, 2.0]), "gmm", 3, tmp_path / "nl.tif")
    with pytest.raises(InputDataError) as info:
        check_classes(np.array([5, 0, 2]), np.array([1.0, 2.5]), "quantile", 3,
                      tmp_path / "nl.tif")
    assert str(info.value) == (
        f"{tmp_path / 'nl.tif'}: labels.method quantile with labels.n_classes=3 and thresholds "
        "[1, 2.5] leaves class(es) [1] without tiles (class counts [5, 0, 2]), so the model "
        "could not learn them. Lower labels.n_classes, use labels.method: gmm, or fixed with "
        "labels.thresholds.")
