"""`poverty-pipeline init`: inspects the files, writes a config that loads and runs."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
import rasterio
from rasterio.crs import CRS

from pipeline.config.reference import summary
from pipeline.config.schema import load_config
from pipeline.errors import ConfigError, InputDataError
from pipeline.cli.init import InitRequest, report, write_config
from pipeline.engine.runner import run_pipeline
from pipeline.stages import PIPELINE


def request(world: Path, out: Path, **kw) -> InitRequest:
    args = {"out": out, "tiles": world / "tiles", "nightlights": world / "nightlights.tif",
            "survey": world / "survey.csv", "id": "cluster_id", "lat": "lat", "lon": "lon",
            "outcomes": ("consumption_pc_day", "asset_index"), "year": "year", "urban": "urban"}
    return InitRequest(**{**args, **kw})


@pytest.mark.slow
def test_init_writes_a_config_that_loads_and_runs(tiny_world, tmp_path):
    out = tmp_path / "configs" / "tiny country.yaml"
    path, findings = write_config(request(tiny_world, out))
    text = path.read_text()
    assert text.startswith("# Written by `poverty-pipeline init`")
    # each key's comment is its description's first sentence, as in docs/configuration.md
    assert f"  # {summary('labels.n_classes')}\n  n_classes: 3\n" in text
    assert "# found: a folder of 100 GeoTIFF file(s)" in text
    config = load_config(path, env={})
    assert config.name == "tiny_country"
    assert config.data.tiles.path == tiny_world / "tiles"
    assert config.data.tiles.tile_size_px == 32 and config.data.tiles.scale is None
    assert config.data.survey.year == "year" and config.data.survey.urban == "urban"
    assert [(t.column, t.log) for t in config.regression.targets] == [
        ("consumption_pc_day", True), ("asset_index", False)]
    assert yaml.safe_load(text)["data"]["tiles"]["path"].startswith("../")  # relative paths
    lines = report(findings).splitlines()
    assert lines[0].startswith("tiles: folder, 100 file(s) (50 inspected), CRS {'EPSG:32736': 50}")
    assert lines[2].startswith("survey: 82 rows")
    config = config.model_copy(update={"run_dir": tmp_path / "run"})
    outcomes = run_pipeline(config, PIPELINE, until_stage="label", quiet=True, progress=False)
    assert [o.status for o in outcomes] == ["done", "done"]


def test_init_on_a_mosaic_chooses_windows_from_the_ground_resolution(shared_data, tmp_path):
    req = InitRequest(out=tmp_path / "c.yaml",
                      tiles=shared_data / "imagery" / "haiti_portauprince_rgbn_5m.tif",
                      nightlights=shared_data / "nightlights" / "burundi_viirs_2016.tif",
                      survey=shared_data / "surveys" / "dhs_clusters_africa_2009_2016.csv",
                      id="year", lat="lat", lon="lon", outcomes=("wealthpooled",),
                      country="country")
    path, findings = write_config(req)
    config = load_config(path, env={})
    # 1 km windows (200 px at 5 m) give only 4 windows of 515 x 403 px, so ~100 windows instead
    assert config.data.tiles.window_px == int(np.sqrt(515 * 403 / 100)) == 45
    assert config.data.tiles.tile_size_px == 45
    assert config.data.nightlights.year == 2016
    assert config.regression.targets[0].log is False
    assert findings.nightlight_range[1] == pytest.approx(13.3, abs=0.1)


def test_bad_column_or_tiles_fail_before_anything_is_written(tiny_world, tmp_path, tif_writer):
    out = tmp_path / "c.yaml"
    with pytest.raises(InputDataError, match=r"'consumption' \(did you mean 'consumption_pc_day'"):
        write_config(request(tiny_world, out, outcomes=("consumption",)))
    thin = tif_writer(tmp_path / "thin" / "a.tif", np.ones((1, 8, 8), np.uint8))
    with pytest.raises(InputDataError, match=r"a.tif has 1 band\(s\); the model needs 3 or more"):
        write_config(request(tiny_world, out, tiles=thin.parent))
    with pytest.raises(InputDataError, match="nope.tif: file not found \\(--nightlights\\)"):
        write_config(request(tiny_world, out, nightlights=tmp_path / "nope.tif"))
    site = tif_writer(tmp_path / "site" / "a.tif", np.ones((3, 8, 8), np.uint8),
                      crs=CRS.from_wkt('LOCAL_CS["site",UNIT["metre",1]]'))
    with pytest.raises(InputDataError, match=r"a.tif: its CRS LOCAL_CS.* cannot be placed on the"):
        write_config(request(tiny_world, out, tiles=site.parent))
    assert not out.exists()
    out.write_text("keep me")
    with pytest.raises(ConfigError, match="already exists"):
        write_config(request(tiny_world, out))
    assert out.read_text() == "keep me"


@pytest.mark.slow
def test_cli_init(tiny_world, tmp_path):
    base = [sys.executable, "-m", "pipeline", "init", str(tmp_path / "c.yaml"),
            "--tiles", str(tiny_world / "tiles"), "--nightlights", str(tiny_world / "nightlights.tif"),
            "--survey", str(tiny_world / "survey.csv"), "--id", "cluster_id", "--lat", "lat",
            "--lon", "lon"]
    ok = subprocess.run(base + ["--outcome", "asset_index"], capture_output=True, text=True,
                        timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "survey: 82 rows" in ok.stdout and f"wrote {tmp_path / 'c.yaml'}" in ok.stdout
    bad = subprocess.run(base + ["--outcome", "wealth", "--force"], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("error: ") and "'wealth'" in bad.stderr


def test_log_is_decided_by_the_values_and_the_name_only_breaks_ties():
    from pipeline.cli.init import log_decision

    rng = np.random.default_rng(0)
    skewed = rng.lognormal(0.0, 0.8, 500)  # consumption-like, whatever the column is called
    logged, why = log_decision("cons_pc", skewed)
    assert logged and "skewness G1" in why and "> 1" in why
    assert log_decision("x1", skewed)[0]  # any name
    symmetric = rng.normal(10.0, 1.0, 500)
    logged, why = log_decision("consumption", symmetric)
    assert not logged and why.startswith("raw: skewness G1") and "<= 0.5" in why
    assert not log_decision("consumption", np.r_[skewed, 0.0])[0]  # a zero: log undefined
    middle = np.r_[np.full(70, 1.0), np.full(30, 3.0)] + rng.uniform(0, 0.01, 100)  # G1 0.88
    g1_between = log_decision("wealth", middle)
    assert not g1_between[0] and "name decided" in g1_between[1]
    assert log_decision("expenditure", middle)[0]


def truncated_tiles(tiny_world: Path, folder: Path) -> Path:
    """10 good tiles of the tiny world, a COG cut after its header (it still opens, its
    georeferencing lost), one cut in half (its directory lost) and one without georeferencing."""
    import shutil

    from rasterio.shutil import copy as raster_copy

    folder.mkdir()
    good = sorted((tiny_world / "tiles").glob("*.tif"))[:10]
    for path in good:
        shutil.copy(path, folder / path.name)
    raster_copy(good[0], folder / "cog.tif", driver="COG")
    (folder / "0_cut.tif").write_bytes((folder / "cog.tif").read_bytes()[:500])
    (folder / "cog.tif").unlink()
    (folder / "zz_half.tif").write_bytes(good[1].read_bytes()[:good[1].stat().st_size // 2])
    with rasterio.open(good[2]) as src, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # writing without a geotransform warns too
        with rasterio.open(folder / "plain.tif", "w", driver="GTiff", width=src.width,
                           height=src.height, count=src.count, dtype=src.dtypes[0]) as dst:
            dst.write(src.read())
    return folder


def test_init_reports_unreadable_tiles_and_still_writes_the_config(tiny_world, tmp_path,
                                                                    recwarn, capfd):
    tiles = truncated_tiles(tiny_world, tmp_path / "tiles")
    path, findings = write_config(request(tiny_world, tmp_path / "c.yaml", tiles=tiles))
    assert load_config(path, env={}).data.tiles.path == tiles
    t = findings.tiles
    assert (t.n_files, t.inspected, len(t.sampled)) == (13, 13, 11)
    assert [p.name for p, _ in t.unreadable] == ["0_cut.tif", "zz_half.tif"]
    lines = report(findings).splitlines()
    unreadable = next(line for line in lines if line.startswith("unreadable tiles:"))
    assert unreadable.startswith("unreadable tiles: 2 of the 13 inspected; ingest will reject "
                                 "these: 0_cut.tif: truncated GeoTIFF (the file has 500 bytes, "
                                 "its pixel blocks run to byte ")
    assert "zz_half.tif: not a readable GeoTIFF" in unreadable and "has no CRS" not in unreadable
    # what rasterio said about the file without georeferencing: one line, not a raw warning
    said = [line for line in lines if line.startswith("rasterio: ")]
    assert said == ["rasterio: Dataset has no geotransform, gcps, or rpcs. The identity matrix "
                    "will be returned. (1 file(s): plain.tif)"]
    assert "2 of 13 inspected unreadable (ingest rejects these)" in path.read_text()
    assert not [w for w in recwarn if "rasterio" in w.filename or "geotransform" in str(w.message)]
    assert capfd.readouterr().err == ""


def test_a_truncated_tile_is_rejected_as_truncated_not_as_lacking_a_crs(tiny_world, tmp_path):
    from pipeline.tiles.reading import read_tile

    tiles = truncated_tiles(tiny_world, tmp_path / "tiles")
    with pytest.raises(InputDataError, match=r"0_cut.tif: truncated GeoTIFF \(the file has 500 "
                                             r"bytes.*download or copy it again"):
        read_tile(tiles / "0_cut.tif", (1, 2, 3), 32, None)


def test_init_stops_only_when_no_sampled_tile_can_be_read(tiny_world, tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    for i in range(5):
        (folder / f"t{i}.tif").write_bytes(b"II*\x00" + bytes(40))
    with pytest.raises(InputDataError, match=r"none of the 5 inspected tile file\(s\) can be "
                                             r"read; t0.tif: not a readable GeoTIFF .*; and 2 more"):
        write_config(request(tiny_world, tmp_path / "c.yaml", tiles=folder))
    assert not (tmp_path / "c.yaml").exists()
