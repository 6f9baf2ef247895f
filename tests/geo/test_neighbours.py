"""Neighbourhoods (radius, box) and their reach, against hand computations."""

import numpy as np

from pipeline.geo.neighbours import Neighbourhood, lonlat_tree, neighbours

KM_LAT = 1 / 110.574  # degrees of latitude per km


def grid_points():
    """Tiles every 1 km on a 9 x 9 grid around (0, 0)."""
    offsets = np.arange(-4, 5)
    lat = np.repeat(offsets * KM_LAT, 9)
    lon = np.tile(offsets / 111.320, 9)
    return lon, lat


def test_points_within_a_radius():
    # three tiles along the equator, 1 km apart (0.009 deg ~ 1.0 km)
    lon, lat = np.array([0.0, 0.009, 0.018]), np.zeros(3)
    found = neighbours(lonlat_tree(lon, lat), np.array([0.0, 0.5]), np.zeros(2), 1.5)
    assert sorted(found[0].tolist()) == [0, 1] and len(found[1]) == 0


def test_radius_and_box_neighbourhoods():
    lon, lat = grid_points()
    q = (np.array([0.0]), np.array([0.0]))
    in_radius = Neighbourhood(1.5).members(lon, lat, *q)[0]
    assert len(in_radius) == 9  # the centre, 4 at 1 km and 4 at 1.41 km
    assert in_radius.tolist() == sorted(in_radius.tolist())
    in_box = Neighbourhood(1.5, box_km=4.2).members(lon, lat, *q, lonlat_tree(lon, lat))[0]
    assert len(in_box) == 25  # a 5 x 5 block: |dx|, |dy| <= 2.1 km
    corner = np.argmin((lon - 2 / 111.32) ** 2 + (lat - 2 * KM_LAT) ** 2)
    assert corner in in_box  # 2.8 km away, inside the box, outside a 2.1 km radius
    assert corner not in Neighbourhood(2.1).members(lon, lat, *q)[0]


def test_reach_is_where_two_neighbourhoods_can_share_a_tile():
    assert Neighbourhood(5.0).reach_km == 10.0
    assert Neighbourhood(5.0, box_km=10.0).reach_km == 10.0 * np.sqrt(2)
