"""Run ids, ``runs list`` and ``runs compare`` against hand-made run directories."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli.main import main
from pipeline.config.schema import DaskExecutor, LocalExecutor
from pipeline.errors import ConfigError, DataVerificationError, MissingArtifactError
from pipeline.engine.executor import override_executor
from pipeline.engine.manifest import Manifest
from pipeline.runs.listing import (
    compare_predictions,
    compare_runs,
    default_run_id,
    list_runs,
    quintiles,
    resolve_run_dir,
)
from test_runner import config as runner_config


def config(tmp_path, **overrides):
    return runner_config(tmp_path, **{"name": "malawi", "run_dir": "runs/malawi", **overrides})


def test_run_ids(tmp_path):
    cfg = config(tmp_path)
    assert resolve_run_dir(cfg, None).run_dir == tmp_path / "runs" / "malawi"
    assert resolve_run_dir(cfg, "nightly-7").run_dir == tmp_path / "runs" / "nightly-7"
    when = datetime(2025, 3, 1, 2, 0, 5, tzinfo=timezone.utc)
    assert default_run_id("malawi", when) == "malawi-20250301T020005Z"
    assert re.fullmatch(r"malawi-\d{8}T\d{6}Z", resolve_run_dir(cfg, "auto").run_dir.name)
    with pytest.raises(ConfigError, match="--run-id: '../x' is not a valid run id"):
        resolve_run_dir(cfg, "../x")


def test_executor_overrides_keep_what_is_not_given(tmp_path):
    cfg = config(tmp_path, executor={"kind": "local", "retries": 5})
    dask = override_executor(cfg, "dask", workers=3).executor
    assert dask == DaskExecutor(kind="dask", workers=3, retries=5)
    remote = override_executor(cfg, "dask", address="tcp://sched:8786").executor
    assert remote.address == "tcp://sched:8786" and remote.workers == 2
    assert override_executor(cfg).executor == LocalExecutor(retries=5)
    cfg = config(tmp_path, executor={"kind": "dask", "workers": 4, "threads_per_worker": 2})
    assert override_executor(cfg, workers=8).executor.threads_per_worker == 2
    assert override_executor(cfg, "local").executor == LocalExecutor()
    with pytest.raises(ConfigError, match="apply to the dask executor; add --executor dask"):
        override_executor(config(tmp_path), workers=2)


def make_run(root: Path, name: str, preds: list[float], r2: float | None, status: str = "ok",
             started: str = "2025-01-01T00:00:00+00:00") -> Path:
    run = root / name
    run.mkdir(parents=True)
    manifest = Manifest(run / "manifest.json")
    manifest.update("ingest", status="done")
    manifest.update("fit", status="failed" if status == "failed" else "done")
    manifest.run = {"id": name, "executor": "local", "started": started}
    manifest.finish_run(status)
    if r2 is not None:
        (run / "fit").mkdir()
        entry = {"n": 10, "model": {"r2": r2, "rmse": 1.0}, "nightlights": {"r2": 0.3}}
        metrics = {"targets": {"y": {"log": False, "schemes": {"random": {"all": entry}}}}}
        (run / "fit" / "metrics.json").write_text(json.dumps(metrics))
    (run / "predict").mkdir()
    ids = [f"t{i}" for i in range(len(preds))]
    pd.DataFrame({"tile_id": ids, "pred_y": preds, "n_tiles": 1}).to_parquet(
        run / "predict" / "grid.parquet")
    return run


def test_quintiles_by_rank():
    assert quintiles(np.arange(10.0)[::-1]).tolist() == [4, 4, 3, 3, 2, 2, 1, 1, 0, 0]
    assert quintiles(np.array([5.0, 5.0, 5.0, 5.0, 5.0])).tolist() == [0, 1, 2, 3, 4]


def test_compare_two_runs(tmp_path):
    a = make_run(tmp_path, "a", [float(v) for v in range(1, 11)], 0.5)
    swapped = [10.0, *range(2, 10), 1.0, 99.0]  # cells 0 and 9 swap; t10 is new
    b = make_run(tmp_path, "b", [float(v) for v in swapped], 0.6)
    result = compare_runs(a, b, ("r2", "rmse"))
    metrics = {row["key"]: row for row in result["metrics"]}
    assert set(metrics) == {"y.random.all.model.r2", "y.random.all.model.rmse",
                            "y.random.all.nightlights.r2"}
    assert metrics["y.random.all.model.r2"]["change"] == pytest.approx(0.1)
    (row,) = result["predictions"]
    assert row["cells"] == 10 and row["only_a"] == 0 and row["only_b"] == 1
    assert row["mean_abs_change"] == pytest.approx(1.8) and row["mean_change"] == 0
    assert row["quintile_changed"] == pytest.approx(0.2)
    with pytest.raises(MissingArtifactError, match="stage 'fit' has not finished"):
        compare_runs(a, make_run(tmp_path, "c", [1.0], None))


def test_compare_predictions_ignores_missing_values(tmp_path):
    a = make_run(tmp_path, "a", [1.0, 2.0, float("nan")], None)
    b = make_run(tmp_path, "b", [1.5, 2.5, 3.0], None)
    (row,) = compare_predictions(a, b).to_dict("records")
    assert row["cells"] == 2 and row["mean_abs_change"] == pytest.approx(0.5)


def test_list_runs(tmp_path):
    make_run(tmp_path, "malawi-20250102T020000Z", [1.0], 0.42, started="2025-01-02T02:00:00+00:00")
    make_run(tmp_path, "malawi-20250101T020000Z", [1.0], None, status="failed")
    (tmp_path / "not-a-run").mkdir()
    rows = list_runs(tmp_path)
    assert [r["id"] for r in rows] == ["malawi-20250101T020000Z", "malawi-20250102T020000Z"]
    assert rows[0]["status"] == "failed" and rows[0]["failed"] == ["fit"] and rows[0]["r2"] is None
    assert rows[1]["status"] == "ok" and rows[1]["r2"] == 0.42 and rows[1]["stages"] == "2/2"
    with pytest.raises(MissingArtifactError, match="folder not found"):
        list_runs(tmp_path / "nope")


def test_runs_commands(tmp_path, capsys):
    a = make_run(tmp_path, "a", [1.0, 2.0], 0.5)
    b = make_run(tmp_path, "b", [2.0, 1.0], 0.7)
    assert main(["runs", "list", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["run", "status", "stages", "r2"]
    assert out[1].split()[:4] == ["a", "ok", "2/2", "0.500"]
    assert main(["runs", "compare", str(a), str(b)]) == 0
    text = capsys.readouterr().out
    assert re.search(r"y\.random\.all\.model\.r2\s+0\.5000\s+0\.7000\s+0\.2000", text)
    assert re.search(r"pred_y\s+2\s+1\.0000\s+0\.0000\s+100\.0%", text)
    assert main(["runs", "compare", str(a), str(b), "--json", "--metric", "rmse"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [m["key"] for m in data["metrics"]] == ["y.random.all.model.rmse"]
    assert main(["runs", "compare", str(a), str(tmp_path / "nope")]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_exit_code_3_for_data_verification(monkeypatch, capsys):
    from pipeline.cli import main as cli
    def fail(args):
        raise DataVerificationError("data/nl.tif: sha256 differs from data_manifests/nl.yaml")

    monkeypatch.setitem(cli.COMMANDS, "status", fail)
    assert main(["status", "x"]) == 3
    assert capsys.readouterr().err.strip() == (
        "error: data/nl.tif: sha256 differs from data_manifests/nl.yaml")
