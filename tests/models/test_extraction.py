"""Tests for pipeline.models.extraction: the compiled forward pass, the batch stream and the
assembly of shard results."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from pipeline.errors import ConfigError
from pipeline.models import build_classifier, feature_model
from pipeline.models.datasets import TileCache
from pipeline.tiles.cache import TileShape
from pipeline.models.extraction import (
    FeatureSource,
    assemble_features,
    chunk_count,
    compile_forward,
    in_chunks,
    finetuned_source,
    forward_for,
    frozen_source,
    load_feature_model,
    shard_jobs,
    stream_features,
)

TILES = np.random.default_rng(4).integers(0, 256, (10, 16, 16, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def extractor() -> keras.Model:
    return feature_model(build_classifier("mobilenet_0.25", 32, 3, 3, None, seed=1))


@pytest.mark.slow
def test_forward_casts_and_resizes_in_the_graph(extractor: keras.Model) -> None:
    forward = compile_forward(extractor, 16, 3)
    expected = extractor(tf.image.resize(TILES.astype(np.float32), (32, 32)), training=False)
    got = forward(TILES)
    assert got.dtype == np.float32 and got.shape == (10, 256)
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_forward_without_resize(extractor: keras.Model) -> None:
    tiles = np.random.default_rng(5).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    np.testing.assert_allclose(compile_forward(extractor, 32, 3)(tiles),
                               extractor(tiles.astype(np.float32), training=False).numpy(),
                               rtol=1e-5, atol=1e-6)


def test_stream_yields_every_tile_in_order(extractor: keras.Model, tmp_path: Path) -> None:
    np.save(tmp_path / "shard_00000.npy", TILES[:6])
    np.save(tmp_path / "shard_00001.npy", TILES[6:])
    shards, offsets = np.array([1, 0, 0, 1, 0, 0, 1]), np.array([3, 0, 5, 0, 2, 1, 1])
    forward = compile_forward(extractor, 16, 3)
    out = list(stream_features(forward, TileCache(tmp_path), shards, offsets, 3))
    assert [start for start, _ in out] == [0, 3, 6]
    assert [len(values) for _, values in out] == [3, 3, 1]
    expected = forward(TILES[np.where(shards == 1, 6, 0) + offsets])
    np.testing.assert_allclose(np.concatenate([v for _, v in out]), expected, rtol=1e-5,
                               atol=1e-6)


@pytest.mark.slow
def test_frozen_source_is_the_untrained_imagenet_backbone(make_fake_weights) -> None:
    weights = make_fake_weights("mobilenet_0.25")
    source = frozen_source("mobilenet_0.25", weights, 32, 16, 3)
    model = load_feature_model(source)  # takes the 16 px tiles: the upsampling is in its stem
    reference = feature_model(build_classifier("mobilenet_0.25", 32, 3, 2, weights))
    images = tf.image.resize(TILES.astype(np.float32), (32, 32))
    expected = reference(images, training=False).numpy()
    np.testing.assert_allclose(model(TILES.astype(np.float32), training=False).numpy(), expected,
                               rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    random = load_feature_model(frozen_source("mobilenet_0.25", None, 32, 16, 3))
    assert not np.allclose(random(TILES.astype(np.float32)).numpy(), expected)


@pytest.mark.slow
def test_finetuned_source_reads_the_saved_classifier(tmp_path: Path) -> None:
    model = build_classifier("mobilenet_0.25", 32, 3, 3, None, seed=2)
    model.save(tmp_path / "model.keras")
    forward, dim = forward_for(finetuned_source(tmp_path / "model.keras", TileShape(16, 3)))
    assert dim == 256
    expected = feature_model(model)(tf.image.resize(TILES.astype(np.float32), (32, 32)))
    np.testing.assert_allclose(forward(TILES), expected.numpy(), rtol=1e-5, atol=1e-6)
    assert forward_for(finetuned_source(tmp_path / "model.keras", TileShape(16, 3)))[0] is forward


def test_unknown_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="features.mode.*finetuned, frozen"):
        load_feature_model(FeatureSource("imagenet", 16, 3))


@pytest.mark.slow
@pytest.mark.parametrize("n_tiles", [150, 2])
def test_chunked_forward_equals_one_batch(extractor: keras.Model, n_tiles: int) -> None:
    tiles = np.random.default_rng(6).integers(0, 256, (n_tiles, 16, 16, 3), dtype=np.uint8)
    whole = compile_forward(extractor, 16, 3, chunk_tiles=None)(tiles)
    assert chunk_count(n_tiles, 40) == -(-n_tiles // 40)  # 4 slices of 37-38 tiles; 1 of 2
    chunked = compile_forward(extractor, 16, 3, chunk_tiles=40)(tiles)
    assert chunked.shape == (n_tiles, 256)
    np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=1e-6)


def test_in_chunks_keeps_order_with_uneven_and_empty_slices() -> None:
    batch = tf.range(10)
    for parts in (1, 3, 4, 12):
        out = tf.function(lambda x, p=parts: in_chunks(lambda t: t * 2, x, p))(batch)
        assert out.numpy().tolist() == list(range(0, 20, 2))


def test_features_are_assembled_in_catalog_order(tmp_path) -> None:
    catalog = pd.DataFrame({"shard": [1, 0, 1, 2, 0], "offset": [0, 0, 1, 0, 1]})
    jobs = shard_jobs(catalog, tmp_path, None, 4)
    parts = [np.full((len(job.rows), 3), job.shard, np.float32) + job.offsets[:, None] / 10
             for job in jobs]
    assemble_features(tmp_path / "features.npy", jobs, list(parts), 3)
    features = np.load(tmp_path / "features.npy")
    expected = catalog["shard"].to_numpy()[:, None] + catalog["offset"].to_numpy()[:, None] / 10
    assert features.dtype == np.float32 and features.shape == (5, 3)
    np.testing.assert_array_equal(features, np.repeat(expected, 3, axis=1).astype(np.float32))
