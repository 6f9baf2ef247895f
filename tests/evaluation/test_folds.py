import numpy as np

from pipeline.evaluation.folds import (
    apply_buffer,
    country_folds,
    fold_of,
    random_folds,
    share_tested_near_training,
    spatial_cv_record,
    spatial_folds,
)
from pipeline.geo.neighbours import EARTH_RADIUS_KM


def haversine_km(lon1, lat1, lon2, lat2):
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(a))


def test_spatial_folds_respect_the_buffer():
    rng = np.random.default_rng(0)
    lon, lat = rng.uniform(34, 34.4, 300), rng.uniform(-14, -13.6, 300)
    folds = spatial_folds(lon, lat, 5, block_km=8, seed=0, buffer_km=4.0)
    unbuffered = spatial_folds(lon, lat, 5, block_km=8, seed=0)
    for (train, test), (train0, test0) in zip(folds, unbuffered):
        assert np.array_equal(test, test0)  # the buffer never changes what is tested
        d = haversine_km(lon[train][:, None], lat[train][:, None], lon[test][None], lat[test][None])
        assert d.min() > 4.0
        dropped = np.setdiff1d(train0, train)
        assert len(dropped) > 0  # clusters next to the test blocks were removed
        d0 = haversine_km(lon[dropped][:, None], lat[dropped][:, None], lon[test][None], lat[test][None])
        assert (d0.min(axis=1) <= 4.0).all()  # and only those
    assert sorted(np.concatenate([t for _, t in folds]).tolist()) == list(range(300))


def test_apply_buffer_by_hand():
    lon = np.array([0.0, 0.01, 0.05, 1.0])
    lat = np.zeros(4)
    train, test = apply_buffer(lon, lat, np.array([1, 2, 3]), np.array([0]), buffer_km=2.0)
    assert train.tolist() == [2, 3] and test.tolist() == [0]  # 0.01 deg = 1.1 km is dropped


def test_share_of_test_rows_near_training_by_hand():
    lon = np.array([0.0, 0.01, 0.05, 1.0])  # 0, 1.1, 5.6 and 111 km east along the equator
    lat = np.zeros(4)
    folds = [(np.array([1, 2]), np.array([0, 3])), (np.array([0, 3]), np.array([1, 2]))]
    # within 2 km of a training row: row 0 (1.1 km from 1) and row 1 (1.1 km from 0); not 3, 2
    assert share_tested_near_training(lon, lat, folds, 2.0) == 0.5
    assert share_tested_near_training(lon, lat, folds, 6.0) == 0.75  # row 2 is 5.6 km from 0
    assert share_tested_near_training(lon, lat, folds, 0.0) == 0.0


def test_the_buffer_that_equals_the_reach_leaves_no_test_row_near_training():
    rng = np.random.default_rng(0)
    lon, lat = rng.uniform(34, 34.4, 300), rng.uniform(-14, -13.6, 300)
    assert share_tested_near_training(lon, lat, spatial_folds(lon, lat, 5, 8, 0), 6.0) > 0.5
    buffered = spatial_folds(lon, lat, 5, 8, 0, buffer_km=6.0)
    assert share_tested_near_training(lon, lat, buffered, 6.0) == 0.0


def test_spatial_cv_record_names_the_folds_and_the_share_of_test_clusters_sharing_tiles():
    rng = np.random.default_rng(0)
    lon, lat = rng.uniform(34, 34.4, 300), rng.uniform(-14, -13.6, 300)
    share = share_tested_near_training(lon, lat, spatial_folds(lon, lat, 5, 8, 0), 6.0)
    assert spatial_cv_record(lon, lat, 5, 8.0, 0.0, 6.0, 0) == {
        "block_km": 8.0, "buffer_km": 0.0, "neighbourhood_reach_km": 6.0,
        "test_share_sharing_tiles": round(share, 4)}
    assert share > 0.5
    buffered = spatial_cv_record(lon, lat, 5, 8.0, 6.0, 2 ** 0.5 * 3, 0)
    assert buffered["test_share_sharing_tiles"] == 0.0  # a buffer past the reach: none
    assert buffered["neighbourhood_reach_km"] == round(2 ** 0.5 * 3, 6)


def test_country_folds_leave_one_country_out():
    countries = np.array(["MW", "TZ", "MW", None, "UG", "TZ"], dtype=object)
    folds = country_folds(countries)
    assert [t.tolist() for _, t in folds] == [[0, 2], [1, 5], [4]]
    for train, test in folds:
        assert not set(countries[train]) & set(countries[test])
    assert fold_of(folds, 6).tolist() == [0, 1, 0, -1, 2, 1]  # no country: never tested


def test_random_folds_cover_every_row_once():
    folds = random_folds(23, 5, seed=1)
    assert sorted(np.concatenate([t for _, t in folds]).tolist()) == list(range(23))
