"""What the network learns per tile, and the balancing class weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.models.targets import balanced_class_weight, training_targets


def test_class_targets_are_the_labels() -> None:
    table = pd.DataFrame({"label": [0, 2, 1], "label_radiance": [0.0, 9.0, 1.0]})
    y, scaling = training_targets(table, "classes", np.array([0, 1]))
    assert y.dtype == np.int64 and y.tolist() == [0, 2, 1] and scaling == {}


def test_radiance_targets_are_standardised_on_the_training_tiles() -> None:
    radiance = np.array([0.0, np.e - 1, np.e ** 3 - 1, -2.0])  # log1p: 0, 1, 3, 0 (clipped)
    table = pd.DataFrame({"label": [0, 0, 0, 0], "label_radiance": radiance})
    y, scaling = training_targets(table, "radiance", np.array([0, 1]))
    assert scaling == pytest.approx({"log1p_radiance_mean": 0.5, "log1p_radiance_sd": 0.5})
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, [-1.0, 1.0, 5.0, -1.0], rtol=1e-6)


def test_balanced_class_weight_is_inverse_to_frequency() -> None:
    weights = balanced_class_weight(np.array([0, 0, 0, 1, 2, 2]))
    assert weights == pytest.approx({0: 6 / (3 * 3), 1: 6 / (3 * 1), 2: 6 / (3 * 2)})
