import numpy as np
import pandas as pd
import pytest

from pipeline.config.schema import TargetConfig
from pipeline.evaluation.ridge import fit_ridge
from pipeline.evaluation.evaluate import subsets
from pipeline.evaluation.design import nightlight_design, target_values
from pipeline.stages.predict import apply_models
from pipeline.geo.blocks import block_ids


def test_log_target_drops_non_positive():
    df = pd.DataFrame({"c": [1.0, np.e, 0.0, -1.0, np.nan]})
    y, keep = target_values(df, TargetConfig(column="c", log=True))
    assert keep.tolist() == [True, True, False, False, False]
    assert y[:2] == pytest.approx([0.0, 1.0])
    y, keep = target_values(df, TargetConfig(column="c"))
    assert keep.tolist() == [True, True, True, True, False]


def test_subsets_are_the_poorer_clusters():
    y = np.arange(1, 11, dtype=float)
    masks = subsets(y, (50.0, 100.0))
    assert set(masks) == {"all", "below_p50"}
    assert y[masks["below_p50"]].tolist() == [1, 2, 3, 4, 5]


def test_nightlight_design_clips_negative_radiance():
    x = nightlight_design(pd.DataFrame({"nl_mean": [-0.1, 1.0], "nl_max": [0.0, np.nan]}))
    assert x.tolist() == [[0, 0, 0, 0], [1.0, 0.0, np.log(2.0), 0.0]]


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


def test_spatial_blocks_group_nearby_points():
    lon = np.array([35.0, 35.001, 35.2])
    lat = np.array([-13.5, -13.5005, -13.5])
    blocks = block_ids(lon, lat, 5.0)
    assert blocks[0] == blocks[1] != blocks[2]
