"""tf.data input pipelines streaming tiles from the ingest tile cache.

The cache is a folder of ``shard_NNNNN.npy`` files, uint8 (n, size, size, bands); a tile is
addressed by (shard, offset). Tiles are read with a seek and a read per run of consecutive tiles
straight into a buffer of the batch, not through memory maps, so the memory of a reader is bounded by the batch size
whatever the number of tiles (a memory map's touched pages count towards the process's
resident memory until it is unmapped). Pixels travel as uint8 and are cast in the graph.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.errors import MissingArtifactError
from pipeline.tiles.cache import TileShape, shard_file

if TYPE_CHECKING:  # TensorFlow takes seconds to load: imported where used
    import tensorflow as tf


class TileCache:
    """Read access to the tile cache by (shard, offset).

    Args:
        cache_dir: the ``ingest/cache`` folder.
    """

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = Path(cache_dir)
        self._layouts: dict[int, tuple[int, tuple[int, ...]]] = {}

    def path(self, index: int) -> Path:
        """The cache file of shard ``index``."""
        return shard_file(self.cache_dir, index)

    def layout(self, index: int) -> tuple[int, tuple[int, ...]]:
        """(byte offset of the first tile, array shape) of shard ``index``; read once."""
        if index not in self._layouts:
            self._layouts[index] = _npy_layout(self.path(index))
        return self._layouts[index]

    def tile_shape(self, index: int) -> TileShape:
        """The size and bands of the tiles (those of shard ``index``: all shards share them)."""
        return TileShape.of(self.layout(index)[1])

    def shard(self, index: int) -> np.ndarray:
        """The whole shard as a read-only memory map, uint8 (n, size, size, bands)."""
        return np.load(self.path(index), mmap_mode="r")

    def take(self, shards: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Tiles at the given positions, uint8 (n, size, size, bands), in the order asked."""
        shards, offsets = np.asarray(shards), np.asarray(offsets)
        out: np.ndarray | None = None
        for s in np.unique(shards):
            rows = np.flatnonzero(shards == s)
            start, shape = self.layout(int(s))
            if out is None:
                out = np.empty((len(shards), *shape[1:]), dtype=np.uint8)
            _read_rows(self.path(int(s)), start, offsets[rows], out, rows)
        if out is None:
            raise MissingArtifactError(f"{self.cache_dir}: no tiles were asked for.")
        return out

    def batches(self, shards: np.ndarray, offsets: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
        """Tiles in the given order, ``batch_size`` at a time."""
        for start in range(0, len(shards), batch_size):
            yield self.take(shards[start:start + batch_size], offsets[start:start + batch_size])


def _npy_layout(path: Path) -> tuple[int, tuple[int, ...]]:
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(handle)
            start = handle.tell()
    except (OSError, ValueError) as exc:
        raise MissingArtifactError(
            f"{path}: cannot read this tile cache file ({exc}); rerun the ingest stage "
            "(`poverty-pipeline run CONFIG --from ingest`).") from exc
    if dtype != np.uint8 or fortran or len(shape) != 4:
        raise MissingArtifactError(
            f"{path}: expected a C-ordered uint8 array (n, size, size, bands); got {dtype} "
            f"{shape}. Rerun the ingest stage.")
    return start, tuple(shape)


def _read_rows(path: Path, start: int, offsets: np.ndarray, out: np.ndarray,
               rows: np.ndarray) -> None:
    """Read tiles ``offsets`` of one shard file into ``out[rows]``, one read per run of tiles."""
    tile_bytes = int(np.prod(out.shape[1:]))
    order = np.argsort(offsets, kind="stable")
    sorted_offsets = offsets[order]
    breaks = np.flatnonzero(np.diff(sorted_offsets) != 1) + 1
    with open(path, "rb", buffering=0) as handle:  # one handle per call: safe across threads
        for run in np.split(np.arange(len(order)), breaks):
            first, count = int(sorted_offsets[run[0]]), len(run)
            data = np.empty((count, *out.shape[1:]), dtype=np.uint8)
            handle.seek(start + first * tile_bytes)
            if handle.readinto(memoryview(data).cast("B")) != count * tile_bytes:
                raise MissingArtifactError(
                    f"{path}: tiles {first}..{first + count - 1} are past the end of the file; "
                    "the tile cache is truncated. Rerun the ingest stage.")
            out[rows[order[run]]] = data


def dihedral_index(size: int) -> np.ndarray:
    """Source pixel of every output pixel under the 8 flips/rotations of a square tile.

    Returns:
        int32 (8, size * size); row ``4 * flip + k`` maps output pixel ``y * size + x`` of
        ``rot90(flip_left_right(tile) if flip else tile, k)`` (counter-clockwise, as
        ``tf.image.rot90``) to its pixel in ``tile``.
    """
    base = np.arange(size * size, dtype=np.int32).reshape(size, size)
    return np.stack([np.rot90(base[:, ::-1] if flip else base, k).ravel()
                     for flip in (0, 1) for k in range(4)])


def flip_rotate(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Mirror each tile with probability 1/2, then rotate it by k·90° (k uniform in 0..3).

    One gather per batch through :func:`dihedral_index`; any dtype (uint8 tiles are cheapest).

    Args:
        images: (batch, h, w, bands) with h == w.
        seed: int64 (2,), stateless seed.
    """
    import tensorflow as tf

    shape = tf.shape(images)
    n, size, bands = shape[0], images.shape[1], shape[3]
    s_flip, s_rot = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    flip = tf.cast(tf.random.stateless_uniform([n], s_flip) < 0.5, tf.int32)
    k = tf.random.stateless_uniform([n], s_rot, 0, 4, dtype=tf.int32)
    index = tf.gather(tf.constant(dihedral_index(size)), 4 * flip + k)
    pixels = tf.gather(tf.reshape(images, [n, -1, bands]), index, batch_dims=1)
    return tf.reshape(pixels, shape)


def colour_jitter(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Scale each band of each tile by a factor in [0.93, 1.07]; clip to 255.

    Args:
        images: float32 (batch, h, w, bands), raw 0..255 values.
        seed: int64 (2,), stateless seed.
    """
    import tensorflow as tf

    shape = tf.shape(images)
    jitter = tf.random.stateless_uniform([shape[0], 1, 1, shape[3]], seed, 0.93, 1.07)
    return tf.minimum(images * jitter, 255.0)


def augment(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Augmentation that fits overhead imagery: :func:`flip_rotate`, then :func:`colour_jitter`.

    Args:
        images: float32 (batch, h, w, bands) with h == w, raw 0..255 values.
        seed: int64 (2,), the stateless seed of this batch.

    Returns:
        float32, the same shape, values in 0..255.
    """
    import tensorflow as tf

    s_geometry, s_colour = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    return colour_jitter(flip_rotate(images, s_geometry), s_colour)


def epoch_order(n: int, batch_size: int, seed: int, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """Tile order and per-batch augmentation seeds of one training epoch.

    A pure function of ``(seed, epoch)``, so a training resumed at ``epoch`` sees exactly the
    batches an uninterrupted one would.

    Returns:
        (permutation of ``range(n)``, int64 (n_batches, 2) stateless seeds).
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(n)
    seeds = rng.integers(0, 2**31 - 1, size=(-(-n // batch_size), 2), dtype=np.int64)
    return order, seeds


def tile_dataset(cache: TileCache, shards: np.ndarray, offsets: np.ndarray,
                 labels: np.ndarray | None, batch_size: int, input_px: int,
                 shuffle_seed: int | None = None, epoch: int = 0) -> tf.data.Dataset:
    """Batches of float32 tiles (batch, input_px, input_px, bands), with labels if given
    (integer labels as int64, float targets as float32).

    Tiles are read in batches from the cache (``tf.numpy_function``, uint8), flipped and rotated
    as uint8 and colour-jittered (when shuffled), resized to ``input_px`` (bilinear, float32)
    and prefetched, with parallel map calls, so reading overlaps compute. With
    ``shuffle_seed``, the dataset is one training epoch: its order and augmentation are a pure
    function of ``(shuffle_seed, epoch)``; call it once per epoch. Without, tiles come in the
    given order, unaugmented.
    """
    import tensorflow as tf

    shape = cache.tile_shape(int(shards[0]))
    size, bands = shape.size_px, shape.bands

    def load(idx: np.ndarray) -> np.ndarray:
        return cache.take(shards[idx], offsets[idx])

    def read(idx: tf.Tensor) -> tf.Tensor:
        tiles = tf.numpy_function(load, [idx], tf.uint8, stateful=False)
        tiles.set_shape([None, size, size, bands])
        return tiles

    def resize(tiles: tf.Tensor) -> tf.Tensor:  # uint8 or float32 in, float32 out
        if size == input_px:
            return tf.cast(tiles, tf.float32)
        return tf.image.resize(tiles, (input_px, input_px))

    def augmented(idx: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        s_geometry, s_colour = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        tiles = tf.cast(flip_rotate(read(idx), s_geometry), tf.float32)
        return resize(colour_jitter(tiles, s_colour))  # jitter before upsampling: fewer pixels

    parallel = tf.data.AUTOTUNE
    if shuffle_seed is None:
        index = tf.data.Dataset.range(len(shards)).batch(batch_size)
        ds = index.map(lambda i: (i, resize(read(i))), num_parallel_calls=parallel)
    else:
        order, seeds = epoch_order(len(shards), batch_size, shuffle_seed, epoch)
        ds = tf.data.Dataset.zip(tf.data.Dataset.from_tensor_slices(order).batch(batch_size),
                                 tf.data.Dataset.from_tensor_slices(seeds))
        ds = ds.map(lambda i, s: (i, augmented(i, s)), num_parallel_calls=parallel)
    if labels is None:
        return ds.map(lambda i, images: images).prefetch(parallel)
    dtype = tf.float32 if np.issubdtype(np.asarray(labels).dtype, np.floating) else tf.int64
    label_t = tf.constant(labels, dtype=dtype)
    return ds.map(lambda i, images: (images, tf.gather(label_t, i))).prefetch(parallel)
