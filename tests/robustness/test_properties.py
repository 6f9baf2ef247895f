"""Property tests: any config text or survey bytes either load or raise the project's own error.

Never a KeyError, TypeError or a library's exception: those would reach the user as a traceback.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.config.schema import Config, load_config
from pipeline.errors import ConfigError, InputDataError
from pipeline.survey.tables import ClusterColumns, clean_clusters, read_table

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=True), st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)

BASE = {"name": "p", "run_dir": "run",
        "data": {"tiles": {"path": "tiles"}, "nightlights": {"path": "nl.tif"},
                 "survey": {"path": "s.csv", "outcomes": ["y"]}},
        "regression": {"targets": [{"column": "y"}]}}


def key_paths(node: object, prefix: tuple = ()) -> list[tuple]:
    if not isinstance(node, dict):
        return [prefix]
    out = [prefix] if prefix else []
    for key, value in node.items():
        out += key_paths(value, (*prefix, key))
    return out


PATHS = key_paths(BASE) + [("model", "batch_size"), ("aggregate", "radius_km"),
                           ("data", "shard_size"), ("data", "root_only"), ("executor", "kind")]


def load_text(text: str) -> Config | None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            return load_config(path, env={})
        except ConfigError:
            return None


@pytest.mark.slow
@SETTINGS
@given(st.text(max_size=200))
def test_any_text_loads_or_raises_config_error(text):
    load_text(text)


@SETTINGS
@given(st.sampled_from(PATHS), values)
def test_any_value_at_any_key_loads_or_raises_config_error(path, value):
    data = copy.deepcopy(BASE)
    node = data
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(node.get(key), dict) or key not in node \
            else node[key]
    node[path[-1]] = value
    config = load_text(yaml.safe_dump(data))
    assert config is None or isinstance(config, Config)


@SETTINGS
@given(values)
def test_any_yaml_document_loads_or_raises_config_error(document):
    load_text(yaml.safe_dump(document))


SURVEY = ClusterColumns(lat="lat", lon="lon", outcomes=("y",), urban="urban")
cells = st.one_of(st.floats(allow_nan=True), st.integers(), st.text(max_size=6), st.just(""))


def parse(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "s.csv"
        path.write_bytes(data)
        try:
            table = read_table(path)
            clusters, rejected = clean_clusters(table, SURVEY, path)
        except InputDataError:
            return
        assert len(clusters) + len(rejected) == len(table)  # every row kept or listed
        assert set(rejected.columns) == {"source", "row", "id", "reason"}
        assert clusters["lat"].between(-90, 90).all() and clusters["lon"].between(-180, 180).all()


@SETTINGS
@given(st.binary(max_size=300))
def test_any_bytes_parse_or_raise_input_data_error(data):
    parse(data)


@pytest.mark.slow
@SETTINGS
@given(st.lists(st.tuples(cells, cells, cells, cells, cells), max_size=8))
def test_any_rows_under_the_right_header_parse_or_raise(rows):
    lines = ["cluster_id,lat,lon,y,urban"] + [",".join(str(c).replace(",", ";").replace("\n", " ")
                                                      for c in row) for row in rows]
    parse("\n".join(lines).encode("utf-8", errors="replace"))
