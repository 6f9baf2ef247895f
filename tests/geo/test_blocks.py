"""Spatial blocks."""

import numpy as np

from pipeline.geo.blocks import block_ids


def test_spatial_blocks_group_nearby_points():
    lon = np.array([35.0, 35.001, 35.2])
    lat = np.array([-13.5, -13.5005, -13.5])
    blocks = block_ids(lon, lat, 5.0)
    assert blocks[0] == blocks[1] != blocks[2]
