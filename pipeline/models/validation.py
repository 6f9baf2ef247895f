"""The train stage's validation: whole spatial blocks held out, and the network scored on them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import confusion_matrix, r2_score
from sklearn.model_selection import GroupShuffleSplit

from pipeline.errors import InputDataError
from pipeline.geo.blocks import block_ids

if TYPE_CHECKING:  # TensorFlow takes seconds to load: imported where used
    import keras


def split_train_val(lon: np.ndarray, lat: np.ndarray, block_km: float, validation_share: float,
                    seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of training and validation tiles, whole spatial blocks held out.

    Args:
        lon, lat: tile centres, WGS84 degrees, shape (n,).
        block_km: side of the square blocks (``model.validation_block_km``).
        validation_share: share of the blocks held out (``model.validation_share``).
        seed: which blocks are held out.

    Raises:
        InputDataError: every tile falls in one block.
    """
    groups = block_ids(lon, lat, block_km)
    if len(np.unique(groups)) < 2:
        raise InputDataError(
            f"all tiles fall in one {block_km} km block; lower "
            "model.validation_block_km so that some blocks can be held out for validation."
        )
    splitter = GroupShuffleSplit(n_splits=1, test_size=validation_share, random_state=seed)
    return next(splitter.split(np.zeros(len(groups)), groups=groups))


def evaluate_classes(model: keras.Model, val: Any, y_val: np.ndarray,
                     n_classes: int) -> dict[str, Any]:
    """Validation accuracy, per-class accuracy (recall) and the confusion matrix."""
    pred = np.argmax(model.predict(val, verbose=0), axis=1)
    cm = confusion_matrix(y_val, pred, labels=list(range(n_classes)))
    per_class = cm.diagonal() / np.maximum(cm.sum(axis=1), 1)
    return {"val_accuracy": float((pred == y_val).mean()),
            "val_balanced_accuracy": float(per_class.mean()),
            "per_class_accuracy": per_class.tolist(), "confusion_matrix": cm.tolist()}


def evaluate_radiance(model: keras.Model, val: Any, y_val: np.ndarray) -> dict[str, Any]:
    """Validation R² (sklearn), Spearman correlation and RMSE of the standardised target."""
    pred = model.predict(val, verbose=0).ravel()
    varies = np.ptp(pred) > 0 and np.ptp(y_val) > 0  # else Spearman is undefined: null
    return {"val_r2": float(r2_score(y_val, pred)),
            "val_spearman": float(spearmanr(y_val, pred).statistic) if varies else None,
            "val_rmse": float(np.sqrt(np.mean((pred - y_val) ** 2)))}
