"""The same config on a real 2-worker Dask LocalCluster gives the local executor's outputs."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from pipeline.config.schema import load_config
from pipeline.engine.executor import override_executor
from pipeline.engine.runner import run_pipeline
from pipeline.stages import PIPELINE
from pipeline.engine.shards import RECORDS_DIR

pytestmark = pytest.mark.slow  # whole runs on a Dask LocalCluster


@pytest.fixture(scope="module")
def runs(finished_run, make_tiny_config, tmp_path_factory):
    """The local run is the session's ``finished_run`` (the tiny config on the local executor,
    shared with other tests); the same config runs again on a 2-worker Dask LocalCluster."""
    folder = tmp_path_factory.mktemp("executors")
    local = load_config(make_tiny_config(  # finished_run's config
        folder, export={"units": {"consumption_pc_day": "USD/day"}}), env={})
    config = override_executor(local, "dask", workers=2)
    config = config.model_copy(update={"run_dir": folder / "dask"})
    run_pipeline(config, PIPELINE, quiet=True, progress=False)
    return {"local": finished_run, "dask": config.run_dir}


def test_catalogs_labels_and_cache_are_equal(runs):
    local, dask = runs["local"], runs["dask"]
    for stage, name in (("ingest", "tiles.parquet"), ("ingest", "clusters.parquet"),
                        ("label", "labels.parquet")):
        pd.testing.assert_frame_equal(pd.read_parquet(dask / stage / name),
                                      pd.read_parquet(local / stage / name), check_exact=True)
    assert (dask / "ingest" / "rejected.csv").read_text() == (local / "ingest" / "rejected.csv").read_text()
    assert (dask / "label" / "bins.json").read_text() == (local / "label" / "bins.json").read_text()
    shards = sorted(p.name for p in (local / "ingest" / "cache").iterdir())
    assert shards == sorted(p.name for p in (dask / "ingest" / "cache").iterdir()) and len(shards) == 3
    for name in shards:
        assert np.array_equal(np.load(dask / "ingest" / "cache" / name),
                              np.load(local / "ingest" / "cache" / name))


def test_features_and_predictions_agree(runs):
    local, dask = runs["local"], runs["dask"]
    a, b = (np.load(r / "extract" / "features.npy") for r in (local, dask))
    assert a.shape == b.shape == (100, a.shape[1])
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    grid_a, grid_b = (pd.read_parquet(r / "predict" / "grid.parquet") for r in (local, dask))
    assert list(grid_a["tile_id"]) == list(grid_b["tile_id"])
    if np.array_equal(a, b):  # TensorFlow gave bit-identical features (as on this project's CPUs)
        pd.testing.assert_frame_equal(grid_b, grid_a, check_exact=True)
    for column in [c for c in grid_a.columns if c.startswith("pred_")]:
        np.testing.assert_allclose(grid_b[column], grid_a[column], rtol=1e-5)


def test_the_dask_run_used_its_workers_and_says_so(runs):
    local, dask = runs["local"], runs["dask"]
    manifest = json.loads((dask / "manifest.json").read_text())
    assert manifest["run"]["executor"] == "dask" and manifest["run"]["status"] == "ok"
    assert manifest["stages"]["ingest"]["shards"] == {"shards": 3, "reused": 0, "ran": 3,
                                                      "retried": 0}
    for run, on_driver in ((local, True), (dask, False)):
        lines = [json.loads(line) for line in (run / "run.log").read_text().splitlines()]
        shard_lines = [e for e in lines if e.get("shard") is not None]
        assert {e["stage"] for e in shard_lines} >= {"ingest", "label"}
        label = sorted((e["shard"], e["counts"]["items"], e["counts"]["rows"])
                       for e in shard_lines if e["stage"] == "label")
        assert label == [(0, 40, 40), (1, 40, 40), (2, 20, 20)]  # footprints in, stats out
        pids = {int(e["worker"].rsplit(":", 1)[1]) for e in shard_lines}
        assert (pids == {os.getpid()}) is on_driver
    assert not list(dask.rglob(RECORDS_DIR)) and not list(dask.glob(".tmp-*"))
