"""Helpers of the fit stage's design (pipeline.evaluation.design): target values and the nightlights-only design."""

import numpy as np
import pandas as pd
import pytest

from pipeline.evaluation.design import nightlight_design, target_values


def test_log_target_drops_non_positive():
    df = pd.DataFrame({"c": [1.0, np.e, 0.0, -1.0, np.nan]})
    y, keep = target_values(df, "c", log=True)
    assert keep.tolist() == [True, True, False, False, False]
    assert y[:2] == pytest.approx([0.0, 1.0])
    y, keep = target_values(df, "c")
    assert keep.tolist() == [True, True, True, True, False]


def test_nightlight_design_clips_negative_radiance():
    x = nightlight_design(pd.DataFrame({"nl_mean": [-0.1, 1.0], "nl_max": [0.0, np.nan]}))
    assert x.tolist() == [[0, 0, 0, 0], [1.0, 0.0, np.log(2.0), 0.0]]
