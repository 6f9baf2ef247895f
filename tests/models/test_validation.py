"""The train stage's validation split (whole spatial blocks) and its scores."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.errors import InputDataError
from pipeline.geo.blocks import block_ids
from pipeline.models.validation import evaluate_classes, evaluate_radiance, split_train_val


def test_validation_holds_out_whole_blocks() -> None:
    rng = np.random.default_rng(0)
    lon, lat = 35 + rng.uniform(0, 0.1, 400), -13 + rng.uniform(0, 0.1, 400)
    train, val = split_train_val(lon, lat, 2.0, 0.2, seed=0)
    blocks = block_ids(lon, lat, 2.0)
    assert set(blocks[train]).isdisjoint(blocks[val])
    assert len(train) + len(val) == 400 and 0.1 < len(val) / 400 < 0.35
    again = split_train_val(lon, lat, 2.0, 0.2, seed=0)
    assert np.array_equal(again[1], val)  # seeded


def test_one_block_for_all_tiles_is_refused_naming_the_setting() -> None:
    lon, lat = np.array([35.0, 35.001, 35.002]), np.array([-13.0, -13.001, -13.0])
    with pytest.raises(InputDataError, match="one 5.0 km block; lower model.validation_block_km"):
        split_train_val(lon, lat, 5.0, 0.2, seed=0)


class Fixed:
    """A stand-in network whose predictions are given."""

    def __init__(self, outputs: np.ndarray) -> None:
        self.outputs = outputs

    def predict(self, val, verbose=0):  # noqa: ANN001, ANN201 - keras.Model.predict's shape
        return self.outputs


def test_class_scores_by_hand() -> None:
    y_val = np.array([0, 0, 1, 2])
    probabilities = np.eye(3)[[0, 1, 1, 1]]  # predicts 0, 1, 1, 1
    scores = evaluate_classes(Fixed(probabilities), None, y_val, 3)
    assert scores["val_accuracy"] == 0.5
    assert scores["per_class_accuracy"] == [0.5, 1.0, 0.0]
    assert scores["val_balanced_accuracy"] == pytest.approx(0.5)
    assert scores["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]


def test_radiance_scores_by_hand() -> None:
    y_val = np.array([0.0, 1.0, 2.0, 3.0])
    scores = evaluate_radiance(Fixed(np.array([[0.0], [1.0], [2.0], [5.0]])), None, y_val)
    assert scores["val_rmse"] == pytest.approx(1.0)  # sqrt(4 / 4)
    assert scores["val_r2"] == pytest.approx(1 - 4 / 5)
    assert scores["val_spearman"] == pytest.approx(1.0)
    flat = evaluate_radiance(Fixed(np.ones((4, 1))), None, y_val)
    assert flat["val_spearman"] is None
