"""Spatial blocks and squares of a given side around footprints."""

import geopandas as gpd
import numpy as np
import pyproj
import pytest
from shapely.geometry import box

from pipeline.geo.blocks import block_ids, context_boxes


def test_spatial_blocks_group_nearby_points():
    lon = np.array([35.0, 35.001, 35.2])
    lat = np.array([-13.5, -13.5005, -13.5])
    blocks = block_ids(lon, lat, 5.0)
    assert blocks[0] == blocks[1] != blocks[2]


def test_context_boxes_are_squares_of_the_given_side_in_km():
    tiles = gpd.GeoSeries([box(30.0, -0.005, 30.01, 0.005), box(10.0, 59.995, 10.01, 60.005)],
                          crs="EPSG:4326")
    equator, north = context_boxes(tiles, 10.0)
    assert equator.centroid.x == pytest.approx(30.005) and equator.centroid.y == pytest.approx(0)
    geod = pyproj.Geod(ellps="WGS84")

    def sides_km(square) -> tuple[float, float]:  # noqa: ANN001 - (west-east, south-north)
        x0, y0, x1, y1 = square.bounds
        cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
        return geod.inv(x0, cy, x1, cy)[2] / 1e3, geod.inv(cx, y0, cx, y1)[2] / 1e3

    assert sides_km(equator) == pytest.approx((10.0, 10.0), rel=1e-3)  # on the ellipsoid
    assert sides_km(north) == pytest.approx((10.0, 10.0), rel=1e-2)
