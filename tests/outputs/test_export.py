"""export on a finished tiny run: the COG, the vector files, the map, map.html, report.html."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml
from PIL import Image
from pyproj import Transformer

from pipeline.cli.main import main
from pipeline.config.schema import load_config
from pipeline.geo.cog import cog_problems
from pipeline.engine.runner import run_pipeline

pytestmark = pytest.mark.slow  # a finished run

CHROMIUM = Path("/usr/bin/chromium")


def test_cog_is_valid_and_georeferenced_where_the_tiles_are(finished_run):
    cog_validate = pytest.importorskip("rio_cogeo.cogeo").cog_validate
    path = finished_run / "export" / "predictions.tif"
    valid, errors, _ = cog_validate(str(path))
    assert valid, errors
    assert cog_problems(path) == []
    grid = gpd.read_parquet(finished_run / "predict" / "grid.parquet")
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 32736 and np.isnan(src.nodata)
        assert src.compression is not None
        assert bool(src.overviews(1)) == (max(src.shape) > src.block_shapes[0][0])
        assert src.descriptions[0] == "pred_consumption_pc_day"
        assert set(src.descriptions) >= {"pred_asset_index"}
        to_utm = Transformer.from_crs(4326, src.crs, always_xy=True)
        x, y = to_utm.transform(grid["lon"].to_numpy(), grid["lat"].to_numpy())
        left, bottom, right, top = src.bounds
        assert ((x > left) & (x < right) & (y > bottom) & (y < top)).all()
        band = src.read(1)
        rows, cols = rasterio.transform.rowcol(src.transform, x, y)
    assert band[rows, cols] == pytest.approx(grid["pred_consumption_pc_day"].to_numpy(), rel=1e-5)
    assert np.isfinite(band).sum() == len(grid)
    catalog = pd.read_parquet(finished_run / "ingest" / "tiles.parquet")
    width, height = (catalog["maxx"] - catalog["minx"]), (catalog["maxy"] - catalog["miny"])
    assert src.res == pytest.approx((width.iloc[0], height.iloc[0]))  # abutting tiles: the stride is the tile size
    counts = json.loads((finished_run / "manifest.json").read_text())["stages"]["export"]["counts"]
    assert counts["tiles_sharing_pixels"] == 0 and counts["tiles_outside_cells"] == 0


def test_vector_files_round_trip_with_crs_and_rows(finished_run):
    out = finished_run / "export"
    gpkg = gpd.read_file(out / "predictions.gpkg", layer="predictions")
    parquet = gpd.read_parquet(out / "predictions.parquet")
    csv = pd.read_csv(out / "predictions.csv")
    for frame in (gpkg, parquet, csv):
        assert len(frame) == 100 and frame["n_tiles"].sum() == 100
    assert gpkg.crs.to_epsg() == 4326 and parquet.crs.to_epsg() == 4326
    assert list(gpkg["cell_id"]) == list(parquet["cell_id"]) == list(csv["cell_id"])
    assert parquet["pred_consumption_pc_day"].to_numpy() == pytest.approx(
        csv["pred_consumption_pc_day"].to_numpy())
    points = gpd.GeoSeries(gpd.points_from_xy(csv["lon"], csv["lat"]), crs=4326)
    inside = parquet.geometry.contains(points, align=False)
    assert inside.all()


def test_map_png_has_colour_bar_units_scale_bar_and_clusters(finished_run):
    from pipeline.runs.api import load_run

    run = load_run(finished_run)
    fig = run.plot_map()
    ax, colourbar = fig.axes
    assert colourbar.get_ylabel().startswith("predicted consumption_pc_day (USD/day)")
    assert ax.get_title().startswith("tiny: predicted consumption_pc_day (")
    texts = [t.get_text() for t in ax.texts]
    assert any(t.endswith("km") or t.endswith(" m") for t in texts) and "N" in texts
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith(f"survey clusters (n={len(run.clusters)})") for t in legend)
    assert "region" in legend
    with Image.open(finished_run / "export" / "map.png") as png:
        assert png.width >= 1000 and png.height >= 800


def test_map_html_has_cells_markers_popups_layers_and_legend(finished_run):
    text = (finished_run / "export" / "map.html").read_text()
    clusters = gpd.read_parquet(finished_run / "aggregate" / "clusters.parquet")
    assert text.count("L.circleMarker(") == len(clusters) > 50
    assert text.count("predicted (out of fold)") == len(clusters)
    assert "interval" in text and "L.control.layers" in text
    assert "predicted consumption_pc_day (USD/day)" in text  # the legend's caption
    assert '"tile_r000_c000"' in text  # the cells layer


def test_report_is_self_contained(finished_run):
    text = (finished_run / "export" / "report.html").read_text()
    for section in ("Summary", "Rejected rows", "Stages", "Training", "confusion matrix",
                    "Evaluation", "Map", "Config"):
        assert section in text, section
    assert "missing-GPS" in text  # the two rejected survey rows
    assert "R² gain over each baseline" in text
    assert re.search(r"[+-]\d\.\d{3} \[[+-]\d\.\d{3}, [+-]\d\.\d{3}\]", text)
    assert text.count('src="data:image/png;base64,') >= 3
    assert "<script" not in text and 'src="http' not in text and 'href="http' not in text


def screenshot(html: Path, png: Path, profile: Path) -> None:
    subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={profile}", "--hide-scrollbars",
         "--window-size=1200,2400", f"--screenshot={png}", html.as_uri()],
        check=True, capture_output=True, timeout=120)


def test_report_renders_in_headless_chromium(finished_run, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent; install Debian's chromium (apt-get install chromium) "
                    "to render report.html in a real browser")
    png = tmp_path / "report.png"
    screenshot(finished_run / "export" / "report.html", png, tmp_path / "profile")
    with Image.open(png) as image:
        pixels = np.moveaxis(np.asarray(image.convert("RGB"), dtype=np.int64), -1, 0)
    assert pixels.shape[1:] == (2400, 1200)
    non_white = (pixels.min(axis=0) < 240).mean()
    header = pixels[:, 10:60, 100:1100].mean(axis=(1, 2))  # the dark blue banner
    assert non_white > 0.10, f"only {non_white:.1%} of the page is not white"
    assert header[2] > header[0] + 20 and header.max() < 120
    assert len(np.unique(pixels.reshape(3, -1).T[::97], axis=0)) > 50  # figures, not flat colour


def test_cli_export_rewrites_chosen_formats_into_a_folder(finished_run, tmp_path, capsys):
    assert main(["export", str(finished_run), "--format", "csv,gpkg", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.csv", "predictions.gpkg"]
    assert str(tmp_path / "predictions.csv") in capsys.readouterr().out
    assert main(["export", str(finished_run), "--format", "jpeg", "--out", str(tmp_path)]) == 2
    assert "'jpeg' is not a format" in capsys.readouterr().err
    bare = tmp_path / "bare"
    bare.mkdir()
    assert main(["export", str(bare)]) == 2
    assert "no saved config" in capsys.readouterr().err


def test_changing_the_grid_reruns_only_export(finished_run, tmp_path, spied_pipeline):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    data = yaml.safe_load((run_dir / "config.yaml").read_text())
    data["run_dir"] = str(run_dir)
    data["export"]["grid"] = {"kind": "regular", "cell_km": 1.5}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(data))
    stages, calls = spied_pipeline
    run_pipeline(load_config(tmp_path / "c.yaml", env={}), stages, quiet=True, progress=False)
    assert calls == ["export"]
    cells = gpd.read_parquet(run_dir / "export" / "predictions.parquet")
    assert 30 > len(cells) > 4 and cells["n_tiles"].sum() == 100
    assert set(cells["cell_id"].str.count("_")) == {1}


def test_map_html_of_many_cells_uses_one_image_layer(finished_run, tmp_path, monkeypatch):
    from pipeline.runs.api import load_run
    from pipeline.outputs import webmap

    monkeypatch.setattr(webmap, "MAX_VECTOR_CELLS", 10)
    load_run(finished_run).export(["html"], out=tmp_path)
    text = (tmp_path / "map.html").read_text()
    assert "L.imageOverlay(" in text and '"tile_r000_c000"' not in text
    assert text.count("L.circleMarker(") > 50
