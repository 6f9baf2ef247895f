"""The demo world's truth check: R² of tile features for the world's true tile wealth."""

from __future__ import annotations

import numpy as np

from pipeline.demo.truth_check import main, truth_check, wealth_r2


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
    assert "nightlights" in capsys.readouterr().out
    assert main([str(finished_run), str(finished_run)]) == 2
