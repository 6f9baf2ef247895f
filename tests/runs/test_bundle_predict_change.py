"""Train once, map anywhere: bundle the tiny run, map a world without a survey, map a planted
change, and find it in the change map where it was planted and not elsewhere."""

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from pipeline.cli.main import main
from pipeline.demo import WorldSpec, generate_world

pytestmark = pytest.mark.slow

TINY = dict(seed=3, n_tiles_x=10, n_tiles_y=10, tile_size_px=32, n_clusters=80)


@pytest.fixture(scope="module")
def bundle(finished_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("bundles") / "tiny-bundle"
    assert main(["bundle", str(finished_run), str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def signal_bundle(make_tiny_config, weights_dir, tmp_path_factory):
    """A bundle whose maps vary: ImageNet weights, and small ridge penalties only (the tiny
    random-init run's ridge is constant, so it could not show a change)."""
    folder = tmp_path_factory.mktemp("signal")
    path = make_tiny_config(folder, model={"weights": "imagenet", "weights_dir": str(weights_dir)},
                            regression={"alphas": [1.0, 10.0], "bootstrap": 0})
    assert main(["run", str(path), "--quiet"]) == 0
    assert main(["bundle", str(folder / "run"), str(folder / "bundle")]) == 0
    return folder / "bundle"


@pytest.fixture(scope="module")
def maps(signal_bundle, tiny_world, tmp_path_factory):
    """Prediction runs of the training world's tiles (year A) and of the same world with a
    town planted (year B)."""
    root = tmp_path_factory.mktemp("maps")
    planted = generate_world(root / "world_b", WorldSpec(**TINY, plant="town"), progress=False)
    for name, world in (("a", tiny_world), ("b", planted)):
        assert main(["predict", str(signal_bundle), "--tiles", str(world / "tiles"),
                     "--out", str(root / name), "--name", name, "--quiet"]) == 0
    return root, json.loads((planted / "world.json").read_text())["planted"]


def test_the_bundle_holds_what_prediction_needs_and_a_model_card(bundle, finished_run):
    info = json.loads((bundle / "bundle.json").read_text())
    assert info["tiles"]["bands"] == [1, 2, 3] and info["tiles"]["tile_size_px"] == 32
    assert info["tiles"]["resolution_m"] == pytest.approx(15.0)
    assert info["features"]["neighbourhood"] == {"radius_km": 0.6, "box_km": None}
    assert [t["column"] for t in info["targets"]] == ["consumption_pc_day", "asset_index"]
    card = json.loads((bundle / "model_card.json").read_text())
    r2 = card["targets"]["asset_index"]["cv"]["random"]["model"]["r2"]
    fit = json.loads((finished_run / "fit" / "metrics.json").read_text())
    assert r2 == fit["targets"]["asset_index"]["schemes"]["random"]["all"]["model"]["r2"]
    text = (bundle / "MODEL_CARD.md").read_text()
    assert "## Known limits" in text and "## Out-of-distribution rule" in text
    assert main(["bundle", str(finished_run), str(bundle)]) == 2  # never overwritten


def test_a_prediction_run_maps_the_training_tiles_as_the_training_run_did(bundle, finished_run,
                                                                         tiny_world, tmp_path):
    root = tmp_path
    assert main(["predict", str(bundle), "--tiles", str(tiny_world / "tiles"),
                 "--out", str(root / "a"), "--quiet"]) == 0
    mine = gpd.read_parquet(root / "a" / "predict" / "grid.parquet")
    theirs = gpd.read_parquet(finished_run / "predict" / "grid.parquet")
    assert list(mine["tile_id"]) == list(theirs["tile_id"])
    for column in ("pred_asset_index", "upper_consumption_pc_day", "ood_asset_index"):
        np.testing.assert_allclose(mine[column].to_numpy(float), theirs[column].to_numpy(float),
                                   rtol=1e-4, atol=1e-5)
    assert not (root / "a" / "ingest" / "clusters.parquet").exists()
    report = (root / "a" / "export" / "report.html").read_text()
    assert "Out of distribution" in report and "Model bundle" in report
    manifest = json.loads((root / "a" / "manifest.json").read_text())
    assert "ood_share_asset_index" in manifest["stages"]["predict"]["counts"]
    assert main(["predict", str(root / "missing"), "--tiles", "x", "--out",
                 str(root / "c")]) == 2


def test_the_change_map_finds_the_planted_town_and_little_elsewhere(maps):
    root, planted = maps
    out = root / "change"
    assert main(["change", str(root / "a"), str(root / "b"), "--out", str(out)]) == 0
    for name in ("change.tif", "change.gpkg", "change.parquet", "change.csv",
                 "change_asset_index.png", "change.html"):
        assert (out / name).stat().st_size > 0
    cells = pd.read_parquet(out / "change.parquet")
    assert len(cells) == 100
    here = cells["cell_id"].isin(planted["tiles"]).to_numpy()
    grid = pd.read_parquet(root / "b" / "predict" / "grid.parquet").set_index("tile_id")
    lon, lat = grid.loc[cells["cell_id"], "lon"].to_numpy(), grid.loc[cells["cell_id"], "lat"].to_numpy()
    km = np.hypot((lon[:, None] - lon[here][None]) * 111.32 * np.cos(np.radians(lat[:, None])),
                  (lat[:, None] - lat[here][None]) * 110.57).min(axis=1)
    far = km > 0.6 + 0.5  # beyond the neighbourhood (0.6 km) and a tile of the planted area
    for target in ("asset_index", "consumption_pc_day"):
        change = np.abs(cells[f"change_{target}"].to_numpy())
        # found where planted: every planted tile's value moved
        assert (change[here] > 1e-4).all()
        # not elsewhere: beyond the neighbourhood the tiles are the same, and so is the map
        assert (change[far] > 1e-6).mean() == 0
        assert not cells.loc[far, f"changed_{target}"].any()
        assert (cells[f"change_lower_{target}"] <= cells[f"change_{target}"]).all()
        assert (cells[f"change_upper_{target}"] >= cells[f"change_{target}"]).all()
