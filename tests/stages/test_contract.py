"""Every stage has the same shape, and the graph is consistent."""

from pipeline.config.schema import parse_config
from pipeline.stages import STAGES


def test_every_stage_has_the_contract():
    for stage in STAGES:
        assert isinstance(stage.NAME, str) and isinstance(stage.VERSION, int)
        assert isinstance(stage.INPUTS, tuple) and isinstance(stage.OUTPUTS, tuple)
        assert callable(stage.run) and callable(stage.input_files)
        assert stage.__doc__ and stage.NAME in stage.__doc__.split(":")[0]


def test_names_unique_inputs_upstream_and_config_keys_exist(tmp_path):
    config = parse_config({
        "name": "t", "run_dir": "r",
        "data": {"tiles": {"path": "t"}, "nightlights": {"path": "n"},
                 "survey": {"path": "s", "outcomes": ["y"]}},
        "regression": {"targets": [{"column": "y"}]},
    }, base_dir=tmp_path)
    seen: list[str] = []
    for stage in STAGES:
        assert stage.NAME not in seen
        assert set(stage.INPUTS) <= set(seen), stage.NAME
        assert len(set(stage.OUTPUTS)) == len(stage.OUTPUTS)
        for key in stage.CONFIG:
            config.section(key)
        assert isinstance(stage.input_files(config), list)
        seen.append(stage.NAME)
    assert seen == ["ingest", "label", "train", "extract", "baselines", "aggregate", "fit", "predict",
                    "export"]
