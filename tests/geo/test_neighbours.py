import numpy as np

from pipeline.geo.neighbours import all_neighbourhood_means, lonlat_tree


def test_means_equal_hand_computed():
    # three tiles along the equator, 1 km apart (0.009 deg ~ 1.0 km)
    lon = np.array([0.0, 0.009, 0.018])
    lat = np.zeros(3)
    values = np.array([[1.0, 10.0], [3.0, 30.0], [8.0, 80.0]])
    tree = lonlat_tree(lon, lat)
    means, counts = all_neighbourhood_means(values, tree, np.array([0.0, 0.5]), np.array([0.0, 0.0]), 1.5)
    assert counts.tolist() == [2, 0]
    np.testing.assert_allclose(means[0], [2.0, 20.0])
    assert np.isnan(means[1]).all()
