"""Training configs need a survey; prediction configs (``bundle:``) refuse training sections."""

import pytest

from pipeline.config.schema import config_yaml, load_config, parse_config
from pipeline.errors import ConfigError
from pipeline.stages import PIPELINE, PREDICTION_PIPELINE, pipeline_for


def prediction(tmp_path, **extra):
    return parse_config({"name": "p", "run_dir": "r", "bundle": "b",
                         "data": {"tiles": {"path": "t"}}, **extra}, base_dir=tmp_path)


def test_a_training_config_without_a_survey_names_the_missing_keys(tmp_path):
    with pytest.raises(ConfigError, match=r"data.survey: required key is missing .*bundle"):
        parse_config({"name": "t", "run_dir": "r", "data": {"tiles": {"path": "t"},
                      "nightlights": {"path": "n"}},
                      "regression": {"targets": [{"column": "y"}]}}, base_dir=tmp_path)


def test_a_prediction_config_needs_no_survey_and_picks_the_prediction_pipeline(tmp_path):
    config = prediction(tmp_path, features={"batch_size": 8})
    assert config.bundle == tmp_path / "b" and config.data.survey is None
    assert config.regression is None and config.features.batch_size == 8
    assert pipeline_for(config) is PREDICTION_PIPELINE
    assert [s.name for s in PREDICTION_PIPELINE] == ["ingest", "extract", "predict", "export"]


@pytest.mark.parametrize("extra,key", [
    ({"regression": {"targets": [{"column": "y"}]}}, "regression"),
    ({"aggregate": {"radius_km": 2}}, "aggregate.radius_km"),
    ({"features": {"mode": "frozen"}}, "features.mode"),
])
def test_a_prediction_config_refuses_what_the_bundle_fixes(tmp_path, extra, key):
    with pytest.raises(ConfigError, match=rf"{key}: a prediction run .* from the bundle"):
        prediction(tmp_path, **extra)


def test_a_prediction_config_survives_the_run_directory_round_trip(tmp_path):
    config = prediction(tmp_path, features={"batch_size": 8})
    path = tmp_path / "config.yaml"
    path.write_text(config_yaml(config))
    again = load_config(path, env={})
    assert again.bundle == config.bundle and again.features.batch_size == 8
    assert "aggregate" not in path.read_text() and "regression: null" in path.read_text()


def test_prediction_stages_read_only_earlier_stages():
    names = [s.name for s in PREDICTION_PIPELINE]
    for i, stage in enumerate(PREDICTION_PIPELINE):
        assert set(stage.inputs) <= set(names[:i])
        assert stage.name in [s.name for s in PIPELINE]
        assert "bundle" in stage.config
