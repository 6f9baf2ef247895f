from pathlib import Path

import pytest

from pipeline.config.schema import load_config, parse_config
from pipeline.errors import ConfigError

BASE = {
    "name": "t",
    "run_dir": "runs/t",
    "data": {
        "tiles": {"path": "tiles"},
        "nightlights": {"path": "nl.tif"},
        "survey": {"path": "s.csv", "outcomes": ["consumption"]},
    },
    "regression": {"targets": [{"column": "consumption", "log": True}]},
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_paths_are_relative_to_the_config_file(tmp_path):
    config = parse_config(BASE, base_dir=tmp_path / "configs")
    assert config.data.tiles.path == tmp_path / "configs" / "tiles"
    assert config.run_dir == tmp_path / "configs" / "runs" / "t"


def test_defaults_are_filled():
    config = parse_config(BASE, base_dir=Path("/x"))
    assert config.model.backbone == "mobilenet_0.25"
    assert config.aggregate.radius_km == 5.0
    assert config.executor.kind == "local"


def test_unknown_key_names_the_path_and_suggests(tmp_path):
    data = {**BASE, "aggregate": {"radius_kn": 3}}
    with pytest.raises(ConfigError, match=r"aggregate\.radius_kn: unknown key; did you mean 'radius_km'"):
        parse_config(data, base_dir=tmp_path)


def test_wrong_type_names_the_key_and_value(tmp_path):
    data = {**BASE, "model": {"batch_size": "many"}}
    with pytest.raises(ConfigError, match=r"model\.batch_size: .*integer.*'many'"):
        parse_config(data, base_dir=tmp_path)


def test_out_of_range_radius(tmp_path):
    data = {**BASE, "aggregate": {"radius_km": -5}}
    with pytest.raises(ConfigError, match=r"aggregate\.radius_km: .*greater than 0.*-5"):
        parse_config(data, base_dir=tmp_path)


def test_target_must_be_an_outcome(tmp_path):
    data = {**BASE, "regression": {"targets": [{"column": "income"}]}}
    with pytest.raises(ConfigError, match=r"regression\.targets\[0\]\.column: 'income'"):
        parse_config(data, base_dir=tmp_path)


def test_missing_required_key(tmp_path):
    data = {k: v for k, v in BASE.items() if k != "regression"}
    with pytest.raises(ConfigError, match="regression: required key is missing"):
        parse_config(data, base_dir=tmp_path)


def test_executor_union_rejects_unknown_kind(tmp_path):
    with pytest.raises(ConfigError, match="executor"):
        parse_config({**BASE, "executor": {"kind": "spark"}}, base_dir=tmp_path)


def test_yaml_object_tags_are_refused(tmp_path):
    path = write(tmp_path, "name: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_weights_dir_from_environment(tmp_path):
    import yaml

    path = write(tmp_path, yaml.safe_dump({**BASE, "model": {"weights_dir": None}}))
    config = load_config(path, env={"POVERTY_PIPELINE_WEIGHTS_DIR": str(tmp_path / "w")})
    assert config.model.weights_dir == tmp_path / "w"
    assert load_config(path, env={}).model.weights_dir is None


def test_weights_path_resolved_relative(tmp_path):
    data = {**BASE, "model": {"weights": "w/mine.h5"}}
    assert parse_config(data, base_dir=tmp_path).model.weights == str(tmp_path / "w" / "mine.h5")


def test_demo_config_loads():
    config = load_config(Path(__file__).resolve().parents[2] / "configs" / "demo.yaml", env={})
    assert config.regression.targets[0].log is True
    assert config.data.survey.outcomes == ("consumption_pc_day", "asset_index")


@pytest.mark.parametrize("key, values, message", [
    ("alphas", [1.0, 0], r"regression\.alphas\[1\]: Input should be greater than 0; got 0"),
    ("alphas", [-1.0], r"regression\.alphas\[0\]: Input should be greater than 0; got -1\.0"),
    ("poor_percentiles", [0, 50],
     r"regression\.poor_percentiles\[0\]: Input should be greater than 0; got 0"),
    ("poor_percentiles", [50, 150],
     r"regression\.poor_percentiles\[1\]: Input should be less than or equal to 100; got 150"),
])
def test_regression_lists_are_checked_item_by_item(tmp_path, key, values, message):
    data = {**BASE, "regression": {**BASE["regression"], key: values}}
    with pytest.raises(ConfigError, match=message):
        parse_config(data, base_dir=tmp_path)


def test_a_percentile_of_100_is_allowed(tmp_path):
    data = {**BASE, "regression": {**BASE["regression"], "poor_percentiles": [50, 100]}}
    assert parse_config(data, base_dir=tmp_path).regression.poor_percentiles == (50.0, 100.0)
