"""Tests for pipeline.models.datasets: cache reads, augmentation, per-epoch training batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from pipeline.errors import MissingArtifactError
from pipeline.models.datasets import TileCache, augment, epoch_order, flip_rotate, tile_dataset


def write_cache(folder: Path, n_shards: int = 3, per_shard: int = 7, px: int = 8,
                seed: int = 0) -> np.ndarray:
    """Shards of random uint8 tiles; returns all tiles stacked in (shard, offset) order."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tiles = rng.integers(0, 256, (n_shards, per_shard, px, px, 3), dtype=np.uint8)
    for s in range(n_shards):
        np.save(folder / f"shard_{s:05d}.npy", tiles[s])
    return tiles


def test_take_equals_numpy_indexing_in_any_order(tmp_path: Path) -> None:
    tiles = write_cache(tmp_path)
    shards = np.array([2, 0, 2, 1, 2, 2, 0, 0])
    offsets = np.array([6, 0, 3, 5, 4, 3, 1, 2])  # runs, gaps, a repeated tile, shard order mixed
    got = TileCache(tmp_path).take(shards, offsets)
    np.testing.assert_array_equal(got, tiles[shards, offsets])
    batches = list(TileCache(tmp_path).batches(shards, offsets, 3))
    assert [len(b) for b in batches] == [3, 3, 2]
    np.testing.assert_array_equal(np.concatenate(batches), tiles[shards, offsets])


def test_truncated_shard_is_named_with_the_fix(tmp_path: Path) -> None:
    write_cache(tmp_path)
    path = tmp_path / "shard_00001.npy"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(MissingArtifactError, match=r"shard_00001\.npy.*truncated.*ingest"):
        TileCache(tmp_path).take(np.array([1]), np.array([6]))


def test_non_uint8_cache_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "shard_00000.npy", np.zeros((2, 4, 4, 3), np.float32))
    with pytest.raises(MissingArtifactError, match="uint8"):
        TileCache(tmp_path).take(np.array([0]), np.array([0]))


def _reference_augment(images: tf.Tensor, seed: tf.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """The same draws applied with numpy flips and tf.image.rot90, image by image."""
    n, bands = images.shape[0], images.shape[3]
    s_geometry, s_colour = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    s_flip, s_rot = tf.unstack(tf.random.experimental.stateless_split(s_geometry, 2))
    flip = tf.random.stateless_uniform([n], s_flip).numpy() < 0.5
    k = tf.random.stateless_uniform([n], s_rot, 0, 4, dtype=tf.int32).numpy()
    jitter = tf.random.stateless_uniform([n, 1, 1, bands], s_colour, 0.93, 1.07).numpy()
    out = []
    for i in range(n):
        image = images[i].numpy()
        image = image[:, ::-1] if flip[i] else image
        out.append(tf.image.rot90(image, int(k[i])).numpy())
    return np.clip(np.stack(out) * jitter, 0, 255), k


def test_augment_flips_rotates_and_jitters_like_the_reference() -> None:
    images = tf.constant(np.random.default_rng(1).uniform(0, 255, (32, 6, 6, 3)), tf.float32)
    seed = tf.constant([3, 4], tf.int64)
    expected, k = _reference_augment(images, seed)
    assert set(k.tolist()) == {0, 1, 2, 3}
    np.testing.assert_allclose(augment(images, seed).numpy(), expected, rtol=1e-6)


def test_augment_keeps_pixels_up_to_a_small_colour_change() -> None:
    image = np.random.default_rng(2).uniform(10, 200, (1, 5, 5, 3)).astype(np.float32)
    out = augment(tf.constant(image), tf.constant([0, 9], tf.int64)).numpy()
    ratio = np.sort(out[0].reshape(-1, 3), axis=0) / np.sort(image[0].reshape(-1, 3), axis=0)
    assert np.all((ratio > 0.929) & (ratio < 1.071))
    assert np.allclose(ratio, ratio[0])  # one factor per band


def test_epoch_order_is_a_pure_function_of_seed_and_epoch() -> None:
    a, seeds_a = epoch_order(10, 4, seed=5, epoch=2)
    b, seeds_b = epoch_order(10, 4, seed=5, epoch=2)
    c, _ = epoch_order(10, 4, seed=5, epoch=3)
    assert sorted(a.tolist()) == list(range(10)) and seeds_a.shape == (3, 2)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(seeds_a, seeds_b)
    assert not np.array_equal(a, c)


def _epoch(cache_dir: Path, seed: int, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    shards = np.repeat([0, 1, 2], 7)
    offsets = np.tile(np.arange(7), 3)
    labels = np.arange(21) % 3
    data = tile_dataset(TileCache(cache_dir), shards, offsets, labels, 8, 16,
                        shuffle_seed=seed, epoch=epoch)
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in data])
    return np.concatenate(xs), np.concatenate(ys)


@pytest.mark.slow
def test_training_epochs_are_reproducible_and_differ_between_epochs(tmp_path: Path) -> None:
    write_cache(tmp_path)
    x0, y0 = _epoch(tmp_path, seed=1, epoch=0)
    x0b, y0b = _epoch(tmp_path, seed=1, epoch=0)
    x1, _ = _epoch(tmp_path, seed=1, epoch=1)
    assert x0.shape == (21, 16, 16, 3) and x0.dtype == np.float32
    np.testing.assert_array_equal(x0, x0b)
    np.testing.assert_array_equal(y0, y0b)
    assert not np.allclose(x0, x1)
    assert sorted(y0.tolist()) == sorted((np.arange(21) % 3).tolist())


def test_labels_follow_their_tiles_through_shuffling(tmp_path: Path) -> None:
    tiles = np.zeros((1, 12, 8, 8, 3), np.uint8)
    tiles[0] = (np.arange(12) * 20 + 10).reshape(12, 1, 1, 1)  # tile i is flat, value 20 i + 10
    np.save(tmp_path / "shard_00000.npy", tiles[0])
    data = tile_dataset(TileCache(tmp_path), np.zeros(12, int), np.arange(12), np.arange(12), 5,
                        8, shuffle_seed=0, epoch=4)
    for x, y in data:
        expected = y.numpy() * 20.0 + 10.0
        np.testing.assert_allclose(x.numpy().mean(axis=(1, 2, 3)), expected, rtol=0.075)


def test_unshuffled_batches_are_the_resized_tiles_in_order(tmp_path: Path) -> None:
    tiles = write_cache(tmp_path)
    shards, offsets = np.array([1, 0, 2]), np.array([3, 6, 0])
    data = tile_dataset(TileCache(tmp_path), shards, offsets, None, 2, 16)
    got = np.concatenate([x.numpy() for x in data])
    expected = tf.image.resize(tiles[shards, offsets].astype(np.float32), (16, 16)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_flip_rotate_moves_uint8_pixels_like_float_ones() -> None:
    tiles = np.random.default_rng(3).integers(0, 256, (16, 8, 8, 3), dtype=np.uint8)
    seed = tf.constant([7, 8], tf.int64)
    as_uint8 = flip_rotate(tf.constant(tiles), seed).numpy()
    as_float = flip_rotate(tf.constant(tiles, tf.float32), seed).numpy()
    assert as_uint8.dtype == np.uint8
    np.testing.assert_array_equal(as_uint8, as_float.astype(np.uint8))
    assert not np.array_equal(as_uint8, tiles)
    np.testing.assert_array_equal(np.sort(as_uint8.reshape(16, -1), axis=1),
                                  np.sort(tiles.reshape(16, -1), axis=1))
