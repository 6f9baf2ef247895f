"""Output grids against hand-computed cells and means."""

from __future__ import annotations

from types import SimpleNamespace

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin
from shapely.geometry import Point, Polygon, box

from pipeline.config.schema import ExportConfig, GridConfig
from pipeline.errors import ConfigError, InputDataError
from pipeline.geo import grids
from pipeline.geo.polygons import read_polygons
from pipeline.stages.export import input_files


def tile_grid(lon, lat, values, size_deg=0.001):
    """Per-tile predictions at points, with small square footprints."""
    return gpd.GeoDataFrame(
        {"tile_id": [f"t{i}" for i in range(len(lon))], "lon": lon, "lat": lat,
         "n_tiles": 9, "pred_y": values},
        geometry=[box(x - size_deg / 2, y - size_deg / 2, x + size_deg / 2, y + size_deg / 2)
                  for x, y in zip(lon, lat)], crs="EPSG:4326")


def test_value_columns_put_predictions_first_and_skip_bookkeeping():
    frame = pd.DataFrame({"tile_id": ["a"], "lon": [0.0], "lat": [0.0], "n_tiles": [3],
                          "ood_y": [True], "other": [2.0], "pred_y": [1.0], "lower_y": [0.5], "name": ["x"]})
    assert grids.value_columns(frame) == ["pred_y", "lower_y", "ood_y", "other"]


def test_quadkey_matches_bing_example_and_polygon_contains_point():
    # Bing Maps Tile System: tile (x=3, y=5) at level 3 has quadkey "213".
    lon = (3.5 / 8) * 360 - 180
    lat = float(np.degrees(np.arctan(np.sinh(np.pi * (1 - 2 * 5.5 / 8)))))
    assert grids.quadkey(lon, lat, 3) == "213"
    poly = grids.quadkey_polygon("213")
    assert poly.bounds[0] == pytest.approx(3 / 8 * 360 - 180)
    assert poly.bounds[2] == pytest.approx(4 / 8 * 360 - 180)
    assert poly.contains(Point(lon, lat))


def test_regular_cells_index_from_the_crs_origin():
    ids, shapes = grids.regular_cells(np.array([500.0, 1500.0, 999.0, -1.0]),
                                      np.array([10.0, 10.0, 2500.0, -1.0]), 1000.0)
    assert ids.tolist() == ["0_0", "1_0", "0_2", "-1_-1"]
    assert shapes["1_0"].bounds == (1000.0, 0.0, 2000.0, 1000.0)
    assert len(shapes) == 4


def test_regular_grid_means_weighted_and_plain():
    to_ll = Transformer.from_crs(32736, 4326, always_xy=True)
    xs = np.array([500_100.0, 500_900.0, 501_500.0, 500_500.0])
    ys = np.array([9_700_100.0, 9_700_900.0, 9_700_500.0, 9_700_500.0])
    lon, lat = to_ll.transform(xs, ys)
    grid = tile_grid(lon, lat, [1.0, 3.0, 10.0, np.nan])
    spec = GridConfig(kind="regular", cell_km=1.0, crs="EPSG:32736")
    cell, footprints = grids.assign_cells(grid, spec, "EPSG:32736")
    assert cell.tolist() == ["500_9700", "500_9700", "501_9700", "500_9700"]
    plain = grids.aggregate_cells(grid, cell, footprints).set_index("cell_id")
    assert plain.loc["500_9700", "pred_y"] == pytest.approx(2.0)  # NaN tile ignored
    assert plain.loc["500_9700", "n_tiles"] == 3
    assert plain.loc["501_9700", "pred_y"] == pytest.approx(10.0)
    weighted = grids.aggregate_cells(grid, cell, footprints,
                                     weights=np.array([3.0, 1.0, 0.0, 5.0])).set_index("cell_id")
    assert weighted.loc["500_9700", "pred_y"] == pytest.approx((3 * 1 + 1 * 3) / 4)
    # a cell whose weights sum to zero falls back to the plain mean
    assert weighted.loc["501_9700", "pred_y"] == pytest.approx(10.0)
    assert weighted.crs.to_epsg() == 4326
    assert weighted.geometry.iloc[0].contains(Point(lon[0], lat[0]))


def test_h3_cells_hold_their_tiles():
    lon = np.array([30.0, 30.0005, 30.2])
    lat = np.array([-2.0, -2.0005, -2.2])
    grid = tile_grid(lon, lat, [2.0, 4.0, 8.0])
    cells, cell_of_tile = grids.make_cells(grid, GridConfig(kind="h3", resolution=7), "EPSG:32736")
    assert cell_of_tile[0] == h3.latlng_to_cell(-2.0, 30.0, 7)
    assert len(cells) == 2 and cells["n_tiles"].sum() == 3
    first = cells.set_index("cell_id").loc[cell_of_tile[0]]
    assert first["pred_y"] == pytest.approx(3.0) and first.geometry.contains(Point(30.0, -2.0))


def test_admin_polygons_keep_empty_units_and_drop_outside_tiles(tmp_path):
    admin = gpd.GeoDataFrame({"district": ["A", "B", "C"]},
                             geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(5, 5, 6, 6)],
                             crs="EPSG:4326")
    admin.to_file(tmp_path / "admin.gpkg")
    grid = tile_grid(np.array([0.5, 0.6, 1.5, 3.0]), np.array([0.5, 0.5, 0.5, 0.5]),
                     [1.0, 2.0, 7.0, 100.0])
    spec = GridConfig(kind="admin", path=tmp_path / "admin.gpkg", id="district")
    cells, cell_of_tile = grids.make_cells(grid, spec, "EPSG:4326")
    assert cell_of_tile.tolist() == ["A", "A", "B", None]
    by_id = cells.set_index("cell_id")
    assert by_id["n_tiles"].to_dict() == {"A": 2, "B": 1, "C": 0}
    assert by_id.loc["A", "pred_y"] == pytest.approx(1.5) and np.isnan(by_id.loc["C", "pred_y"])
    with pytest.raises(InputDataError, match="export.grid.id"):
        grids.make_cells(grid, GridConfig(kind="admin", path=tmp_path / "admin.gpkg", id="nope"),
                         "EPSG:4326")


def test_admin_polygons_and_the_region_read_by_url(file_server):
    folder, url = file_server
    gpd.GeoDataFrame({"district": ["A", "B"]}, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)],
                     crs="EPSG:4326").to_file(folder / "admin.gpkg")
    export = ExportConfig(grid={"kind": "admin", "path": f"{url}/admin.gpkg", "id": "district"},
                          region=f"/vsicurl/{url}/admin.gpkg")
    assert export.grid.path == f"{url}/admin.gpkg"  # kept as written, not joined to a folder
    assert export.region == f"/vsicurl/{url}/admin.gpkg"
    grid = tile_grid(np.array([0.5, 1.5, 3.0]), np.array([0.5, 0.5, 0.5]), [1.0, 7.0, 9.0])
    region = read_polygons(export.region, "export.region")
    cells, cell_of_tile = grids.make_cells(grid, export.grid, "EPSG:4326", region=region)
    assert cell_of_tile.tolist() == ["A", "B", None]
    assert cells.set_index("cell_id")["pred_y"].to_dict() == {"A": 1.0, "B": 7.0}
    files = input_files(SimpleNamespace(export=export))  # a URL is fingerprinted by itself
    assert files == [f"/vsicurl/{url}/admin.gpkg", f"{url}/admin.gpkg"]
    gone = GridConfig(kind="admin", path=f"{url}/gone.gpkg")
    with pytest.raises(InputDataError, match=rf"{url}/gone\.gpkg: cannot read the polygon file "
                                             r"given as export\.grid\.path .*check the URL"):
        grids.make_cells(grid, gone, "EPSG:4326")
    with pytest.raises(InputDataError, match=r"GeoParquet is read from local files only "
                                             r"\(export\.grid\.path\)"):
        grids.make_cells(grid, GridConfig(kind="admin", path=f"{url}/a.parquet"), "EPSG:4326")


def test_admin_polygons_with_a_repeated_id_are_dissolved_into_one_cell(tmp_path):
    # district B is stored as two polygon rows (e.g. a mainland and an island)
    admin = gpd.GeoDataFrame({"district": ["B", "A", "B", "C"]},
                             geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(0, 1, 1, 2),
                                       box(5, 5, 6, 6)], crs="EPSG:4326")
    admin.to_file(tmp_path / "admin.gpkg")
    grid = tile_grid(np.array([0.5, 0.5, 1.5]), np.array([0.5, 1.5, 0.5]), [1.0, 5.0, 7.0])
    spec = GridConfig(kind="admin", path=tmp_path / "admin.gpkg", id="district")
    cells, cell_of_tile = grids.make_cells(grid, spec, "EPSG:4326")
    assert cell_of_tile.tolist() == ["B", "B", "A"]
    by_id = cells.set_index("cell_id")
    assert by_id.index.tolist() == ["B", "A", "C"]  # one cell per id, in file order
    assert by_id["n_tiles"].to_dict() == {"B": 2, "A": 1, "C": 0}
    assert by_id.loc["B", "pred_y"] == pytest.approx(3.0)
    assert by_id.loc["B"].geometry.area == pytest.approx(2.0)  # both parts of B


def test_admin_polygons_that_cannot_be_dissolved_name_the_file_column_and_ids(tmp_path):
    bowtie = Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])  # self-intersecting: no union
    admin = gpd.GeoDataFrame({"district": ["A", "A"]}, geometry=[bowtie, box(0, 1, 1, 2)],
                             crs="EPSG:4326")
    admin.to_file(tmp_path / "admin.gpkg")
    spec = GridConfig(kind="admin", path=tmp_path / "admin.gpkg", id="district")
    with pytest.raises(InputDataError, match=r"admin.gpkg: .*'district'.*'A'.*valid"):
        grids.make_cells(tile_grid(np.array([0.5]), np.array([1.5]), [1.0]), spec, "EPSG:4326")


def test_region_clips_tiles_and_population_weights_come_from_the_raster(tmp_path):
    pop = np.zeros((10, 10), dtype=np.float32)
    pop[:, :5] = 1.0   # west half: 1 person per pixel
    pop[:, 5:] = 3.0   # east half: 3
    path = tmp_path / "pop.tif"
    with rasterio.open(path, "w", driver="GTiff", width=10, height=10, count=1, dtype="float32",
                       crs="EPSG:4326", transform=from_origin(0, 1, 0.1, 0.1)) as dst:
        dst.write(pop, 1)
    grid = tile_grid(np.array([0.25, 0.75, 0.9]), np.array([0.5, 0.5, 0.5]),
                     [10.0, 20.0, 99.0], size_deg=0.1)
    weights = grids.population_weights(grid.geometry, path)
    assert weights.tolist() == pytest.approx([1.0, 3.0, 3.0])
    region = gpd.GeoDataFrame(geometry=[box(0, 0, 0.8, 1)], crs="EPSG:4326")
    spec = GridConfig(kind="regular", cell_km=500, crs="EPSG:3857")
    cells, cell_of_tile = grids.make_cells(grid, spec, "EPSG:3857", population=path, region=region)
    assert cell_of_tile[2] is None and len(cells) == 1
    assert cells["pred_y"].iloc[0] == pytest.approx((1 * 10 + 3 * 20) / 4)
    with pytest.raises(InputDataError, match="region"):
        far = gpd.GeoDataFrame(geometry=[box(50, 50, 51, 51)], crs="EPSG:4326")
        grids.make_cells(grid, spec, "EPSG:3857", region=far)


def test_grid_config_errors_name_the_key():
    with pytest.raises(ValueError, match="projected CRS"):
        GridConfig(kind="regular", crs="EPSG:4326")
    with pytest.raises(ValueError, match="export.grid.path"):
        GridConfig(kind="admin")
    from pipeline.config.schema import parse_config

    data = {"name": "t", "run_dir": "r",
            "data": {"tiles": {"path": "t"}, "nightlights": {"path": "n"},
                     "survey": {"path": "s", "outcomes": ["y"]}},
            "regression": {"targets": [{"column": "y"}]},
            "export": {"grid": {"kind": "hexes"}}}
    with pytest.raises(ConfigError, match="export.grid.kind"):
        parse_config(data, base_dir=".")


def test_an_h3_cell_across_the_antimeridian_stays_one_small_ring():
    h3_polygon = grids.h3_polygon
    cell = h3.latlng_to_cell(-17.0, 179.999, 5)  # Fiji; resolution 5 cells are ~9 km across
    ring = h3_polygon(cell)
    minx, miny, maxx, maxy = ring.bounds
    assert maxx - minx < 0.2 and maxy - miny < 0.2  # was 359.9 degrees wide
    assert minx < 180.0 < maxx and ring.is_valid
    inland = h3_polygon(h3.latlng_to_cell(-17.0, 178.0, 5))
    assert inland.bounds[2] < 180.0  # cells off the antimeridian are unchanged
    assert np.allclose(np.asarray(inland.exterior.coords)[:-1, ::-1],
                       h3.cell_to_boundary(h3.latlng_to_cell(-17.0, 178.0, 5)))
