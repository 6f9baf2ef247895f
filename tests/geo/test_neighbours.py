import numpy as np

from pipeline.geo.neighbours import lonlat_tree, neighbours


def test_neighbours_within_the_radius_equal_hand_computed():
    # three tiles along the equator, 1 km apart (0.009 deg ~ 1.0 km)
    tree = lonlat_tree(np.array([0.0, 0.009, 0.018]), np.zeros(3))
    found = neighbours(tree, np.array([0.0, 0.5, 0.009]), np.zeros(3), 1.5)
    assert [sorted(idx.tolist()) for idx in found] == [[0, 1], [], [0, 1, 2]]
