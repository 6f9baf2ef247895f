"""The baselines stage streams tiles through the extract stage's own loop: its ImageNet features
are extract's frozen features, its random features those of the whole tile set in one call."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.config.schema import load_config
from pipeline.models.datasets import TileCache
from pipeline.models.random_features import make_filters, random_features
from pipeline.engine.runner import run_pipeline
from pipeline.stages import PIPELINE


@pytest.mark.slow
def test_baselines_match_frozen_extract_and_unbatched_random_features(make_tiny_config,
                                                                      tmp_path) -> None:
    path = make_tiny_config(tmp_path, model={"finetune_epochs": 0}, features={"mode": "frozen"},
                            baselines={"random_filters": 8, "batch_size": 7})
    config = load_config(path, env={})
    run_pipeline(config, PIPELINE, until_stage="baselines", quiet=True, progress=False)
    run = Path(config.run_dir)
    imagenet = np.load(run / "baselines" / "imagenet_features.npy")
    assert imagenet.shape == (100, 256) and np.abs(imagenet).max() > 0
    np.testing.assert_allclose(imagenet, np.load(run / "extract" / "features.npy"),
                               rtol=1e-5, atol=1e-6)

    catalog = pd.read_parquet(run / "ingest" / "tiles.parquet")
    tiles = TileCache(run / "ingest" / "cache").take(catalog["shard"].to_numpy(),
                                                     catalog["offset"].to_numpy())
    cfg = config.baselines  # 100 tiles < 1000: the filters are drawn from all of them
    filters = make_filters(tiles, cfg.random_filters, cfg.patch_px, cfg.whiten, config.seed)
    expected = random_features(tiles, filters)
    assert expected.shape == (100, 16)
    np.testing.assert_array_equal(np.load(run / "baselines" / "random_features.npy"), expected)
