"""``run``'s batch options through a real subprocess: run ids, executor overrides, exit codes."""

from __future__ import annotations

import json
import re

import pytest

from pipeline.cli.main import main
from test_cli import cli


@pytest.mark.slow
def test_run_id_writes_a_sibling_run_directory(make_tiny_config, tmp_path):
    path = make_tiny_config(tmp_path)
    result = cli("run", path, "--until", "ingest", "--quiet", "--run-id")
    assert result.returncode == 0, result.stderr
    (run,) = [p for p in tmp_path.iterdir() if p.name.startswith("tiny-")]
    assert re.fullmatch(r"tiny-\d{8}T\d{6}Z", run.name) and not (tmp_path / "run").exists()
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["run"]["id"] == run.name and manifest["run"]["status"] == "ok"
    assert manifest["run"]["config"] == str(path)
    assert manifest["stages"]["ingest"]["shards"]["shards"] == 3
    result = cli("run", path, "--until", "ingest", "--run-id", "nightly")
    assert result.returncode == 0 and (tmp_path / "nightly" / "ingest" / "tiles.parquet").exists()
    assert "[ingest] running: never completed" in result.stderr
    assert "shard" not in result.stderr  # per-shard lines go to run.log only
    listing = cli("runs", "list", tmp_path)
    assert listing.returncode == 0 and "nightly" in listing.stdout and run.name in listing.stdout


def test_bad_batch_options_are_one_line_errors(make_tiny_config, tmp_path, capsys):
    path = str(make_tiny_config(tmp_path))
    for args, needle in ((["--workers", "2"], "--workers apply to the dask executor"),
                         (["--run-id", "a/b"], "--run-id: 'a/b' is not a valid run id"),
                         (["--executor", "dask", "--workers", "0"], "--workers must be at least 1")):
        assert main(["run", path, *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and needle in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()
