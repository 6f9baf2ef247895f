"""Weighted means, nightlight statistics, tile weights and districts, against hand computations."""

from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point, box

from pipeline.config.schema import AggregateConfig
from pipeline.errors import ConfigError, InputDataError
from pipeline.geo.aggregation import (
    assign_districts,
    nightlight_stats,
    tile_weights,
    weight_files,
    weighted_means,
)
from pipeline.stages.aggregate import input_files


def test_weighted_means_by_hand():
    values = np.array([[1.0, 10.0], [3.0, 30.0], [5.0, 50.0]])
    groups = np.empty(3, dtype=object)
    groups[:] = [np.array([0, 1]), np.array([1, 2]), np.array([], dtype=int)]
    plain = weighted_means(values, groups)
    assert plain[0].tolist() == [2.0, 20.0] and np.isnan(plain[2]).all()
    weighted = weighted_means(values, groups, np.array([1.0, 3.0, 0.0]))
    assert weighted[0].tolist() == [2.5, 25.0]
    assert weighted[1].tolist() == [3.0, 30.0]  # weight 0 on row 2 leaves row 1 alone


def test_nightlight_stats_ignore_nan_and_empty():
    radiance = np.array([0.0, 2.0, np.nan, 6.0])
    groups = np.empty(3, dtype=object)
    groups[:] = [np.array([0, 1, 2]), np.array([3]), np.array([], dtype=int)]
    mean, peak = nightlight_stats(radiance, groups)
    assert mean[:2].tolist() == [1.0, 6.0] and peak[:2].tolist() == [2.0, 6.0]
    assert np.isnan(mean[2]) and np.isnan(peak[2])


def test_tile_weights_by_kind(tmp_path):
    catalog = gpd.GeoDataFrame({"valid_share": [0.5, -0.1, 1.0]},
                               geometry=[box(0, 0, 1, 1)] * 3, crs="EPSG:4326")
    assert tile_weights("none", catalog) is None
    assert tile_weights("valid_share", catalog).tolist() == [0.5, 0.0, 1.0]
    with pytest.raises(InputDataError, match="population raster not found"):
        tile_weights("population", catalog, tmp_path / "pop.tif")
    assert weight_files("population", tmp_path / "pop.tif") == [tmp_path / "pop.tif"]
    assert weight_files("valid_share", tmp_path / "pop.tif") == []


def test_districts_are_joined_by_polygon(tmp_path):
    polygons = gpd.GeoDataFrame({"name": ["north", "south"]},
                                geometry=[box(0, 0, 1, 1), box(0, -1, 1, 0)], crs="EPSG:4326")
    path = tmp_path / "districts.gpkg"
    polygons.to_crs("EPSG:32736").to_file(path)  # another CRS: reprojected on read
    points = gpd.GeoDataFrame(geometry=[Point(0.5, 0.5), Point(0.5, -0.5), Point(3, 3)],
                              crs="EPSG:4326")
    ids = assign_districts(points, path, "name")
    assert ids.iloc[0] == "north" and ids.iloc[1] == "south" and ids.isna().iloc[2]
    with pytest.raises(InputDataError, match="aggregate.districts.id"):
        assign_districts(points, path, "district")
    with pytest.raises(InputDataError, match="not found"):
        assign_districts(points, tmp_path / "missing.gpkg", "name")


def test_districts_read_by_url(file_server):
    folder, url = file_server
    gpd.GeoDataFrame({"name": ["north", "south"]}, geometry=[box(0, 0, 1, 1), box(0, -1, 1, 0)],
                     crs="EPSG:4326").to_crs("EPSG:32736").to_file(folder / "districts.gpkg")
    cfg = AggregateConfig(districts={"path": f"{url}/districts.gpkg", "id": "name"})
    assert cfg.districts.path == f"{url}/districts.gpkg"  # kept as written, not joined to a folder
    points = gpd.GeoDataFrame(geometry=[Point(0.5, 0.5), Point(0.5, -0.5), Point(3, 3)],
                              crs="EPSG:4326")
    ids = assign_districts(points, cfg.districts.path, cfg.districts.id)
    assert ids.iloc[:2].tolist() == ["north", "south"] and ids.isna().iloc[2]
    # the stage fingerprints the URL itself (no file test)
    assert input_files(SimpleNamespace(aggregate=cfg)) == [f"{url}/districts.gpkg"]
    with pytest.raises(InputDataError, match=rf"{url}/gone\.gpkg: cannot read the polygon file "
                                             r"given as aggregate\.districts\.path .*check the URL"):
        assign_districts(points, f"{url}/gone.gpkg", "name")


def test_population_weight_needs_a_raster():
    with pytest.raises(ValueError, match="aggregate.population"):
        AggregateConfig(weight="population")
    assert AggregateConfig(weight="valid_share", box_km=10).box_km == 10
    assert issubclass(ConfigError, ValueError)
