"""Data manifests: the shipped ones load, `data verify` checks files, and the templates load."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.config.schema import load_config
from pipeline.engine.provenance import format_table, load_manifest, sha256, verify
from pipeline.errors import InputDataError

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("path", sorted((REPO / "data_manifests").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_manifests_load_and_say_where_data_comes_from(path):
    manifest = load_manifest(path)
    assert manifest.source.startswith("https://")
    assert manifest.licence and manifest.how_to_get and manifest.crs
    assert all(f.path.startswith("../data/") for f in manifest.files)
    if not manifest.redistribute:
        assert all(f.sha256 is None for f in manifest.files)  # must come from the user's download


def test_the_six_sources_of_a_country_run_are_shipped():
    names = {p.stem for p in (REPO / "data_manifests").glob("*.yaml")}
    assert {"viirs_vnl_v2_annual", "dmsp_ols_stable_lights_v4", "sentinel2_composite",
            "landsat8_composite", "dhs_survey", "lsms_survey"} <= names


@pytest.mark.parametrize("name", ["dhs_country.yaml", "lsms_country.yaml"])
def test_country_templates_load_and_reference_manifests(name):
    config = load_config(REPO / "configs" / name, env={})
    assert config.data.survey.recipe == name.split("_")[0]
    assert config.data.tiles.source == "mosaic"
    for manifest in config.data.manifests:
        load_manifest(manifest)


def write_manifest(folder: Path, files: list[dict], crs: str = "EPSG:32736") -> Path:
    path = folder / "source.yaml"
    path.write_text(yaml.safe_dump({
        "name": "test source", "description": "d", "source": "https://example.org",
        "how_to_get": "made here", "licence": "CC0", "redistribute": True, "crs": crs,
        "files": files}))
    return path


def test_verify_reports_each_check(tmp_path, tif_writer):
    good = tif_writer(tmp_path / "good.tif", np.ones((1, 4, 4), np.uint8))
    other = tif_writer(tmp_path / "wgs.tif", np.ones((1, 4, 4), np.uint8), crs="EPSG:4326")
    (tmp_path / "table.csv").write_text("a,b\n1,2\n")
    (tmp_path / "broken.tif").write_text("not a raster")
    manifest = write_manifest(tmp_path, [
        {"path": "good.tif", "kind": "raster", "sha256": sha256(good)},
        {"path": "wgs.tif", "kind": "raster", "sha256": None},
        {"path": "table.csv", "kind": "table", "sha256": "ab" * 32},
        {"path": "broken.tif", "kind": "raster"},
        {"path": "missing.tif", "kind": "raster"},
    ])
    checks = verify(manifest)
    assert [c.ok for c in checks] == [True, False, False, False, False]
    assert (checks[0].checksum, checks[0].opens, checks[0].crs) == ("ok", "ok", "ok")
    assert checks[1].checksum.startswith("unchecked") and checks[1].crs.startswith("MISMATCH")
    assert checks[2].checksum == "MISMATCH" and checks[2].opens == "ok" and checks[2].crs == "-"
    assert checks[3].opens.startswith("FAILED")
    assert not checks[4].exists
    table = format_table(checks)
    assert f"FAIL {other}: crs file is EPSG:4326, manifest says EPSG:32736" in table
    assert f"FAIL {tmp_path / 'missing.tif'}: missing" in table
    assert "2 file(s) have no sha256 in the manifest" in table  # wgs.tif, broken.tif


def test_verify_of_the_shared_sample_data(shared_data, tmp_path):
    sums = dict(line.split()[::-1] for line in (shared_data / "SHA256SUMS").read_text().splitlines())
    files = [{"path": "imagery/haiti_portauprince_rgbn_5m.tif", "kind": "raster",
              "sha256": sums["imagery/haiti_portauprince_rgbn_5m.tif"], "crs": "EPSG:32618"},
             {"path": "nightlights/burundi_viirs_2016.tif", "kind": "raster",
              "sha256": sums["nightlights/burundi_viirs_2016.tif"], "crs": "EPSG:4326"},
             {"path": "surveys/dhs_clusters_africa_2009_2016.csv", "kind": "table",
              "sha256": sums["surveys/dhs_clusters_africa_2009_2016.csv"]}]
    manifest = write_manifest(tmp_path, files)
    checks = verify(manifest, root=shared_data)
    assert all(c.ok for c in checks), format_table(checks)
    assert [c.checksum for c in checks] == ["ok"] * 3


def test_invalid_manifest_names_the_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nfiles: []\n")
    with pytest.raises(InputDataError, match=r"bad.yaml: invalid data manifest: description: "
                                             r"Field required"):
        load_manifest(path)


@pytest.mark.slow
def test_cli_data_verify_prints_the_table_and_exit_code(tmp_path, tif_writer):
    good = tif_writer(tmp_path / "good.tif", np.ones((1, 4, 4), np.uint8))
    ok = write_manifest(tmp_path, [{"path": "good.tif", "kind": "raster", "sha256": sha256(good)}])
    result = cli("data", "verify", ok)
    assert result.returncode == 0, result.stderr
    assert "good.tif  yes     ok      ok     ok   ok" in result.stdout
    bad = write_manifest(tmp_path, [{"path": "gone.tif", "kind": "raster"}])
    result = cli("data", "verify", bad)
    assert result.returncode == 3 and "gone.tif: missing" in result.stdout
    result = cli("data", "verify", tmp_path / "nope.yaml")
    assert result.returncode == 2 and result.stderr.startswith("error: ")
    assert "cannot read the data manifest" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_vector_gdal_cannot_open_is_a_failed_row_and_exit_3(tmp_path):
    pd.DataFrame({"a": [1, 2]}).to_stata(tmp_path / "clusters.dta", write_index=False)
    manifest = write_manifest(tmp_path, [{"path": "clusters.dta", "kind": "vector"}])
    check, = verify(manifest)
    assert not check.ok and check.opens.startswith("FAILED: ")
    assert "not recognized as being in a supported file format" in check.opens
    result = cli("data", "verify", manifest)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert f"FAIL {tmp_path / 'clusters.dta'}: does not open (" in result.stdout
