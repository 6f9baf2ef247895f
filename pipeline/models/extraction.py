"""Feature extraction: tiles from the cache through a network's feature layer, batch by batch.

The tf.data/Python boundary is crossed once per batch, with uint8 pixels; the cast to float32,
the bilinear resize to the network's input size (none when the network folds a 2x upsampling
into its stem) and the forward pass run in one compiled graph
(:func:`compile_forward`). The next batch is read on a background thread (file reads release
the GIL) while the current one is computed, so reading is hidden behind compute, and memory is
bounded by the batch size.

The extract stage and the ``baselines`` stage (untrained ImageNet features, MOSAIKS-style random
features) all stream tiles through :func:`stream_features`, which takes any function from uint8
tiles to float32 features. Two network feature sources (config ``features.mode``):

- ``finetuned``: the ``features`` layer of the classifier the train stage saved.
- ``frozen``: the same layer of a classifier built on the ImageNet backbone and never trained
  (global-average-pooled ImageNet features; Jean et al.'s "no transfer" comparison).

The extract stage's work is one :class:`ShardJob` per cache shard (:func:`shard_jobs`), each
computed by :func:`extract_shard` on a worker; :func:`assemble_features` then copies the shards'
results into one feature matrix in catalog order.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline.errors import ConfigError
from pipeline.models.backbones import BackboneSpec
from pipeline.models.classifier import build_classifier, feature_model, load_classifier
from pipeline.models.datasets import TileCache
from pipeline.models.weights import Weights, resolve_weights
from pipeline.tiles.cache import TileShape

if TYPE_CHECKING:  # TensorFlow takes seconds to load: imported where used
    import keras
    import tensorflow as tf

MODES = ("finetuned", "frozen")

Forward = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class FeatureSource:
    """Which network computes the features (hashable: it keys the per-process model cache).

    Attributes:
        mode: ``"finetuned"`` or ``"frozen"``.
        tile_px: Side of the cached tiles in pixels.
        bands: Bands of the cached tiles.
        model_path: The saved classifier (``finetuned``).
        model_mtime_ns: Its modification time, so a retrained model is not served from cache.
        backbone: Registry key of the backbone (``frozen``).
        weights_path: Backbone weights file, None for random initialisation (``frozen``).
        input_px: Network input size in pixels (``frozen``; ``finetuned`` reads the model's).
        seed: Seeds the random initialisation of a ``frozen`` backbone without weights.
    """

    mode: str
    tile_px: int
    bands: int
    model_path: Path | None = None
    model_mtime_ns: int = 0
    backbone: str | None = None
    weights_path: Path | None = None
    input_px: int | None = None
    seed: int = 0


def finetuned_source(model_path: Path, tiles: TileShape) -> FeatureSource:
    """The features of a classifier saved by the train stage, for cached ``tiles``."""
    return FeatureSource("finetuned", tiles.size_px, tiles.bands, Path(model_path),
                         Path(model_path).stat().st_mtime_ns)


def frozen_source(backbone: str, weights_path: Path | None, input_px: int, tile_px: int,
                  bands: int, seed: int = 0) -> FeatureSource:
    """The features of an ImageNet backbone without fine-tuning (``weights_path`` None: random
    initialisation from ``seed``)."""
    return FeatureSource("frozen", tile_px, bands, backbone=backbone,
                         weights_path=weights_path, input_px=input_px, seed=seed)


def imagenet_source(spec: BackboneSpec, weights: Weights, input_px: int,
                    weights_dir: Path | None, tiles: TileShape, seed: int = 0) -> FeatureSource:
    """A never-trained ImageNet backbone as a frozen source, for cached ``tiles``.

    The weights file is resolved now (see :func:`~pipeline.models.weights.resolve_weights`), so
    a missing ImageNet file fails before any tile is read.
    """
    path = resolve_weights(spec, weights, input_px, weights_dir)
    return frozen_source(spec.name, path, input_px, tiles.size_px, tiles.bands, seed)


def load_feature_model(source: FeatureSource) -> keras.Model:
    """The model mapping float32 raw pixels at its input size to ``(batch, feature_dim)``."""
    import keras

    if source.mode == "finetuned":
        # compile=False: extraction needs neither the loss nor the optimizer's saved state
        model = load_classifier(source.model_path, compile=False)
    elif source.mode == "frozen":
        keras.utils.set_random_seed(source.seed)
        model = build_classifier(str(source.backbone), int(source.input_px), source.bands, 2,
                                 source.weights_path, dropout=0.0, tile_px=source.tile_px)
    else:
        raise ConfigError(f"features.mode: unknown {source.mode!r}; choose one of: "
                          f"{', '.join(MODES)}.")
    return feature_model(model)


CHUNK_TILES = 64
"""On a CPU, the tiles of a batch go through the network in slices of about this many."""


def chunk_count(n_tiles: int, chunk_tiles: int | None = CHUNK_TILES) -> int:
    """Slices a batch of ``n_tiles`` is cut into: 1 with ``chunk_tiles`` None or on a GPU."""
    import tensorflow as tf

    if chunk_tiles is None or tf.config.list_physical_devices("GPU"):
        return 1
    return max(1, -(-n_tiles // chunk_tiles))


def in_chunks(fn: Callable[[tf.Tensor], tf.Tensor], batch: tf.Tensor, parts: int) -> tf.Tensor:
    """``fn`` over ``parts`` near-equal slices of ``batch``, concatenated (inside a graph).

    The slices are independent ops, so TensorFlow runs them side by side on its inter-op
    threads. On a CPU that keeps the cores busier than one large batch, whose small layers
    (MobileNet's depthwise convolutions) split badly across cores, and it lets one slice's
    resize overlap another's network. Measured by ``make bench``, (a) and (b) alike.
    """
    import tensorflow as tf

    if parts == 1:
        return fn(batch)
    n = tf.shape(batch)[0]
    sizes = n // parts + tf.cast(tf.range(parts) < n % parts, tf.int32)
    return tf.concat([fn(part) for part in tf.split(batch, sizes, num=parts)], axis=0)


def compile_forward(extractor: keras.Model, tile_px: int, bands: int,
                    chunk_tiles: int | None = CHUNK_TILES) -> Forward:
    """A compiled function: uint8 tiles ``(n, tile_px, tile_px, bands)`` -> float32 features.

    Tiles are cast, and resized (bilinear) to the model's input size unless the model takes
    them as they are (e.g. with the upsampling folded into its stem, see
    :func:`pipeline.models.classifier.build_classifier`), inside the graph, in slices of about
    ``chunk_tiles`` on a CPU (:func:`in_chunks`).
    """
    import tensorflow as tf

    input_px = int(extractor.inputs[0].shape[1])
    spec = tf.TensorSpec([None, tile_px, tile_px, bands], tf.uint8)

    @tf.function(input_signature=[spec])  # traced once, called once per slice
    def network(tiles: tf.Tensor) -> tf.Tensor:
        if tile_px == input_px:
            images = tf.cast(tiles, tf.float32)
        else:  # resizing from uint8 is faster than casting first, and gives float32
            images = tf.image.resize(tiles, (input_px, input_px))
        return tf.cast(extractor(images, training=False), tf.float32)

    @functools.cache
    def graph(parts: int) -> Callable[[np.ndarray], tf.Tensor]:
        return tf.function(lambda tiles: in_chunks(network, tiles, parts), input_signature=[spec])

    def call(tiles: np.ndarray) -> np.ndarray:
        return graph(chunk_count(len(tiles), chunk_tiles))(tiles).numpy()

    return call


@functools.lru_cache(maxsize=2)
def forward_for(source: FeatureSource) -> tuple[Forward, int]:
    """The compiled forward function of a source and its feature length, cached per process.

    The cache matters on Dask workers, which extract many shards with the same model.
    """
    extractor = load_feature_model(source)
    return compile_forward(extractor, source.tile_px, source.bands), int(
        extractor.outputs[0].shape[-1])


def stream_features(forward: Forward, cache: TileCache, shards: np.ndarray, offsets: np.ndarray,
                    batch_size: int) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, features)`` for consecutive batches of the given tiles, in order.

    Args:
        forward: uint8 tiles ``(n, px, px, bands)`` -> float32 ``(n, dim)``, e.g. from
            :func:`compile_forward`.
        cache: The tile cache.
        shards, offsets: int arrays (n,), the tiles' positions in the cache.
        batch_size: Tiles per batch (bounds the memory used).

    Yields:
        The position of the batch's first tile and its float32 features ``(batch, dim)``.
    """
    starts = range(0, len(shards), batch_size)

    def read(start: int) -> np.ndarray:
        return cache.take(shards[start:start + batch_size], offsets[start:start + batch_size])

    with ThreadPoolExecutor(max_workers=1) as reader:
        pending = reader.submit(read, 0) if len(shards) else None
        for start in starts:
            tiles = pending.result()
            nxt = start + batch_size
            pending = reader.submit(read, nxt) if nxt < len(shards) else None
            yield start, forward(tiles)


@dataclass(frozen=True)
class ShardJob:
    """One cache shard's extraction, as sent to a worker.

    Attributes:
        shard: The cache shard.
        rows: Catalog rows (= rows of ``features.npy``) of the shard's tiles, int (n,).
        offsets: Their positions in the shard file, int (n,).
        cache_dir: The ``ingest/cache`` folder.
        source: The network computing the features.
        batch_size: Tiles per forward pass.
    """

    shard: int
    rows: np.ndarray
    offsets: np.ndarray
    cache_dir: Path
    source: FeatureSource
    batch_size: int


def extract_shard(job: ShardJob) -> np.ndarray:
    """One shard's features, float32 (n, feature_dim), row j for the tile at ``job.offsets[j]``.

    The executor saves them as this shard's own result file; the shard writes nothing else.
    """
    forward, dim = forward_for(job.source)
    features = np.empty((len(job.rows), dim), dtype=np.float32)
    shards = np.full(len(job.rows), job.shard)
    for start, values in stream_features(forward, TileCache(job.cache_dir), shards, job.offsets,
                                         job.batch_size):
        features[start:start + len(values)] = values
    return features


def assemble_features(path: Path, jobs: list[ShardJob], parts: list[np.ndarray], dim: int) -> None:
    """Write float32 ``(n_tiles, dim)`` ``path``, each job's rows from its part, one at a time.

    Args:
        path: The ``.npy`` to write (replaced if it exists).
        jobs: The shard jobs; their ``rows`` together are 0 .. n_tiles - 1.
        parts: Each job's features (memory-mapped shard results), in job order. Each is taken
            out of the list as it is copied, and the output is mapped only while one part is
            copied into it, so memory holds one shard's features at a time.
    """
    n_tiles = sum(len(job.rows) for job in jobs)
    np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n_tiles, dim)).flush()
    for job in jobs:
        features = np.load(path, mmap_mode="r+")
        features[job.rows] = parts.pop(0)
        features.flush()
        del features  # unmap: the touched pages leave this process's resident memory


def shard_jobs(catalog: pd.DataFrame, cache_dir: Path, source: FeatureSource,
               batch_size: int) -> list[ShardJob]:
    """One job per cache shard, in shard order.

    Args:
        catalog: one row per tile, in catalog order, with its cache ``shard`` and ``offset``.
    """
    shards = catalog["shard"].to_numpy()
    jobs = []
    for shard in np.unique(shards):
        rows = np.flatnonzero(shards == shard)
        jobs.append(ShardJob(int(shard), rows, catalog["offset"].to_numpy()[rows], cache_dir,
                             source, batch_size))
    return jobs
