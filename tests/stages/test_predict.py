"""The predict stage's helpers."""

import numpy as np

from pipeline.evaluation.ridge import fit_ridge
from pipeline.stages.predict import apply_models


def test_apply_models_back_transforms_logs_and_keeps_nan():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    model = fit_ridge(x, x @ [0.5, -0.2, 0.1], [1e-6])
    means = np.vstack([x[:2], np.full((1, 3), np.nan)])
    out = apply_models(means, {"c": {**model.to_dict(), "log": True},
                               "a": {**model.to_dict(), "log": False}})
    np.testing.assert_allclose(out["pred_c"][:2], np.exp(x[:2] @ [0.5, -0.2, 0.1]), rtol=1e-4)
    np.testing.assert_allclose(out["pred_a"][:2], x[:2] @ [0.5, -0.2, 0.1], atol=1e-4)
    assert np.isnan(out["pred_c"][2]) and np.isnan(out["pred_a"][2])
