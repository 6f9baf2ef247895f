"""Shared fixtures: a tiny demo world (generated from a seed) and configs that point at it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
SHARED_WEIGHTS = REPO.parent / "shared" / "data" / "weights"
MOBILENET_FILE = "mobilenet_2_5_224_tf_no_top.h5"


# The test files that take a minute or more of one worker (pytest --durations, 2026-12-03: the
# demo run's fixture 226 s, the kill in every stage 153 s, ...), run first. `make test` gives
# whole files to two xdist workers in collection order (--no-loadscope-reorder; xdist's own
# order puts files with many tests first, which left these few-test files to the end, one
# worker busy for minutes while the other waited).
LONGEST_FIRST = (
    "test_demo_run.py", "robustness/test_sigkill.py", "stages/test_train_extract.py",
    "test_notebooks.py", "engine/test_dask_end_to_end.py", "cli/test_cli.py",
    "benchmarks/test_extract_bench.py", "models/test_training.py",
    "runs/test_bundle_predict_change.py", "test_end_to_end.py", "outputs/test_export.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: n for n, name in enumerate(LONGEST_FIRST)}
    tests = Path(__file__).resolve().parent
    items.sort(key=lambda item: rank.get(item.path.relative_to(tests).as_posix(),
                                         len(LONGEST_FIRST)))


@pytest.fixture(scope="session")
def weights_dir() -> Path:
    """The folder with MobileNet 0.25's real ImageNet weights (../shared/data/weights)."""
    if not (SHARED_WEIGHTS / MOBILENET_FILE).is_file():
        pytest.skip(f"{SHARED_WEIGHTS / MOBILENET_FILE} is absent (it lives beside the project's "
                    "own checkout, not in a user's clone); no ImageNet weights offline")
    return SHARED_WEIGHTS


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipeline.demo import WorldSpec, generate_world

    out = tmp_path_factory.mktemp("world")
    spec = WorldSpec(seed=3, n_tiles_x=10, n_tiles_y=10, tile_size_px=32, n_clusters=80)
    return generate_world(out, spec, progress=False)


def tiny_config_dict(world: Path, run_dir: Path) -> dict:
    """A config for the tiny world: 32 px tiles, random init, one epoch per phase."""
    return {
        "name": "tiny",
        "run_dir": str(run_dir),
        "seed": 0,
        "data": {
            "tiles": {"path": str(world / "tiles"), "tile_size_px": 32},
            "nightlights": {"path": str(world / "nightlights.tif")},
            "survey": {"path": str(world / "survey.csv"),
                       "outcomes": ["consumption_pc_day", "asset_index"], "urban": "urban"},
            "shard_size": 40,
        },
        "model": {"weights": "none", "input_size_px": 32, "batch_size": 32, "head_epochs": 1,
                  "finetune_epochs": 1, "unfreeze_layers": 4, "validation_block_km": 0.5},
        "aggregate": {"radius_km": 0.6},
        "regression": {"targets": [{"column": "consumption_pc_day", "log": True},
                                   {"column": "asset_index"}],
                       "folds": 3, "spatial_block_km": 0.8},
    }


@pytest.fixture(scope="session")
def make_tiny_config(tiny_world: Path):
    """A function writing the tiny config (with optional section overrides) to a folder."""

    def write(folder: Path, **sections: dict) -> Path:
        data = tiny_config_dict(tiny_world, folder / "run")
        for key, values in sections.items():
            data.setdefault(key, {}).update(values)
        path = folder / "tiny.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    return write


def write_tif(path: Path, data, crs: str | None = "EPSG:32736", transform=None,
              nodata: float | None = None, tags: dict | None = None) -> Path:
    """Write a band-first array as a GeoTIFF (default: 10 m pixels in UTM 36S)."""
    import rasterio
    from rasterio.transform import from_origin

    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {"driver": "GTiff", "width": data.shape[2], "height": data.shape[1],
               "count": data.shape[0], "dtype": data.dtype.name,
               "transform": transform or from_origin(700000, 8500000, 10, 10)}
    if crs:
        profile["crs"] = crs
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        if tags:
            dst.update_tags(**tags)
    return path


@pytest.fixture
def tif_writer():
    """``write_tif(path, data, crs=..., transform=..., nodata=..., tags=...)`` for small GeoTIFFs."""
    return write_tif


SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real rasters and surveys); skips when it is absent."""
    if not (SHARED_DATA / "imagery").is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (real sample data lives beside the project's own "
                    "checkout, not in a user's clone)")
    return SHARED_DATA


@pytest.fixture
def spied_pipeline():
    """(stages, calls): the real pipeline, each stage's ``run`` recording its name in ``calls``
    before it runs."""
    import dataclasses

    from pipeline.stages import PIPELINE

    calls: list[str] = []

    def spied(stage):
        def run(ctx):
            calls.append(stage.name)
            return stage.run(ctx)

        return dataclasses.replace(stage, run=run)

    return tuple(spied(stage) for stage in PIPELINE), calls


@pytest.fixture(scope="session")
def finished_run(make_tiny_config, tmp_path_factory) -> Path:
    """A complete run of the tiny world (every stage; export with units), shared by the tests of
    export, the analyst API and the notebooks. Treat it as read-only."""
    from pipeline.config.schema import load_config
    from pipeline.engine.runner import run_pipeline
    from pipeline.stages import PIPELINE

    path = make_tiny_config(tmp_path_factory.mktemp("finished"),
                            export={"units": {"consumption_pc_day": "USD/day"}})
    config = load_config(path, env={})
    run_pipeline(config, PIPELINE, quiet=True, progress=False)
    return config.run_dir


@pytest.fixture
def file_server(tmp_path: Path):
    """(folder, url): a folder served with range requests on 127.0.0.1 (the demo's COG server)
    by another process. pyogrio holds the GIL while GDAL reads, so a server thread in the test's
    own process would never answer it."""
    import subprocess
    import sys

    folder = tmp_path / "served"
    folder.mkdir()
    # the module alone (stdlib only), not the demo package that imports the world generator
    code = ("import importlib.util as u, sys, time; spec = u.spec_from_file_location('cogs', "
            "sys.argv[1]); m = sys.modules['cogs'] = u.module_from_spec(spec); "
            "spec.loader.exec_module(m); "
            "s = m.CogServer(sys.argv[2]); print(s.url, flush=True); time.sleep(300)")
    server = REPO / "pipeline" / "demo" / "cog_server.py"
    proc = subprocess.Popen([sys.executable, "-c", code, str(server), str(folder)],
                            stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), f"the file server did not start: {url!r}"
        yield folder, url
    finally:
        proc.kill()
        proc.wait(timeout=10)


S3_ENV = {"AWS_HTTPS": "NO", "AWS_VIRTUAL_HOSTING": "FALSE", "AWS_ACCESS_KEY_ID": "testing",
          "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}
"""What a user sets for an S3-compatible store that is not AWS (docs/data.md), less the
endpoint."""


@pytest.fixture
def s3_store(monkeypatch: pytest.MonkeyPatch):
    """(bucket, put): an S3-compatible server (moto's) on 127.0.0.1 in another process, with an
    empty bucket, and the environment variables a user sets for such a store (docs/data.md);
    ``put(local_file, key)`` uploads with boto3. GDAL holds the GIL while it downloads, so the
    server cannot be a thread of the test's own process."""
    import subprocess
    import sys

    boto3 = pytest.importorskip("boto3")
    pytest.importorskip("moto.server", reason="moto (the dev extra) is not installed")
    code = ("import time; from moto.server import ThreadedMotoServer; "
            "s = ThreadedMotoServer('127.0.0.1', 0, verbose=False); s.start(); "
            "print(s.get_host_and_port()[1], flush=True); time.sleep(300)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)  # no request log
    try:
        port = proc.stdout.readline().strip()
        assert port.isdigit(), f"the S3 server did not start: {port!r}"
        for key, value in {**S3_ENV, "AWS_S3_ENDPOINT": f"127.0.0.1:{port}",
                           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}.items():
            monkeypatch.setenv(key, value)
        client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}")
        client.create_bucket(Bucket="lights")

        def put(local: Path, key: str) -> None:
            client.upload_file(str(local), "lights", key)

        yield "lights", put
    finally:
        proc.kill()
        proc.wait(timeout=10)
