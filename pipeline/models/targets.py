"""What the network learns per tile (a nightlight class or its standardised log radiance) and the
class weights that balance skewed classes."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils.class_weight import compute_class_weight

from pipeline.geo.nightlights import intensity


def training_targets(table: pd.DataFrame, objective: str,
                     train_rows: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    """What the network learns per tile: the class (int64), or log(1 + radiance) standardised
    with the training tiles' mean and sd (float32); and that scaling (empty for classes).

    Args:
        table: one row per tile, with ``label`` (objective ``classes``) or ``label_radiance``
            (objective ``radiance``).
        objective: ``classes`` or ``radiance``.
        train_rows: row positions of the training tiles (the scaling is theirs).
    """
    if objective == "classes":
        return table["label"].to_numpy(dtype=np.int64), {}
    x = intensity(table["label_radiance"].to_numpy(dtype=np.float64))
    mean, sd = float(x[train_rows].mean()), float(max(x[train_rows].std(), 1e-9))
    return ((x - mean) / sd).astype(np.float32), {"log1p_radiance_mean": mean,
                                                  "log1p_radiance_sd": sd}


def balanced_class_weight(y: np.ndarray) -> dict[int, float]:
    """Weights inversely proportional to class frequency (sklearn's "balanced")."""
    present = np.unique(y)
    weights = compute_class_weight("balanced", classes=present, y=y)
    return dict(zip(present.tolist(), weights.tolist()))
