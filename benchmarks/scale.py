"""Scale benchmark: per-tile extraction on the local executor vs a 2-worker Dask LocalCluster.

On generated 64 px tiles (a tile cache of ``--shard``-tile ``.npy`` files in a temporary folder)
and a MobileNet 0.25 classifier (random weights; saved and loaded as ``model.keras``), one shard
function does what extraction does for one cache shard: load the model (once per process),
read the shard through a memory map, cast/resize to the network input in the graph, run the
feature layer in batches and write the rows into a shared ``features.npy`` memory map. It runs
through the pipeline's own executor (:class:`pipeline.executor.StageShards`: shard records,
results read back by index):

* throughput, tiles/s, with the local executor (this process, TensorFlow on every core) and with
  a LocalCluster of 2 worker processes x 1 thread on the same cores, on 4x the tiles, after a
  warm-up that loads the model in every process; the two alternate ``--repeats`` times and the
  best run of each counts, so load from other processes on the machine hits both alike; the CPU
  time per tile (each process's own) shows the work itself, whatever the load;
* peak resident memory (``ru_maxrss``) of each worker on 1x and 4x the tiles, each on a fresh
  cluster: memory is bounded by the shard and batch size, so 4x the tiles should not need more.

Usage: ``python benchmarks/scale.py [--tiles 2048] [--shard 512] [--input-px 128] [--repeats 3]``
(``make bench-scale``). The last line is machine-readable::

    RESULT dask_vs_local=<ratio> worker_mem_4x_over_1x=<ratio>
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from pipeline.config import DaskExecutor  # noqa: E402
from pipeline.executor import DaskShardExecutor, LocalExecutor, StageShards  # noqa: E402

TILE_PX, BANDS, BATCH = 64, 3, 64


@dataclass(frozen=True)
class Block:
    """One cache shard to extract: rows ``start:start+n`` of ``features``."""

    model: Path
    cache: Path
    features: Path
    start: int


@functools.lru_cache(maxsize=1)
def forward(model_path: Path):  # noqa: ANN201 - a tf.function
    """The feature layer of the saved classifier, with cast and resize in the graph."""
    import keras
    import tensorflow as tf

    from pipeline.models import feature_model

    model = keras.saving.load_model(model_path, safe_mode=True)
    extractor = feature_model(model)
    size = int(model.inputs[0].shape[1])

    @tf.function(reduce_retracing=True)
    def run(pixels: tf.Tensor) -> tf.Tensor:
        images = tf.image.resize(tf.cast(pixels, tf.float32), (size, size))
        return extractor(images, training=False)

    return run


def extract_block(block: Block) -> dict:
    """Features of one cache shard into their rows; returns tiles, CPU seconds (of the whole
    process while the shard ran) and this process's peak RSS."""
    cpu0 = time.process_time()
    run = forward(block.model)
    pixels = np.load(block.cache, mmap_mode="r")
    features = np.load(block.features, mmap_mode="r+")
    for i in range(0, len(pixels), BATCH):
        out = run(np.ascontiguousarray(pixels[i:i + BATCH])).numpy()
        features[block.start + i:block.start + i + len(out)] = out
    features.flush()
    del features
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"tiles": len(pixels), "pid": os.getpid(), "rss_mb": rss_mb,
            "cpu_s": time.process_time() - cpu0}


def warm(model_path: Path) -> int:
    forward(model_path)(np.zeros((BATCH, TILE_PX, TILE_PX, BANDS), np.uint8))
    return os.getpid()


def make_world(folder: Path, n_tiles: int, shard: int, input_px: int) -> tuple[Path, list[Block]]:
    """A saved model, a tile cache of ``n_tiles`` random tiles and a features file for them."""
    from pipeline.models import build_classifier, feature_dim

    folder.mkdir(parents=True)
    model_path = folder / "model.keras"
    model = build_classifier("mobilenet_0.25", input_px, BANDS, 3, None)
    model.save(model_path)
    rng = np.random.default_rng(0)
    blocks = []
    for index, start in enumerate(range(0, n_tiles, shard)):
        cache = folder / f"shard_{index:05d}.npy"
        n = min(shard, n_tiles - start)
        np.save(cache, rng.integers(0, 256, (n, TILE_PX, TILE_PX, BANDS), dtype=np.uint8))
        blocks.append(Block(model_path, cache, folder / "features.npy", start))
    np.lib.format.open_memmap(folder / "features.npy", mode="w+", dtype=np.float32,
                              shape=(n_tiles, feature_dim(model))).flush()
    return model_path, blocks


def timed_map(backend, blocks: list[Block], out: Path) -> tuple[float, list[dict]]:  # noqa: ANN001
    shards = StageShards(backend, out, logging.getLogger("bench"), progress=False)
    t0 = time.perf_counter()
    records = shards.map(extract_block, blocks, desc="extract")
    return time.perf_counter() - t0, records


def cluster() -> DaskShardExecutor:
    return DaskShardExecutor(DaskExecutor(kind="dask", workers=2, threads_per_worker=1))


def peak_worker_memory(model_path: Path, blocks: list[Block], out: Path) -> float:
    """Peak RSS (MB) of the workers of a fresh cluster that extracts ``blocks``."""
    backend = cluster()
    try:
        _, records = timed_map(backend, blocks, out)
    finally:
        backend.close()
    return max(r["rss_mb"] for r in records)


def alternate(model_path: Path, blocks: list[Block], root: Path, repeats: int) -> dict:
    """Local and Dask runs in turn (the machine's other load hits both alike); every timing."""
    backend = cluster()
    out: dict = {"local": [], "dask": []}
    try:
        backend.client.run(warm, model_path)
        warm(model_path)
        for r in range(repeats):
            out["local"].append(timed_map(LocalExecutor(), blocks, root / f"local-{r}"))
            out["dask"].append(timed_map(backend, blocks, root / f"dask-{r}"))
    finally:
        backend.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiles", type=int, default=2048, help="tiles of the 1x run")
    parser.add_argument("--shard", type=int, default=512, help="tiles per shard (data.shard_size)")
    parser.add_argument("--input-px", type=int, default=128, help="network input size")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each executor")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}  load average at start: {os.getloadavg()[0]:.2f}")
    n4 = 4 * args.tiles
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model_1x, blocks_1x = make_world(root / "1x", args.tiles, args.shard, args.input_px)
        model_4x, blocks_4x = make_world(root / "4x", n4, args.shard, args.input_px)
        mem_1x = peak_worker_memory(model_1x, blocks_1x, root / "mem-1x")
        mem_4x = peak_worker_memory(model_4x, blocks_4x, root / "mem-4x")
        runs = alternate(model_4x, blocks_4x, root, args.repeats)
    best = {kind: min(t for t, _ in timings) for kind, timings in runs.items()}
    cpu = {kind: 1000 * sum(r["cpu_s"] for r in timings[0][1]) / n4 for kind, timings in runs.items()}
    workers = len({r["pid"] for _, recs in runs["dask"] for r in recs})
    print(f"extraction, {n4} tiles of {TILE_PX} px -> mobilenet_0.25 at {args.input_px} px, "
          f"shards of {args.shard}; best of {args.repeats} alternating runs:")
    for kind, label in (("local", "local executor (1 process, all cores)"),
                        ("dask", f"dask LocalCluster ({workers} workers x 1 thread)")):
        times = ", ".join(f"{t:.2f}" for t, _ in runs[kind])
        print(f"  {label:<42} {n4 / best[kind]:8.1f} tiles/s (runs: {times} s)")
    print(f"CPU time per tile: local {cpu['local']:.3f} ms, dask workers {cpu['dask']:.3f} ms")
    print(f"peak worker memory (ru_maxrss): {mem_1x:.0f} MB at {args.tiles} tiles, "
          f"{mem_4x:.0f} MB at {n4} tiles")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    print(f"RESULT dask_vs_local={best['local'] / best['dask']:.3f} "
          f"worker_mem_4x_over_1x={mem_4x / mem_1x:.3f}")


if __name__ == "__main__":
    main()
