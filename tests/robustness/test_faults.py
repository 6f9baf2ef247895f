"""Faults in the run directory: outputs edited after a stage finished, disk full, permission
denied. A changed output is noticed and its stage redone (with the reason in the log); a failed
write leaves the previous artifact as it was and names the path."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pandas as pd
import pytest

from pipeline.cli import main as cli
from pipeline.config.schema import load_config
from pipeline.errors import StageError
from pipeline.engine.manifest import Manifest
from pipeline.engine.runner import run_pipeline
from pipeline.stages import PIPELINE

pytestmark = pytest.mark.slow  # runs up to label, one per test


@pytest.fixture
def labelled(make_tiny_config, tmp_path):
    """A tiny run through ingest and label; returns its config."""
    config = load_config(make_tiny_config(tmp_path), env={})
    run_pipeline(config, PIPELINE, until_stage="label", quiet=True, progress=False)
    return config


def statuses(config) -> dict[str, str]:
    stages = json.loads((config.run_dir / "manifest.json").read_text())["stages"]
    return {name: entry["status"] for name, entry in stages.items()}


def reasons(outcomes) -> dict[str, str | None]:
    return {o.name: o.reason for o in outcomes}


def test_untouched_outputs_are_trusted(labelled):
    outcomes = run_pipeline(labelled, PIPELINE, until_stage="label", quiet=True, progress=False)
    assert [o.status for o in outcomes] == ["skipped", "skipped"]
    files = json.loads((labelled.run_dir / "manifest.json").read_text())["stages"]["ingest"]
    assert "cache/shard_00000.npy" in files["output_files"]
    assert len(files["output_files"]) == 4 + 3  # four files and three cache shards (100 / 40)


def test_truncated_output_reruns_its_stage_with_the_reason_logged(labelled):
    path = labelled.run_dir / "ingest" / "tiles.parquet"
    size = path.stat().st_size
    path.write_bytes(path.read_bytes()[: size // 2])
    outcomes = run_pipeline(labelled, PIPELINE, until_stage="label", quiet=True, progress=False)
    assert reasons(outcomes) == {
        "ingest": f"outputs changed after the stage finished: tiles.parquet resized ({size} -> "
                  f"{size // 2} bytes)",
        "label": None}  # skipped: ingest wrote back the very files label had read
    assert path.stat().st_size == size
    log = (labelled.run_dir / "run.log").read_text()
    assert "running: outputs changed after the stage finished: tiles.parquet resized" in log


def test_same_size_edit_is_found_by_its_digest(labelled):
    path = labelled.run_dir / "label" / "bins.json"
    original = path.read_text()
    path.write_text(original.replace('"gmm"', '"GMM"'))
    outcomes = run_pipeline(labelled, PIPELINE, until_stage="label", quiet=True, progress=False)
    assert reasons(outcomes) == {"ingest": None,
                                 "label": "outputs changed after the stage finished: bins.json "
                                          "edited"}
    assert path.read_text() == original


def test_deleted_cache_shard_reruns_ingest(labelled):
    (labelled.run_dir / "ingest" / "cache" / "shard_00001.npy").unlink()
    outcomes = run_pipeline(labelled, PIPELINE, until_stage="ingest", quiet=True, progress=False)
    assert outcomes[0].reason == ("outputs changed after the stage finished: "
                                  "cache/shard_00001.npy deleted")


def test_a_copied_run_dir_with_new_mtimes_is_not_rerun(labelled):
    path = labelled.run_dir / "label" / "labels.parquet"
    path.write_bytes(path.read_bytes())  # same bytes, new mtime
    outcomes = run_pipeline(labelled, PIPELINE, until_stage="label", quiet=True, progress=False)
    assert [o.status for o in outcomes] == ["skipped", "skipped"]


@pytest.mark.parametrize("error", [
    OSError(errno.ENOSPC, "No space left on device"),
    PermissionError(errno.EACCES, "Permission denied"),
])
def test_failed_write_keeps_the_previous_artifact_and_names_the_path(labelled, monkeypatch, error):
    old = {p.name: p.read_bytes() for p in (labelled.run_dir / "label").iterdir()}
    real = pd.DataFrame.to_parquet

    def failing(self, path, *args, **kwargs):
        if Path(path).name == "labels.parquet":
            raise type(error)(error.errno, error.strerror, str(path))
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", failing)
    with pytest.raises(StageError, match=rf"stage label failed: .*{error.strerror}: "
                                         rf"'.*\.tmp-label/labels.parquet'"):
        run_pipeline(labelled, PIPELINE, from_stage="label", quiet=True, progress=False)
    assert {p.name: p.read_bytes() for p in (labelled.run_dir / "label").iterdir()} == old
    assert statuses(labelled) == {"ingest": "skipped", "label": "failed"}
    monkeypatch.setattr(pd.DataFrame, "to_parquet", real)
    outcomes = run_pipeline(labelled, PIPELINE, until_stage="label", quiet=True, progress=False)
    assert reasons(outcomes) == {"ingest": None, "label": "last status failed"}


def test_disk_full_outside_a_stage_is_one_line_naming_the_file(labelled, monkeypatch, capsys):
    def full(self):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.path))

    monkeypatch.setattr(Manifest, "save", full)
    code = cli.main(["run", str(labelled.source), "--quiet", "--until", "label"])
    err = capsys.readouterr().err
    assert code == 4
    expected = (f"error: {labelled.run_dir / 'manifest.json'}: No space left on device. Free "
                "space or fix the permissions there, then rerun.")
    assert err.strip().splitlines() == [expected]
