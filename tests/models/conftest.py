"""Fixtures for pipeline.models: small weight files written in Keras' legacy no-top h5 layout."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from keras.src.legacy.saving import legacy_h5_format  # noqa: E402

from pipeline.models import get_backbone  # noqa: E402


def randomise(model: keras.Model, seed: int) -> None:
    """Give every variable distinct seeded values (variances stay positive)."""
    rng = np.random.default_rng(seed)
    for var in model.weights:
        shape = tuple(var.shape)
        value = rng.uniform(0.5, 1.5, shape) if "variance" in var.name else rng.normal(0, 0.1, shape)
        var.assign(value.astype("float32"))


def write_legacy_h5(model: keras.Model, path: Path) -> Path:
    """Save ``model``'s weights the way keras-applications' ImageNet files are stored."""
    with h5py.File(path, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, model)
    return path


@pytest.fixture(scope="session")
def make_fake_weights(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Return ``make(backbone_name) -> path`` of a seeded random no-top weights file (32 px)."""
    folder = tmp_path_factory.mktemp("fake_weights")
    made: dict[str, Path] = {}

    def make(name: str) -> Path:
        if name not in made:
            model = get_backbone(name).factory((32, 32, 3), None, None)
            randomise(model, seed=len(made) + 1)
            made[name] = write_legacy_h5(model, folder / f"{name}_fake_notop.h5")
        return made[name]

    return make
