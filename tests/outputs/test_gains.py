"""The model's gain over each baseline, as the run summary, the metrics table and the report
show it."""

import pytest

from pipeline.outputs.report import gain_table
from pipeline.outputs.tables import metrics_frame
from pipeline.runs.summary import metric_lines

ENTRY = {
    "n": 400,
    "model": {"r2": 0.55, "r2_ci": [0.5, 0.6]},
    "nightlights": {"r2": 0.50, "r2_ci": [0.45, 0.55]},
    "imagenet": {"r2": 0.56, "r2_ci": [0.51, 0.61]},
    "model_vs": {"nightlights": {"r2_gain": 0.05, "r2_gain_ci": [0.02, 0.08],
                                 "share_better": 1.0},
                 "imagenet": {"r2_gain": -0.01, "r2_gain_ci": [-0.03, 0.012],
                              "share_better": 0.2}},
}
METRICS = {"targets": {"y": {"log": True, "schemes": {"spatial": {"all": ENTRY}}}}}


def test_metrics_frame_puts_the_gain_on_each_baseline_row():
    frame = metrics_frame(METRICS).set_index("predictor")
    assert frame.loc["nightlights", "r2_gain"] == pytest.approx(0.05)
    assert frame.loc["imagenet", "r2_gain_ci_low"] == pytest.approx(-0.03)
    assert frame.loc["imagenet", "share_better"] == pytest.approx(0.2)
    assert frame["r2_gain"].isna()["model"]


def test_gain_table_writes_gain_and_interval_per_baseline():
    table = gain_table(metrics_frame(METRICS))
    assert list(table.columns) == ["target", "scheme", "subset", "n", "nightlights", "imagenet"]
    assert table.loc[0, "nightlights"] == "+0.050 [+0.020, +0.080]"
    assert table.loc[0, "imagenet"] == "-0.010 [-0.030, +0.012]"


def test_run_summary_prints_the_gains_under_the_r2_line():
    lines = metric_lines(METRICS)
    assert "r2 model  0.550" in lines[0] and "NL  0.500" in lines[0]
    assert lines[1].strip() == ("model gain: NL +0.050 [+0.020, +0.080]  "
                                "ImageNet -0.010 [-0.030, +0.012]")
