"""Cross-validation folds: random k-fold, spatial blocks (with an optional buffer), country.

A fold is a pair ``(train, test)`` of row-index arrays. Spatial folds hold out whole square
blocks; with ``buffer_km > 0`` every training cluster within that great-circle distance of a
test cluster is dropped from that fold's training set, so no test cluster has a training
cluster (or, with a buffer of twice the aggregation radius, a shared tile) nearby.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import BaseCrossValidator, GroupKFold, KFold

from pipeline.geo.blocks import block_ids
from pipeline.geo.neighbours import EARTH_RADIUS_KM, lonlat_tree

Folds = list[tuple[np.ndarray, np.ndarray]]


def random_folds(n: int, k: int, seed: int) -> Folds:
    """Shuffled k-fold split of n rows."""
    return list(KFold(min(k, n), shuffle=True, random_state=seed).split(np.zeros(n)))


def spatial_folds(lon: np.ndarray, lat: np.ndarray, k: int, block_km: float, seed: int,
                  buffer_km: float = 0.0) -> Folds:
    """k folds of whole square blocks (side ``block_km``), training rows buffered away.

    Args:
        lon, lat: cluster coordinates, WGS84 degrees, shape (n,).
        k: number of folds (fewer when there are fewer blocks).
        block_km: block side.
        seed: shuffles which blocks go to which fold.
        buffer_km: training clusters within this distance of any test cluster are dropped.
    """
    groups = block_ids(lon, lat, block_km)
    k = min(k, len(np.unique(groups)))
    splitter = GroupKFold(n_splits=k, shuffle=True, random_state=seed)
    folds = list(splitter.split(np.zeros(len(lon)), groups=groups))
    return [apply_buffer(lon, lat, train, test, buffer_km) for train, test in folds]


class SpatialBlockSplit(BaseCrossValidator):
    """:func:`spatial_folds` as a scikit-learn splitter (``cross_val_predict``, ``cross_validate``).

    ``groups`` carries the coordinates: an (n, 2) array of lon, lat (WGS84 degrees); each row is
    tested exactly once, and with ``buffer_km`` the training rows near a fold's test rows are
    left out of that fold's training set.

    Args:
        n_splits: folds (fewer when there are fewer blocks).
        block_km, buffer_km, random_state: as :func:`spatial_folds` takes them.
    """

    def __init__(self, n_splits: int = 5, block_km: float = 10.0, buffer_km: float = 0.0,
                 random_state: int = 0):
        self.n_splits = n_splits
        self.block_km = block_km
        self.buffer_km = buffer_km
        self.random_state = random_state

    def split(self, X, y=None, groups=None):
        lonlat = self._lonlat(groups)
        yield from spatial_folds(lonlat[:, 0], lonlat[:, 1], self.n_splits, self.block_km,
                                 self.random_state, self.buffer_km)

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        if groups is None:
            return self.n_splits
        lonlat = self._lonlat(groups)
        return min(self.n_splits, len(np.unique(block_ids(lonlat[:, 0], lonlat[:, 1],
                                                          self.block_km))))

    @staticmethod
    def _lonlat(groups) -> np.ndarray:
        lonlat = None if groups is None else np.asarray(groups, dtype=np.float64)
        if lonlat is None or lonlat.ndim != 2 or lonlat.shape[1] != 2:
            raise ValueError("SpatialBlockSplit needs groups=(n, 2) array of lon, lat degrees; "
                             f"got {None if lonlat is None else lonlat.shape}")
        return lonlat


def apply_buffer(lon: np.ndarray, lat: np.ndarray, train: np.ndarray, test: np.ndarray,
                 buffer_km: float) -> tuple[np.ndarray, np.ndarray]:
    """Drop the training rows within ``buffer_km`` (great circle) of any test row."""
    return train[~near_rows(lon, lat, train, test, buffer_km)], test


def near_rows(lon: np.ndarray, lat: np.ndarray, rows: np.ndarray, others: np.ndarray,
              km: float) -> np.ndarray:
    """Mask over ``rows``: True where the row lies within ``km`` (great circle) of any row of
    ``others``."""
    if km <= 0 or len(rows) == 0 or len(others) == 0:
        return np.zeros(len(rows), dtype=bool)
    tree = lonlat_tree(lon[others], lat[others])
    query = np.radians(np.column_stack([lat[rows], lon[rows]]))
    return tree.query_radius(query, r=km / EARTH_RADIUS_KM, count_only=True) > 0


def share_tested_near_training(lon: np.ndarray, lat: np.ndarray, folds: Folds,
                               km: float) -> float:
    """Share of the tested rows that lie within ``km`` of a training row of their own fold."""
    near = [near_rows(lon, lat, test, train, km) for train, test in folds]
    return float(np.concatenate(near).mean()) if near and sum(map(len, near)) else 0.0


def spatial_cv_record(lon: np.ndarray, lat: np.ndarray, k: int, block_km: float,
                      buffer_km: float, reach_km: float, seed: int) -> dict[str, float]:
    """How separate the spatial folds of these clusters (one target's rows, as scored) are:
    block side, buffer, and the share of test clusters within ``reach_km`` of a training cluster
    (with ``reach_km`` the neighbourhood's reach, their features share tiles).

    Args:
        lon, lat: cluster coordinates, WGS84 degrees, shape (n,).
        k, block_km, seed, buffer_km: the folds, as :func:`spatial_folds` makes them.
        reach_km: the distance within which two clusters' neighbourhoods share tiles.
    """
    folds = spatial_folds(lon, lat, k, block_km, seed, buffer_km)
    return {"block_km": block_km, "buffer_km": buffer_km,
            "neighbourhood_reach_km": round(reach_km, 6),
            "test_share_sharing_tiles": round(share_tested_near_training(lon, lat, folds,
                                                                         reach_km), 4)}


def country_folds(countries: np.ndarray) -> Folds:
    """Leave one country out: one fold per country (rows with no country are never tested)."""
    labels = np.asarray(countries, dtype=object)
    known = np.array([c is not None and c == c for c in labels])  # c == c is False for NaN
    folds = []
    for country in sorted({str(c) for c in labels[known]}):
        test = np.flatnonzero(known & (labels.astype(str) == country))
        folds.append((np.setdiff1d(np.arange(len(labels)), test), test))
    return folds


def fold_of(folds: Folds, n: int) -> np.ndarray:
    """Fold number of each row in its test set (-1 where a row is never tested)."""
    out = np.full(n, -1, dtype=np.int64)
    for k, (_, test) in enumerate(folds):
        out[test] = k
    return out
