import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import r2_score

from pipeline.evaluation.settings import CvSettings
from pipeline.evaluation.evaluate import Survey, group_entries, urban_flags
from pipeline.evaluation.metrics import bootstrap_intervals, paired_gain, pearson_r2, r2, scores


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


def test_paired_gain_of_a_predictor_over_itself_is_exactly_zero():
    rng = np.random.default_rng(4)
    y = rng.normal(size=100)
    pred = y + rng.normal(size=100)
    gain = paired_gain(y, pred, pred, n_boot=200, seed=0)
    assert gain == {"r2_gain": 0.0, "r2_gain_ci": [0.0, 0.0], "share_better": 0.0}


def test_paired_gain_detects_a_small_real_gain_that_separate_intervals_cannot():
    # two predictors sharing most of their error: the better one has a little less
    rng = np.random.default_rng(5)
    n = 400
    y = rng.normal(size=n)
    shared = rng.normal(scale=0.8, size=n)
    better = y + shared + rng.normal(scale=0.1, size=n)
    worse = y + shared + rng.normal(scale=0.35, size=n)
    gain = paired_gain(y, better, worse, n_boot=500, seed=1)
    a, b = scores(y, better, 500, 1), scores(y, worse, 500, 1)
    assert gain["r2_gain"] == pytest.approx(a["r2"] - b["r2"])
    assert 0 < gain["r2_gain_ci"][0] < gain["r2_gain"] < gain["r2_gain_ci"][1]
    assert gain["share_better"] > 0.99
    assert a["r2_ci"][0] < b["r2_ci"][1]  # the unpaired intervals overlap
    swapped = paired_gain(y, worse, better, n_boot=500, seed=1)
    assert swapped["r2_gain_ci"] == pytest.approx([-gain["r2_gain_ci"][1], -gain["r2_gain_ci"][0]])


def test_paired_gain_without_resamples_has_no_interval():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert paired_gain(y, y, np.full(4, 2.5)) == {"r2_gain": pytest.approx(1.0)}


def test_paired_gain_on_a_constant_outcome_has_no_interval_and_no_share():
    y = np.ones(5)
    gain = paired_gain(y, y + 0.1, y - 0.1, n_boot=50, seed=0)
    assert np.isnan(gain["r2_gain"]) and gain["r2_gain_ci"] == [] and gain["share_better"] is None


def test_urban_codes_are_read_in_their_usual_spellings():
    flags = urban_flags(np.array([1, 0, None, "U", "r", " Urban ", "RURAL", True, "0.0"],
                                 dtype=object))
    np.testing.assert_array_equal(flags, [1, 0, np.nan, 1, 0, 1, 0, 1, 0])
    reason = urban_flags(np.array([1, 2, 2], dtype=object))  # DHS hv025: 2 is rural
    assert isinstance(reason, str) and "['2']" in reason and "1 (urban) and 0 (rural)" in reason


def test_an_unknown_urban_code_skips_the_urban_subsets_with_the_reason():
    rng = np.random.default_rng(0)
    y = rng.normal(size=40)
    survey = Survey(y=y, y_raw=y, lonlat=np.zeros((40, 2)),
                    urban=np.array(["U", "R", "semi"] * 13 + ["U"], dtype=object))
    cfg = CvSettings(bootstrap=0)
    out = group_entries(survey, {"model": y + rng.normal(size=40)}, cfg, 0)
    assert "semi" in out["urban"]["skipped"] and out["rural"] == out["urban"]
    survey = Survey(y=y, y_raw=y, lonlat=np.zeros((40, 2)),
                    urban=np.array(["U", "R"] * 20, dtype=object))
    out = group_entries(survey, {"model": y}, cfg, 0)
    assert out["urban"]["model"]["n"] == 20 and out["rural"]["model"]["r2"] == pytest.approx(1.0)


def test_weighted_scores_by_hand_keep_the_unweighted_beside():
    from pipeline.evaluation.metrics import weighted_percentile

    y = np.array([1.0, 2.0, 3.0, 4.0])
    pred = np.array([1.0, 2.0, 3.0, 2.0])
    w = np.array([1.0, 1.0, 1.0, 3.0])
    ybar = (1 + 2 + 3 + 12) / 6.0  # weighted mean 3.0
    sst = (1 - ybar) ** 2 + (2 - ybar) ** 2 + 0 + 3 * (4 - ybar) ** 2  # 4 + 1 + 0 + 3 = 8
    out = scores(y, pred, w=w)
    assert out["r2"] == pytest.approx(1 - 3 * 4 / sst)  # weighted SSE 12 -> -0.5
    assert out["rmse"] == pytest.approx(np.sqrt(12 / 6))
    assert out["unweighted"]["r2"] == pytest.approx(1 - 4 / 5)
    assert out["unweighted"]["rmse"] == pytest.approx(1.0)
    # cumulative weight shares 1/6 2/6 3/6 6/6: the weighted median is 3, just above it 4
    assert weighted_percentile(y, 50, w) == 3.0 and weighted_percentile(y, 51, w) == 4.0
    assert weighted_percentile(y, 50) == 2.5
