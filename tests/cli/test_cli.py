"""The command line: exit codes and one-line errors, through a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *map(str, args)],
                          capture_output=True, text=True, env=ENV, timeout=timeout)


def edit(path: Path, change) -> Path:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))
    return path


def assert_one_line_error(result, *needles):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.slow
def test_validate_ok(make_tiny_config, tmp_path):
    result = cli("validate", make_tiny_config(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout and "tiles: 100" in result.stdout


@pytest.mark.slow
def test_validate_and_status_do_not_load_tensorflow(make_tiny_config, tmp_path):
    """A health check (`validate` in a CronJob, `status` of a run) answers in a few seconds:
    TensorFlow, which takes several to load, is imported by the stages that run a network."""
    code = ("import sys; from pipeline.cli.main import main; "
            "codes = [main(['validate', sys.argv[1]]), main(['status', sys.argv[2]])]; "
            "print('codes', codes, 'loaded', sorted({'keras', 'tensorflow'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code, make_tiny_config(tmp_path),
                             tmp_path / "no_run"], capture_output=True, text=True, env=ENV,
                            timeout=300)
    assert "codes [0, 2] loaded []" in result.stdout, result.stdout + result.stderr


@pytest.mark.slow
def test_typo_key_fails_validate_and_run(make_tiny_config, tmp_path):
    path = edit(make_tiny_config(tmp_path), lambda d: d["aggregate"].update(radius_kn=3))
    for command in ("validate", "run"):
        assert_one_line_error(cli(command, path), "aggregate.radius_kn: unknown key",
                              "did you mean 'radius_km'")


@pytest.mark.slow
def test_wrong_type_fails(make_tiny_config, tmp_path):
    path = edit(make_tiny_config(tmp_path), lambda d: d["model"].update(batch_size="big"))
    assert_one_line_error(cli("run", path), "model.batch_size", "'big'")


@pytest.mark.slow
def test_missing_input_file_fails(make_tiny_config, tmp_path):
    path = edit(make_tiny_config(tmp_path),
                lambda d: d["data"]["nightlights"].update(path=str(tmp_path / "nope.tif")))
    for command in ("validate", "run"):
        assert_one_line_error(cli(command, path), "nope.tif", "data.nightlights.path")


@pytest.mark.slow
def test_unknown_backbone_fails(make_tiny_config, tmp_path):
    path = edit(make_tiny_config(tmp_path), lambda d: d["model"].update(backbone="vgg61"))
    assert_one_line_error(cli("validate", path), "model.backbone: unknown 'vgg61'", "vgg16")


@pytest.mark.slow
def test_status_of_an_empty_folder(tmp_path):
    result = cli("status", tmp_path)
    assert result.returncode == 2 and "no manifest.json" in result.stderr


