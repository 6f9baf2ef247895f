import numpy as np

from pipeline.evaluation.predictors import Predictor, best_k, group_mean_predict, knn_predict


def test_group_mean_uses_training_rows_of_the_same_group():
    pred, n_groups = group_mean_predict(np.array(["a", "a", "b"]), np.array([1.0, 3.0, 10.0]),
                                        np.array(["b", "a", "c"]))
    assert pred.tolist() == [10.0, 2.0, 14 / 3] and n_groups == 2


def test_knn_picks_a_small_k_for_a_smooth_function_and_a_large_one_for_noise():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (300, 1))
    assert best_k(x, np.sin(6 * x[:, 0]), (1, 3, 40)) in (1, 3)
    assert best_k(x, rng.normal(size=300), (1, 3, 40)) == 40
    pred, k = knn_predict(x, np.sin(6 * x[:, 0]), np.array([[0.5]]))
    assert abs(pred[0] - np.sin(3.0)) < 0.05 and k <= 10


def test_switched_off_baseline_has_no_features():
    assert not Predictor("ridge", np.zeros((5, 0))).has_features
    assert Predictor("group_mean", np.array(["a"] * 5, dtype=object)).has_features
