"""Evaluation over subsets of the clusters."""

import numpy as np

from pipeline.evaluation.evaluate import subsets


def test_subsets_are_the_poorer_clusters():
    y = np.arange(1, 11, dtype=float)
    masks = subsets(y, (50.0, 100.0))
    assert set(masks) == {"all", "below_p50"}
    assert y[masks["below_p50"]].tolist() == [1, 2, 3, 4, 5]
