"""Every stage has the same shape, and the graph is consistent."""

import sys

import pytest

from pipeline.config.schema import parse_config
from pipeline.engine.stage import Stage
from pipeline.stages import PIPELINE, stage_names


def contract_config(tmp_path, **overrides):
    data = {
        "name": "t", "run_dir": "r",
        "data": {"tiles": {"path": "t"}, "nightlights": {"path": "n"},
                 "survey": {"path": "s", "outcomes": ["y"]}},
        "regression": {"targets": [{"column": "y"}]},
    }
    return parse_config({**data, **overrides}, base_dir=tmp_path)


def test_every_stage_in_the_pipeline_is_a_stage_with_the_contract():
    assert isinstance(PIPELINE, tuple)
    for stage in PIPELINE:
        assert isinstance(stage, Stage)
        assert isinstance(stage.name, str) and stage.name
        assert isinstance(stage.version, int) and stage.version >= 1
        assert isinstance(stage.inputs, tuple) and isinstance(stage.outputs, tuple)
        assert isinstance(stage.config, tuple) and stage.outputs
        assert callable(stage.run) and callable(stage.input_files)
        module = sys.modules[stage.run.__module__]
        assert module.__name__ == f"pipeline.stages.{stage.name}"
        assert module.STAGE is stage  # each module declares its own stage
        assert module.__doc__ and module.__doc__.split(":")[0] == stage.name


def test_stages_are_frozen():
    with pytest.raises(AttributeError):
        PIPELINE[0].version = 99


@pytest.mark.parametrize("features", ["finetuned", "frozen"])
def test_names_unique_inputs_earlier_outputs_unique_and_config_keys_exist(tmp_path, features):
    config = contract_config(tmp_path, features={"mode": features})
    seen: list[str] = []
    for stage in PIPELINE:
        assert stage.name not in seen
        assert set(stage.inputs) <= set(seen), stage.name
        assert set(stage.upstream(config)) <= set(stage.inputs), stage.name
        assert len(set(stage.outputs)) == len(stage.outputs), stage.name
        assert not set(stage.optional_outputs) & set(stage.outputs), stage.name
        assert set(stage.config_keys(config)) <= set(stage.config), stage.name
        for key in stage.config:
            config.section(key)
        assert isinstance(stage.input_files(config), list)
        seen.append(stage.name)
    assert seen == stage_names() == ["ingest", "label", "train", "extract", "baselines",
                                     "aggregate", "fit", "predict", "export"]


def test_the_acquisition_records_the_report_shows_are_outputs():
    """export's report reads them: as outputs they are part of their stage's output id, so a
    changed record reruns export (tests/engine/test_runner.py shows the mechanism)."""
    stages = {stage.name: stage for stage in PIPELINE}
    assert "acquisition.json" in stages["ingest"].optional_outputs
    assert {"nightlights.tif", "nightlights.json"} <= set(stages["label"].optional_outputs)
    assert {"ingest", "label"} <= set(stages["export"].inputs)


def test_extract_reads_train_only_for_finetuned_features(tmp_path):
    extract = PIPELINE[stage_names().index("extract")]
    assert extract.upstream(contract_config(tmp_path)) == ("ingest", "train")
    frozen = contract_config(tmp_path, features={"mode": "frozen"})
    assert extract.upstream(frozen) == ("ingest",)
    assert "model.backbone" in extract.config_keys(frozen)
    assert "model.backbone" not in extract.config_keys(contract_config(tmp_path))
