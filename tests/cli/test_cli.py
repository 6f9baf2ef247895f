"""The command line: exit codes and one-line errors, through a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
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


def wait_for(predicate, timeout: float) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached")


def stage_running(run_dir: Path, stage: str) -> bool:
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return manifest["stages"].get(stage, {}).get("status") == "running"


def kill_during(config: Path, run_dir: Path, stage: str) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "run", str(config), "--quiet"],
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: stage_running(run_dir, stage) and (run_dir / f".tmp-{stage}").exists(), 240)
        time.sleep(0.3)
    finally:
        proc.kill()  # SIGKILL on POSIX, TerminateProcess on Windows
        proc.wait()


@pytest.mark.slow
def test_sigkill_during_train_and_extract_then_resume(make_tiny_config, tmp_path):
    path = make_tiny_config(tmp_path, model={"head_epochs": 3, "finetune_epochs": 3},
                            features={"batch_size": 1})
    run_dir = tmp_path / "run"
    for stage in ("train", "extract"):
        kill_during(path, run_dir, stage)
        assert not (run_dir / stage).exists()
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert manifest["stages"][stage]["status"] == "running"
    result = cli("run", path)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((run_dir / "manifest.json").read_text())["stages"]
    assert [manifest[s]["status"] for s in ("ingest", "label", "train")] == ["skipped"] * 3
    assert all(manifest[s]["status"] == "done" for s in ("extract", "fit", "export"))
    assert not list(run_dir.glob(".tmp-*"))
    assert (run_dir / "export" / "map.png").stat().st_size > 10_000
    status = cli("status", run_dir)
    assert status.returncode == 0 and status.stdout.count("skipped") == 3
