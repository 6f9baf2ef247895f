"""The demo world's truth check: R² of tile features for the world's true tile wealth."""

from __future__ import annotations

import numpy as np

import pytest

from pipeline.runs.truth_check import cluster_truth, main, truth_check, wealth_r2

pytestmark = pytest.mark.slow  # a finished run


def test_wealth_r2_is_one_for_the_truth_and_nothing_for_noise() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    groups = np.repeat(np.arange(40), 10)
    truth = np.column_stack([y + rng.normal(scale=0.01, size=400), rng.normal(size=400)])
    assert wealth_r2(truth, y, groups) > 0.99
    assert wealth_r2(rng.normal(size=(400, 5)), y, groups) < 0.02


def test_truth_check_scores_every_feature_set_of_a_finished_run(finished_run, tiny_world,
                                                                capsys) -> None:
    table = truth_check(finished_run, tiny_world)
    assert set(table.index) == {"finetuned", "imagenet", "random_features", "nightlights"}
    assert list(table.columns) == ["all", "poorer_half"]
    assert np.isfinite(table.to_numpy()).all() and (table.to_numpy() <= 1).all()
    # the tiny world's nightlights rank its rich tiles: they carry wealth over all tiles
    assert table.loc["nightlights", "all"] > 0.2
    assert main([str(finished_run), str(tiny_world)]) == 0
    out = capsys.readouterr().out
    assert "nightlights" in out and "model_minus_truth" in out
    assert main([str(finished_run), str(finished_run)]) == 2
    assert main([str(tiny_world), str(tiny_world)]) == 2  # not a run: no traceback
    assert "config.yaml not found" in capsys.readouterr().err


def test_cluster_truth_scores_the_true_wealth_of_each_clusters_tiles_on_the_runs_folds(
        finished_run, tiny_world) -> None:
    table = cluster_truth(finished_run, tiny_world)
    assert len(table) == 2 * 2 * 2  # targets x schemes (random, spatial) x (all, below_p50)
    assert set(table["scheme"]) == {"random", "spatial"}
    assert set(table["subset"]) == {"all", "below_p50"}
    assert table["model_minus_truth"].to_numpy() == pytest.approx(
        (table["model"] - table["truth"]).to_numpy(), abs=0.0015)
    # the tiny world's survey follows its wealth: the truth predicts it over all clusters
    assert (table.loc[table["subset"] == "all", "truth"] > 0.3).all()
    for low, high in table["ci"]:
        assert low <= high
