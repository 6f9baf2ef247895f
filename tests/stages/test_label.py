import numpy as np

from pipeline.stages.label import assign_classes, class_thresholds


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
