"""Neighbourhoods (radius, box), weighted means and districts, against hand computations."""

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point, box

from pipeline.geo.aggregation import assign_districts, members, weighted_means
from pipeline.config.schema import AggregateConfig
from pipeline.errors import ConfigError, InputDataError
from pipeline.geo.neighbours import lonlat_tree

KM_LAT = 1 / 110.574  # degrees of latitude per km


def grid_points():
    """Tiles every 1 km on a 9 x 9 grid around (0, 0)."""
    offsets = np.arange(-4, 5)
    lat = np.repeat(offsets * KM_LAT, 9)
    lon = np.tile(offsets / 111.320, 9)
    return lon, lat


def test_radius_and_box_neighbourhoods():
    lon, lat = grid_points()
    tree = lonlat_tree(lon, lat)
    q = (np.array([0.0]), np.array([0.0]))
    in_radius = members(tree, lon, lat, *q, radius_km=1.5)[0]
    assert len(in_radius) == 9  # the centre, 4 at 1 km and 4 at 1.41 km
    in_box = members(tree, lon, lat, *q, radius_km=1.5, box_km=4.2)[0]
    assert len(in_box) == 25  # a 5 x 5 block: |dx|, |dy| <= 2.1 km
    corner = np.argmin((lon - 2 / 111.32) ** 2 + (lat - 2 * KM_LAT) ** 2)
    assert corner in in_box  # 2.8 km away, inside the box, outside a 2.1 km radius
    assert corner not in members(tree, lon, lat, *q, radius_km=2.1)[0]


def test_weighted_means_by_hand():
    values = np.array([[1.0, 10.0], [3.0, 30.0], [5.0, 50.0]])
    groups = np.empty(3, dtype=object)
    groups[:] = [np.array([0, 1]), np.array([1, 2]), np.array([], dtype=int)]
    plain = weighted_means(values, groups)
    assert plain[0].tolist() == [2.0, 20.0] and np.isnan(plain[2]).all()
    weighted = weighted_means(values, groups, np.array([1.0, 3.0, 0.0]))
    assert weighted[0].tolist() == [2.5, 25.0]
    assert weighted[1].tolist() == [3.0, 30.0]  # weight 0 on row 2 leaves row 1 alone


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


def test_population_weight_needs_a_raster():
    with pytest.raises(ValueError, match="aggregate.population"):
        AggregateConfig(weight="population")
    assert AggregateConfig(weight="valid_share", box_km=10).box_km == 10
    assert issubclass(ConfigError, ValueError)
