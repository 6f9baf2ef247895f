"""The aggregate stage's helpers."""

import numpy as np

from pipeline.stages.aggregate import nightlight_stats


def test_nightlight_stats_ignore_nan_and_empty():
    radiance = np.array([0.0, 2.0, np.nan, 6.0])
    members = np.empty(3, dtype=object)
    members[:] = [np.array([0, 1, 2]), np.array([3]), np.array([], dtype=int)]
    mean, peak = nightlight_stats(radiance, members)
    assert mean[:2].tolist() == [1.0, 6.0] and peak[:2].tolist() == [2.0, 6.0]
    assert np.isnan(mean[2]) and np.isnan(peak[2])
