"""Scale benchmark: per-tile extraction on the local executor vs a 2-worker Dask LocalCluster.

On generated 64 px tiles (a tile cache of ``--shard``-tile ``.npy`` files in a temporary folder)
and a MobileNet 0.25 classifier (random weights; saved and loaded as ``model.keras``), the extract
stage's own shard function (:func:`pipeline.models.extraction.extract_shard`: the model loaded once
per process, batches read on a background thread, resized to the network input in the compiled
graph, the features saved as the shard's own result file) runs for every cache shard through
the pipeline's own executor (:class:`pipeline.engine.executor.StageShards`: shard records, results read
back by index):

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
import logging
import os
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from pipeline.config.schema import DaskExecutor  # noqa: E402
from pipeline.engine.executor import DaskShardExecutor, LocalExecutor, StageShards  # noqa: E402
from pipeline.tiles.cache import TileShape  # noqa: E402
from pipeline.models.extraction import (  # noqa: E402
    FeatureSource,
    ShardJob,
    extract_shard,
    finetuned_source,
    forward_for,
)

TILE_PX, BANDS, BATCH = 64, 3, 64


def extract_block(job: ShardJob) -> tuple[np.ndarray, dict]:
    """The extract stage's work on one cache shard; returns its features and its tiles, CPU
    seconds (of the whole process while the shard ran) and this process's peak RSS."""
    cpu0 = time.process_time()
    features = extract_shard(job)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return features, {"tiles": len(features), "pid": os.getpid(), "rss_mb": rss_mb,
                      "cpu_s": time.process_time() - cpu0}


def warm(source: FeatureSource) -> int:
    forward_for(source)[0](np.zeros((BATCH, TILE_PX, TILE_PX, BANDS), np.uint8))
    return os.getpid()


def make_world(folder: Path, n_tiles: int, shard: int,
               input_px: int) -> tuple[FeatureSource, list[ShardJob]]:
    """A saved model, a tile cache of ``n_tiles`` random tiles and one extract job per cache
    shard."""
    from pipeline.models import build_classifier

    folder.mkdir(parents=True)
    model = build_classifier("mobilenet_0.25", input_px, BANDS, 3, None)
    model.save(folder / "model.keras")
    source = finetuned_source(folder / "model.keras", TileShape(TILE_PX, BANDS))
    rng = np.random.default_rng(0)
    jobs = []
    for index, start in enumerate(range(0, n_tiles, shard)):
        n = min(shard, n_tiles - start)
        np.save(folder / f"shard_{index:05d}.npy",
                rng.integers(0, 256, (n, TILE_PX, TILE_PX, BANDS), dtype=np.uint8))
        jobs.append(ShardJob(index, np.arange(start, start + n), np.arange(n), folder, source,
                             BATCH))
    return source, jobs


def timed_map(backend, jobs: list[ShardJob], out: Path) -> tuple[float, list[dict]]:  # noqa: ANN001
    shards = StageShards(backend, out, logging.getLogger("bench"), progress=False)
    t0 = time.perf_counter()
    results = shards.map(extract_block, jobs, desc="extract")
    return time.perf_counter() - t0, [stats for _, stats in results]


def cluster() -> DaskShardExecutor:
    return DaskShardExecutor(DaskExecutor(kind="dask", workers=2, threads_per_worker=1))


def peak_worker_memory(jobs: list[ShardJob], out: Path) -> float:
    """Peak RSS (MB) of the workers of a fresh cluster that extracts ``jobs``."""
    backend = cluster()
    try:
        _, records = timed_map(backend, jobs, out)
    finally:
        backend.close()
    return max(r["rss_mb"] for r in records)


def alternate(source: FeatureSource, jobs: list[ShardJob], root: Path, repeats: int) -> dict:
    """Local and Dask runs in turn (the machine's other load hits both alike); every timing."""
    backend = cluster()
    out: dict = {"local": [], "dask": []}
    try:
        backend.client.run(warm, source)
        warm(source)
        for r in range(repeats):
            out["local"].append(timed_map(LocalExecutor(), jobs, root / f"local-{r}"))
            out["dask"].append(timed_map(backend, jobs, root / f"dask-{r}"))
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
        _, jobs_1x = make_world(root / "1x", args.tiles, args.shard, args.input_px)
        source_4x, jobs_4x = make_world(root / "4x", n4, args.shard, args.input_px)
        mem_1x = peak_worker_memory(jobs_1x, root / "mem-1x")
        mem_4x = peak_worker_memory(jobs_4x, root / "mem-4x")
        runs = alternate(source_4x, jobs_4x, root, args.repeats)
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
