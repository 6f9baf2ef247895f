"""`poverty-pipeline config schema`: the JSON Schema editors use to complete and check a config."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def schema() -> dict:
    code = ("import sys; from pipeline.cli.main import main; rc = main(['config', 'schema']); "
            "sys.stderr.write('tensorflow' if 'tensorflow' in sys.modules else 'light'); "
            "sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stderr.endswith("light")  # printing the schema imports no TensorFlow
    return json.loads(done.stdout)


def test_schema_is_a_valid_json_schema_with_descriptions(schema):
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"name", "run_dir", "data"}  # regression: training runs only
    assert "source" not in schema["properties"]
    radius = schema["$defs"]["AggregateConfig"]["properties"]["radius_km"]
    assert radius["exclusiveMinimum"] == 0 and radius["maximum"] == 50
    assert radius["description"].startswith("Tiles whose centre is within")


def test_schema_accepts_the_demo_config_and_rejects_unknown_keys(schema):
    validator = jsonschema.Draft202012Validator(schema)
    demo = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    assert list(validator.iter_errors(demo)) == []
    typo = {**demo, "aggregate": {"radius_kn": 3.0}}
    (error,) = validator.iter_errors(typo)
    assert error.validator == "additionalProperties" and "radius_kn" in error.message
    assert list(error.absolute_path) == ["aggregate"]
    wrong = {**demo, "labels": {"method": "kmeans"}}
    assert [e.validator for e in validator.iter_errors(wrong)] == ["enum"]
    dask = {**demo, "executor": {"kind": "dask", "address": "tcp://s:8786", "workers": 4}}
    assert list(validator.iter_errors(dask)) == []
    assert list(validator.iter_errors({**demo, "executor": {"kind": "local", "workers": 4}}))


def test_config_reference_command_writes_the_page(tmp_path):
    from pipeline.cli.main import main

    out = tmp_path / "configuration.md"
    assert main(["config", "reference", "--out", str(out)]) == 0
    assert out.read_text() == (ROOT / "docs" / "configuration.md").read_text()
