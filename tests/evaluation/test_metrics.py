import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import r2_score

from pipeline.evaluation.metrics import bootstrap_intervals, pearson_r2, r2, scores


def test_scores_match_hand_and_library_values():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    pred = np.array([1.0, 2.0, 3.0, 5.0])
    s = scores(y, pred)
    assert s["r2"] == pytest.approx(1 - 1 / 5) == pytest.approx(r2_score(y, pred))
    assert s["rmse"] == pytest.approx(0.5)
    assert s["pearson_r2"] == pytest.approx(np.corrcoef(y, pred)[0, 1] ** 2)
    assert s["spearman"] == pytest.approx(1.0)
    assert s["n"] == 4 and "r2_ci" not in s


def test_r2_is_negative_for_predictions_worse_than_the_mean():
    y = np.array([1.0, 2.0, 3.0])
    assert r2(y, np.array([3.0, 2.0, 1.0])) == pytest.approx(-3.0)
    assert pearson_r2(y, np.array([3.0, 2.0, 1.0])) == pytest.approx(1.0)  # why both are reported
    assert pearson_r2(y, np.ones(3)) == 0.0


def test_bootstrap_interval_brackets_the_estimate_and_narrows_with_n():
    rng = np.random.default_rng(0)
    widths = []
    for n in (50, 800):
        y = rng.normal(size=n)
        pred = y + rng.normal(scale=0.7, size=n)
        s = scores(y, pred, n_boot=500, seed=1)
        low, high = s["r2_ci"]
        assert low < s["r2"] < high
        assert s["pearson_r2_ci"][0] < s["pearson_r2"] < s["pearson_r2_ci"][1]
        widths.append(high - low)
    assert widths[1] < widths[0] / 2
    assert spearmanr(y, pred)[0] == pytest.approx(s["spearman"])


def test_bootstrap_is_seeded():
    rng = np.random.default_rng(2)
    y, pred = rng.normal(size=40), rng.normal(size=40)
    assert bootstrap_intervals(y, pred, 200, 3) == bootstrap_intervals(y, pred, 200, 3)
