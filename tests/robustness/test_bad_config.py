"""Bad configs: unknown keys, wrong types, negative sizes, paths escaping the data root,
YAML tags that construct objects. Each is a ConfigError naming the file and the key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from robust_cli import assert_exit_2, cli

from pipeline.config.schema import load_config
from pipeline.errors import ConfigError


def write(tmp_path: Path, data: dict, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def base(folder: Path) -> dict:
    for name in ("tiles", "inputs"):
        (folder / name).mkdir(exist_ok=True)
    for name in ("nl.tif", "survey.csv"):
        (folder / "inputs" / name).touch()
    return {"name": "c", "run_dir": "run",
            "data": {"tiles": {"path": "tiles"}, "nightlights": {"path": "inputs/nl.tif"},
                     "survey": {"path": "inputs/survey.csv", "outcomes": ["y"]}},
            "regression": {"targets": [{"column": "y"}]}}


@pytest.mark.parametrize("section, change, needle", [
    ("aggregate", {"radius_kmm": 3}, "aggregate.radius_kmm: unknown key; did you mean 'radius_km'"),
    ("model", {"batch_size": "big"}, "model.batch_size"),
    ("model", {"batch_size": -8}, "model.batch_size"),
    ("aggregate", {"radius_km": -5}, "aggregate.radius_km"),
    ("model", {"input_size_px": -64}, "model.input_size_px"),
    ("regression", {"folds": "five"}, "regression.folds"),
])
def test_unknown_keys_wrong_types_and_negative_sizes(tmp_path, section, change, needle):
    data = base(tmp_path)
    data.setdefault(section, {}).update(change)
    with pytest.raises(ConfigError, match="c.yaml: ") as info:
        load_config(write(tmp_path, data), env={})
    assert needle in str(info.value)


def test_negative_tile_size_and_shard_size(tmp_path):
    data = base(tmp_path)
    data["data"]["tiles"]["tile_size_px"] = -32
    data["data"]["shard_size"] = 0
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, data), env={})
    assert "data.tiles.tile_size_px" in str(info.value) and "data.shard_size" in str(info.value)


def test_dotdot_escaping_the_data_root_is_refused_with_root_only(tmp_path):
    outside = tmp_path / "secret.csv"
    outside.write_text("x\n")
    folder = tmp_path / "project"
    folder.mkdir()
    data = base(folder)
    data["data"]["survey"]["path"] = "inputs/../../secret.csv"
    assert load_config(write(folder, data), env={}).data.survey.path == outside  # allowed by default
    data["data"]["root_only"] = True
    with pytest.raises(ConfigError, match="data.survey.path: .*secret.csv lies outside the data "
                                          "root .*project"):
        load_config(write(folder, data), env={})
    data["data"]["survey"]["path"] = "inputs/survey.csv"
    assert load_config(write(folder, data), env={}).data.root_only


def test_a_symlink_out_of_the_root_is_refused_with_root_only(tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    data = base(folder)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", folder / "link")
    data["data"]["tiles"]["path"] = "link"
    data["data"]["root_only"] = True
    with pytest.raises(ConfigError, match="data.tiles.path: .*outside the data root"):
        load_config(write(folder, data), env={})


TAGS = [
    "!!python/object/apply:os.system ['touch {marker}']",
    "!!python/object/new:subprocess.Popen [['touch', '{marker}']]",
    "!!python/name:os.system",
    "!custom {{a: 1}}",
]


@pytest.mark.parametrize("tag", TAGS)
def test_yaml_tags_that_construct_objects_are_refused(tmp_path, tag):
    marker = tmp_path / "pwned"
    text = yaml.safe_dump(base(tmp_path)).replace("name: c", "name: " + tag.format(marker=marker))
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="c.yaml: not valid YAML"):
        load_config(path, env={})
    assert not marker.exists()


@pytest.mark.slow
def test_a_tagged_config_through_the_cli_is_one_line(tmp_path):
    marker = tmp_path / "pwned"
    text = yaml.safe_dump(base(tmp_path)).replace(
        "name: c", f"name: !!python/object/apply:os.system ['touch {marker}']")
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert_exit_2(cli("validate", path), "c.yaml: not valid YAML")
    assert not marker.exists()
