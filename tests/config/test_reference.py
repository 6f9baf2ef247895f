"""docs/configuration.md, the JSON Schema and init's comments come from the field descriptions."""

from __future__ import annotations

from pathlib import Path

import yaml

from pipeline.config.reference import commented_yaml, description, markdown, parts, summary
from pipeline.config.schema import Config, parse_config

ROOT = Path(__file__).resolve().parents[2]


def test_configuration_page_is_generated_from_the_schema():
    committed = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == markdown(), (
        "docs/configuration.md is stale: run `make docs` (or `poverty-pipeline config reference "
        "--out docs/configuration.md`) and commit it")


def test_every_field_is_described_and_listed():
    keys = []
    for part in parts():
        for entry in part.entries:
            assert len(entry.description) > 10, f"{part.key}.{entry.key} has no description"
            keys.append(f"{part.key}.{entry.key}".lstrip("."))
    assert len(keys) == len(set(keys))
    assert {"data.tiles.window_px", "regression.targets[].log", "executor (kind: dask).address",
            "aggregate.districts.id", "data.survey.lsms.period_days"} <= set(keys)
    assert "source" not in keys  # set by the loader, not a key of the file
    page = markdown()
    assert "| `radius_km` | number (> 0, ≤ 50) | `5.0` |" in page
    assert "| `method` | one of `gmm`, `quantile`, `fixed` | `gmm` |" in page
    assert "| `batch_size` | integer (≥ 1) | `256` | Extraction batch size" in page
    assert "reruns nothing. *Cosmetic.* |" in page


def test_description_and_summary_by_dotted_key():
    assert description("aggregate.radius_km").startswith("Tiles whose centre is within")
    assert description("regression.targets.log").startswith("Fit log(outcome)")
    # the first sentence, not cut at "e.g."
    assert summary("data.tiles.crs") == description("data.tiles.crs")
    assert summary("labels.method") == (
        "`gmm`: a Gaussian mixture on log(1 + radiance), as in Jean et al.")


def test_commented_yaml_loads_back_with_every_comment_from_the_schema(tmp_path):
    tree = {"name": "x", "run_dir": "runs/x",
            "data": {"tiles": {"path": "t"}, "nightlights": {"path": "n.tif"},
                     "survey": {"path": "s.csv", "outcomes": ["a", "b"]}},
            "regression": {"targets": [{"column": "a", "log": True},
                                       {"column": "b", "log": False}]}}
    text = commented_yaml(tree, {"data.tiles.path": "found: 3 tiles",
                                 "regression.targets[1]": "values 0 .. 1"})
    assert yaml.safe_load(text) == tree
    lines = text.splitlines()
    name_at = lines.index('name: "x"')
    assert " ".join(line[2:] for line in lines[:name_at]) == summary("name")
    assert '    path: "t"   # found: 3 tiles' in lines
    assert '    - {"column": "b", "log": false}   # values 0 .. 1' in lines
    assert "  # " + summary("data.tiles") in lines
    assert all(len(line) <= 100 for line in lines if line.lstrip().startswith("#"))
    config = parse_config(yaml.safe_load(text), base_dir=tmp_path)
    assert isinstance(config, Config) and config.regression.targets[0].log is True


def test_executor_keys_are_found_in_either_kind():
    assert description("executor.retries").startswith("Further attempts")
    assert description("executor.address").startswith("Scheduler address")
