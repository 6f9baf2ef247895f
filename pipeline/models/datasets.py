"""tf.data input pipelines streaming tiles from the ingest tile cache.

The cache is a folder of ``shard_NNNNN.npy`` files, uint8 (n, size, size, bands); a tile is
addressed by (shard, offset). Shards are memory-mapped, so memory is bounded by the batch size.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tensorflow as tf


class TileCache:
    """Read access to the tile cache by (shard, offset), shards memory-mapped on first use."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = Path(cache_dir)
        self._shards: dict[int, np.ndarray] = {}

    def shard(self, index: int) -> np.ndarray:
        if index not in self._shards:
            self._shards[index] = np.load(self.cache_dir / f"shard_{index:05d}.npy", mmap_mode="r")
        return self._shards[index]

    def take(self, shards: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Tiles at the given positions, uint8 (n, size, size, bands), in the order asked."""
        out = None
        for s in np.unique(shards):
            rows = np.flatnonzero(shards == s)
            block = self.shard(int(s))[offsets[rows]]
            if out is None:
                out = np.empty((len(shards), *block.shape[1:]), dtype=np.uint8)
            out[rows] = block
        return out

    def batches(self, shards: np.ndarray, offsets: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
        """Tiles in the given order, ``batch_size`` at a time."""
        for start in range(0, len(shards), batch_size):
            yield self.take(shards[start:start + batch_size], offsets[start:start + batch_size])


def augment(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Augmentation that fits overhead imagery: flips, 90° rotations, small colour jitter.

    Args:
        images: float32 (batch, h, w, bands) with h == w, raw 0..255 values.
        seed: int64 (2,), the stateless seed of this batch.
    """
    n, bands = tf.shape(images)[0], tf.shape(images)[3]
    s_flip, s_rot, s_col = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    flip = tf.random.stateless_uniform([n, 1, 1, 1], s_flip) < 0.5
    images = tf.where(flip, tf.reverse(images, axis=[2]), images)
    rotations = tf.stack([tf.image.rot90(images, k) for k in range(4)], axis=1)
    k = tf.random.stateless_uniform([n], s_rot, 0, 4, dtype=tf.int32)
    images = tf.gather(rotations, k, axis=1, batch_dims=1)
    jitter = tf.random.stateless_uniform([n, 1, 1, bands], s_col, 0.93, 1.07)
    return tf.clip_by_value(images * jitter, 0.0, 255.0)


def tile_dataset(cache: TileCache, shards: np.ndarray, offsets: np.ndarray,
                 labels: np.ndarray | None, batch_size: int, input_px: int,
                 shuffle_seed: int | None = None) -> tf.data.Dataset:
    """Batches of float32 tiles (batch, input_px, input_px, bands), with labels if given.

    Tiles are read in batches from the memory-mapped cache (``tf.numpy_function``) and
    prefetched, so reading overlaps compute. With a seed, the order is reshuffled and the
    batches are augmented every epoch, deterministically for that seed.
    """
    n = len(shards)
    sample = cache.take(shards[:1], offsets[:1])
    size, bands = sample.shape[1], sample.shape[-1]

    def load(idx: np.ndarray) -> np.ndarray:
        return cache.take(shards[idx], offsets[idx]).astype(np.float32)

    def read(idx: tf.Tensor) -> tf.Tensor:
        images = tf.numpy_function(load, [idx], tf.float32)
        images.set_shape([None, size, size, bands])
        if size != input_px:
            images = tf.image.resize(images, (input_px, input_px))
        return images

    index = tf.data.Dataset.range(n)
    if shuffle_seed is not None:
        index = index.shuffle(n, seed=shuffle_seed, reshuffle_each_iteration=True)
    ds = index.batch(batch_size)
    if labels is None:
        return ds.map(read).prefetch(tf.data.AUTOTUNE)
    label_t = tf.constant(labels, dtype=tf.int64)
    if shuffle_seed is None:
        return ds.map(lambda i: (read(i), tf.gather(label_t, i))).prefetch(tf.data.AUTOTUNE)
    seeds = tf.data.Dataset.random(seed=shuffle_seed, rerandomize_each_iteration=True).batch(2)
    ds = tf.data.Dataset.zip(ds, seeds)
    return ds.map(lambda i, s: (augment(read(i), s), tf.gather(label_t, i))).prefetch(
        tf.data.AUTOTUNE)
