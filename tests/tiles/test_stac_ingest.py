"""ingest from a STAC API: the catalog carries provenance, rejections have their reason, a run
killed during acquisition resumes to the same tiles, validate works offline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import yaml
from stac_scenes import CRS, S2_ASSETS
from pyproj import Transformer

from pipeline.cli.checks import check_inputs
from pipeline.config.schema import load_config
from pipeline.engine.runner import run_pipeline
from pipeline.errors import ConfigError, MissingArtifactError
from pipeline.stages import PIPELINE

REPO = Path(__file__).resolve().parents[2]
POINTS = [(800_150, 9_783_850), (800_500, 9_783_500), (800_800, 9_783_200),
          (800_300, 9_783_150), (800_700, 9_783_800)]


def write_config(folder: Path, api_url: str, run_dir: Path, **stac) -> Path:
    to_lonlat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    lonlat = [to_lonlat.transform(x, y) for x, y in POINTS]
    pd.DataFrame({"cluster_id": [f"c{i}" for i in range(len(POINTS))],
                  "lon": [p[0] for p in lonlat], "lat": [p[1] for p in lonlat],
                  "consumption_pc_day": [1.0, 2.0, 3.0, 4.0, 5.0]}).to_csv(
        folder / "survey.csv", index=False)
    (folder / "nightlights.tif").write_bytes(b"")  # not read by ingest
    config = {
        "name": "stac", "run_dir": str(run_dir),
        "data": {"tiles": {"source": "stac", "tile_size_px": 32, "scale": [0.0, 0.3],
                           "stac": {"url": api_url, "collection": "s2-test",
                                    "datetime": "2020-01-01/2020-12-31",
                                    "assets": list(S2_ASSETS), "max_cloud_cover": 50,
                                    "reach_km": 0.15, "retries": 2, "retry_delay_s": 0.05,
                                    **stac}},
                 "nightlights": {"path": "nightlights.tif"},
                 "survey": {"path": "survey.csv", "outcomes": ["consumption_pc_day"]},
                 "shard_size": 2},
        "regression": {"targets": [{"column": "consumption_pc_day"}]},
    }
    path = folder / "stac.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def ingest(path: Path) -> None:
    run_pipeline(load_config(path, env={}), PIPELINE, until_stage="ingest", quiet=True,
                 progress=False)


def cache_arrays(run_dir: Path) -> list[np.ndarray]:
    return [np.load(p) for p in sorted((run_dir / "ingest" / "cache").glob("shard_*.npy"))]


def test_ingest_from_stac_records_provenance_and_rejections(stac_world, tmp_path):
    path = write_config(tmp_path, stac_world.api_url, tmp_path / "run")
    ingest(path)
    ingest_dir = tmp_path / "run" / "ingest"
    catalog = gpd.read_parquet(ingest_dir / "tiles.parquet")
    assert set(catalog["stac_items"]) == {"S2-0,S2-1,S2-2"}
    assert catalog["stac_cloud_cover"].iloc[0] == "10,20,35"
    assert (catalog["clear_share"] >= 0.5).all() and (catalog["date"] == "2020-03-01").all()
    assert all(Path(p).is_file() and Path(p).parent == ingest_dir / "stac" for p in catalog["path"])
    rejected = pd.read_csv(ingest_dir / "rejected.csv")
    reasons = rejected.set_index("id")["reason"]
    assert reasons["stac/e2500_n30574"].startswith("too few clear observations")
    assert "stac/e2500_n30574" not in set(catalog["tile_id"])
    tiles = np.concatenate(cache_arrays(tmp_path / "run"))
    assert tiles.shape == (len(catalog), 32, 32, 3) and tiles.dtype == np.uint8


def test_validate_counts_stac_tiles_offline(stac_world, tmp_path):
    path = write_config(tmp_path, "http://127.0.0.1:9/unreachable", tmp_path / "run")
    found = check_inputs(load_config(path, env={}))
    assert found["tiles"] == 10


def test_stac_config_keeps_secrets_out(tmp_path):
    path = write_config(tmp_path, "http://127.0.0.1:9", tmp_path / "run", token_env="abc def")
    with pytest.raises(ConfigError, match="token_env: the NAME of an environment variable"):
        load_config(path, env={})


@pytest.mark.slow
def test_sigkill_during_acquisition_then_rerun_gives_the_same_tiles(stac_world, tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    whole.mkdir()
    killed.mkdir()
    ingest(write_config(whole, stac_world.api_url, whole / "run"))
    config = write_config(killed, stac_world.api_url, killed / "run")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-m", "pipeline", "run", str(config), "--until",
                                "ingest", "--quiet"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    stac_dir = killed / "run" / ".tmp-ingest" / "stac"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None \
            and len(list(stac_dir.glob("*.json"))) < 3:
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert not (killed / "run" / "ingest").exists()
    ingest(config)
    for a, b in zip(cache_arrays(whole / "run"), cache_arrays(killed / "run"), strict=True):
        np.testing.assert_array_equal(a, b)
    columns = ["tile_id", "stac_items", "clear_share"]
    pd.testing.assert_frame_equal(
        pd.read_parquet(whole / "run" / "ingest" / "tiles.parquet")[columns],
        pd.read_parquet(killed / "run" / "ingest" / "tiles.parquet")[columns])


@pytest.mark.parametrize("url", ["s3://bucket/viirs/2020.tif", "https://host/a/../b.tif",
                                 "/vsicurl/https://host/b.tif", "/vsis3/bucket/x.tif"])
def test_nightlight_urls_are_kept_as_written(tmp_path, url):
    path = write_config(tmp_path, "http://127.0.0.1:9", tmp_path / "run")
    data = yaml.safe_load(path.read_text())
    data["data"]["nightlights"]["path"] = url
    path.write_text(yaml.safe_dump(data))
    assert load_config(path, env={}).data.nightlights.path == url
    data["data"]["nightlights"]["path"] = "sub/../nl.tif"
    path.write_text(yaml.safe_dump(data))
    assert load_config(path, env={}).data.nightlights.path == tmp_path / "nl.tif"


def test_validate_probes_a_nightlight_url_by_opening_it(stac_world, tmp_path):
    path = write_config(tmp_path, stac_world.api_url, tmp_path / "run")
    data = yaml.safe_load(path.read_text())
    data["data"]["nightlights"]["path"] = f"{stac_world.cogs.url}/s2/S2-0/B04.tif"
    path.write_text(yaml.safe_dump(data))
    found = check_inputs(load_config(path, env={}))
    assert found["nightlights"].startswith("http://127.0.0.1")
    data["data"]["nightlights"]["path"] = f"{stac_world.cogs.url}/s2/missing.tif"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(MissingArtifactError, match="missing.tif: cannot open it.*"
                                                   "data.nightlights.path"):
        check_inputs(load_config(path, env={}))


@pytest.mark.parametrize("name", ["stac_sentinel2_planetary_computer.yaml",
                                  "stac_landsat_earth_search.yaml"])
def test_shipped_catalog_configs_validate_offline(tmp_path, name):
    """The shipped configs for real catalogs pass `validate` with no network: the survey and
    nightlights are swapped for local stand-ins, the tile section is kept as shipped."""
    shipped = yaml.safe_load((REPO / "configs" / name).read_text())
    stand_in = yaml.safe_load(write_config(tmp_path, "http://127.0.0.1:9",
                                           tmp_path / "run").read_text())
    shipped["data"]["survey"] = stand_in["data"]["survey"]
    shipped["data"]["nightlights"] = stand_in["data"]["nightlights"]
    shipped["run_dir"] = str(tmp_path / "run")
    shipped["model"]["weights"] = "none"
    shipped["regression"]["targets"] = [{"column": "consumption_pc_day"}]
    path = tmp_path / name
    path.write_text(yaml.safe_dump(shipped))
    config = load_config(path, env={})
    found = check_inputs(config)
    assert config.data.tiles.stac.url.startswith("https://") and found["tiles"] > 0
