"""Throughput and memory of feature extraction and training, against the hardware's limits.

One process measures, with the demo configuration's backbone, input size, cached tile size and
batch sizes (``configs/demo.yaml``; each can be overridden), on generated tiles (a tile cache
written to a temporary folder):

  (a) the backbone's feature network at its input size (128 px) on in-memory float32 tensors
      (pure model rate), each batch cut into the slices extract runs side by side on a CPU
      (``in_chunks``); the rate of whole batches, one per call, is printed once as (a0);
  (a') extract's own compiled forward on in-memory uint8 tiles at the cache's size (64 px):
       (b) without reading, writing or bookkeeping. The model the train stage saves takes the
       tiles themselves, its 2x upsampling folded into the stem
       (``pipeline.models.upsampled_stem``); the same forward with the upsampling done by
       ``tf.image.resize`` before the unfolded network is printed once as (a-resize);
  (b) the extract stage end to end (``pipeline.stages.extract.run`` on the local executor with
      its shard records, as the runner calls it: model load, reading the cache from disk,
      cast/resize, forward, writing features.npy), tiles/s over the whole stage;
  (c) the fp32 matrix-multiply peak (4096 x 4096 ``tf.matmul``), FLOP/s;

(a), (a') and (b) alternate for ``--rounds`` rounds and the fastest of each counts (other jobs on a shared
machine only slow a run down); CPU time per tile is printed too, as it depends less on them. Then
the training step rate from the tile cache (the train stage's tf.data pipeline: read,
augment; the model the train stage builds) against training the same model on in-memory tensors
of what it takes (the unfolded model on 128 px tensors is printed too);
and, in child processes, the peak resident memory (``VmHWM``, see ``benchmarks/memory.py``) of the extract stage on 1x and
4x the tiles. The backbone's FLOPs per tile are counted from its layer shapes (2 x multiply-adds
of every convolution). The cache was just written, so "disk" reads come from the page cache.

Usage: ``python benchmarks/extract.py [--tiles N] [--backbone mobilenet_0.25] [--input-px 128]``
(``make bench``). The last line is machine-readable::

    RESULT extract_vs_pure=<b/a> train_vs_inmemory=<ratio> flop_share=<ratio> mem_4x_over_1x=<ratio>
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/memory.py
from memory import peak_rss_kib  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402

import yaml  # noqa: E402

from pipeline.config.schema import Config, parse_config  # noqa: E402
from pipeline.engine.executor import LocalExecutor, StageShards  # noqa: E402
from pipeline.models import build_classifier, feature_model, get_backbone, set_backbone_trainable  # noqa: E402
from pipeline.models.datasets import TileCache, tile_dataset  # noqa: E402
from pipeline.models.extraction import (  # noqa: E402
    CHUNK_TILES,
    chunk_count,
    compile_forward,
    forward_for,
    in_chunks,
)
from pipeline.stages import extract  # noqa: E402
from pipeline.engine.context import StageContext  # noqa: E402
from pipeline.engine.rundir import RunDir  # noqa: E402

SHARD = 512
DEMO_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"


def demo_defaults() -> Config:
    """The demo configuration: the benchmark measures its backbone, sizes and batches."""
    return parse_config(yaml.safe_load(DEMO_CONFIG.read_text()), DEMO_CONFIG.parent)


def write_world(root: Path, n_tiles: int, tile_px: int, seed: int = 0) -> None:
    """A run directory with ``ingest/`` (cache of n_tiles uint8 tiles, catalog), shard by shard."""
    cache = root / "ingest" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pool = rng.integers(0, 256, (SHARD, tile_px, tile_px, 3), dtype=np.uint8)
    for shard, start in enumerate(range(0, n_tiles, SHARD)):
        count = min(SHARD, n_tiles - start)
        np.save(cache / f"shard_{shard:05d}.npy", np.roll(pool, shard, axis=1)[:count])
    rows = np.arange(n_tiles)
    pd.DataFrame({"tile_id": [f"t{i}" for i in rows], "lon": 35 + rows * 1e-4,
                  "lat": -13 + rows * 1e-4, "shard": rows // SHARD, "offset": rows % SHARD}
                 ).to_parquet(root / "ingest" / "tiles.parquet")


def save_model(root: Path, backbone: str, input_px: int, tile_px: int) -> keras.Model:
    """The classifier the train stage would build for these tiles, saved where extract reads it."""
    model = build_classifier(backbone, input_px, 3, 3, None, seed=0, tile_px=tile_px)
    (root / "train").mkdir(parents=True, exist_ok=True)
    model.save(root / "train" / "model.keras")
    return model


def run_extract(root: Path, batch: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of the extract stage on ``root``, from scratch."""
    config = parse_config({
        "name": "bench", "run_dir": str(root), "features": {"batch_size": batch},
        "data": {"tiles": {"path": "t"}, "nightlights": {"path": "n"},
                 "survey": {"path": "s", "outcomes": ["y"]}},
        "regression": {"targets": [{"column": "y"}]}}, base_dir=root)
    run = RunDir(root)
    out = run.tmp_dir("extract")
    shutil.rmtree(out, ignore_errors=True)  # no shard records or markers of an earlier round
    out.mkdir()
    forward_for.cache_clear()
    log = logging.getLogger("bench.extract")
    t0, cpu0 = time.perf_counter(), time.process_time()
    shards = StageShards(LocalExecutor(), out, log, progress=False)  # what the runner passes
    extract.STAGE.run(StageContext.open(extract.STAGE, config, run, out, log, shards,
                                        progress=False))
    return time.perf_counter() - t0, time.process_time() - cpu0


def timed_rate(step, items_per_step: int, seconds: float) -> tuple[float, float]:  # noqa: ANN001
    """(items per second, CPU seconds of this process per item) of ``step()`` over about
    ``seconds``, after two warm-up calls."""
    step(), step()
    count, t0, cpu0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds:
        step()
        count += items_per_step
    return count / (time.perf_counter() - t0), (time.process_time() - cpu0) / count


def rate_over(step, batch: int, n_tiles: int) -> tuple[float, float]:  # noqa: ANN001
    """(tiles/s, CPU s/tile) of ``step()`` (one batch) repeated over ``n_tiles`` tiles, after
    two warm-up calls (tracing)."""
    step(), step()
    steps = -(-n_tiles // batch)
    t0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - t0), (time.process_time() - cpu0) / (steps * batch)


def pure_rate(model: keras.Model, input_px: int, batch: int, n_tiles: int,
              chunk_tiles: int | None = CHUNK_TILES) -> tuple[float, float]:
    """(a): the feature network's forward pass over ``n_tiles`` tiles (the work of (b)), in
    batches of one in-memory float32 tensor at its input size, each run in the slices extract
    uses (:func:`pipeline.models.extraction.in_chunks`; ``chunk_tiles`` None: whole)."""
    extractor = feature_model(model)
    parts = chunk_count(batch, chunk_tiles)
    forward = tf.function(lambda x: in_chunks(lambda h: extractor(h, training=False), x, parts))
    images = tf.random.uniform((batch, input_px, input_px, 3), 0, 255)
    return rate_over(lambda: forward(images).numpy(), batch, n_tiles)


def cached_forward_rate(model: keras.Model, tile_px: int, batch: int,
                        n_tiles: int) -> tuple[float, float]:
    """(a'): extract's own compiled forward (uint8 tiles at the cache size -> cast, resize if
    the model does not take them as they are, network) on one in-memory uint8 batch: (b)
    without reading, writing or bookkeeping."""
    forward = compile_forward(feature_model(model), tile_px, 3)
    tiles = np.random.default_rng(0).integers(0, 256, (batch, tile_px, tile_px, 3), np.uint8)
    return rate_over(lambda: forward(tiles), batch, n_tiles)


def matmul_peak(n: int = 4096, seconds: float = 5.0) -> float:
    a, b = tf.random.normal((n, n)), tf.random.normal((n, n))
    mm = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    return timed_rate(lambda: mm().numpy(), 2 * n**3, seconds)[0]


def conv_flops(model: keras.Model) -> int:
    """2 x multiply-adds of every convolution and dense layer of ``model`` (nested models too)."""
    total = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):  # noqa: SLF001
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            _, h, w, c = layer.output.shape
            total += 2 * h * w * c * int(np.prod(layer.kernel_size))
        elif isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            c_in = layer.input.shape[-1] // layer.groups
            total += 2 * h * w * c_out * c_in * int(np.prod(layer.kernel_size))
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * layer.input.shape[-1] * layer.units
    return int(total)


def train_rates(root: Path, args: argparse.Namespace) -> tuple[float, float, float]:
    """Training tiles/s of the train stage's model from the tile cache and from in-memory
    tensors, and of the unfolded model (128 px input) from in-memory 128 px tensors (best of 3
    epochs each, rotating which goes first, so all see the least-disturbed machine equally)."""
    n, batch, tile_px = args.train_tiles, args.train_batch, args.tile_px
    labels = np.arange(n) % 3
    cache = TileCache(root / "ingest" / "cache")
    shards, offsets = np.arange(n) // SHARD, np.arange(n) % SHARD
    tiles = cache.take(shards, offsets).astype(np.float32)

    def trainer(fold: bool) -> tuple[keras.Model, int]:
        model = build_classifier(args.backbone, args.input_px, 3, 3, None, seed=0,
                                 tile_px=tile_px if fold else None)
        set_backbone_trainable(model, args.unfreeze)
        model.compile(optimizer=keras.optimizers.Adam(1e-4),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model, int(model.inputs[0].shape[1])

    def in_memory(side: int) -> tf.data.Dataset:
        images = tiles if side == tile_px else tf.image.resize(tiles, (side, side))
        # batches made once and kept (cache() is filled by the warm-up epoch): no slicing
        return tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch).cache().prefetch(2)

    (model, side), (unfolded, _) = trainer(True), trainer(False)
    memory, memory_unfolded = in_memory(side), in_memory(args.input_px)

    def epoch(net: keras.Model, data) -> float:  # noqa: ANN001
        t0 = time.perf_counter()
        net.fit(data, epochs=1, verbose=0)
        return n / (time.perf_counter() - t0)

    def from_cache(e: int) -> tf.data.Dataset:
        return tile_dataset(cache, shards, offsets, labels, batch, side, shuffle_seed=0, epoch=e)

    epoch(model, memory), epoch(model, from_cache(0)), epoch(unfolded, memory_unfolded)  # warm
    runs = {"disk": lambda e: epoch(model, from_cache(e + 1)),
            "mem": lambda e: epoch(model, memory),
            "unfolded": lambda e: epoch(unfolded, memory_unfolded)}
    rates: dict[str, list[float]] = {key: [] for key in runs}
    keys = list(runs)
    for e in range(3):
        for key in keys[e:] + keys[:e]:
            rates[key].append(runs[key](e))
    return max(rates["disk"]), max(rates["mem"]), max(rates["unfolded"])


def child_memory(root: Path, batch: int) -> None:
    """Run extract in this (child) process and print its peak resident memory in KiB."""
    run_extract(root, batch)
    print(f"MAXRSS_KIB {peak_rss_kib()}")


def peak_memory_kib(root: Path, batch: int) -> int:
    result = subprocess.run([sys.executable, __file__, "--memory-child", str(root),
                             "--batch", str(batch)], capture_output=True, text=True, check=True)
    return int(result.stdout.split("MAXRSS_KIB")[-1].split()[0])


def memory_world(root: Path, source: Path, n_tiles: int) -> Path:
    """A run directory over the first n_tiles of ``source``'s cache, with its model."""
    (root / "ingest").mkdir(parents=True)
    (root / "ingest" / "cache").symlink_to(source / "ingest" / "cache")
    catalog = pd.read_parquet(source / "ingest" / "tiles.parquet").iloc[:n_tiles]
    catalog.to_parquet(root / "ingest" / "tiles.parquet")
    (root / "train").mkdir()
    (root / "train" / "model.keras").symlink_to(source / "train" / "model.keras")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    demo = demo_defaults()
    parser.add_argument("--tiles", type=int, default=98304, help="tiles extracted in (b)")
    parser.add_argument("--backbone", default=demo.model.backbone)
    parser.add_argument("--input-px", type=int, default=demo.model.input_size_px)
    parser.add_argument("--tile-px", type=int, default=demo.data.tiles.tile_size_px,
                        help="side of the cached tiles (the demo's data.tiles.tile_size_px)")
    parser.add_argument("--batch", type=int, default=demo.features.batch_size,
                        help="features.batch_size")
    parser.add_argument("--train-tiles", type=int, default=8192, help="tiles per timed epoch")
    parser.add_argument("--train-batch", type=int, default=demo.model.batch_size)
    parser.add_argument("--unfreeze", type=int, default=demo.model.unfreeze_layers)
    parser.add_argument("--memory-tiles", type=int, default=8192, help="1x of the memory test")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of (a), (b)")
    parser.add_argument("--matmul-seconds", type=float, default=5.0, help="timing of (c)")
    parser.add_argument("--memory-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        return child_memory(args.memory_child, args.batch)
    get_backbone(args.backbone)
    with tempfile.TemporaryDirectory(prefix="bench-extract-") as tmp:
        report(Path(tmp), args)


def extract_rounds(root: Path, model: keras.Model, reference: keras.Model,
                   args: argparse.Namespace) -> dict[str, tuple[float, float]]:
    """(a), (a') and (b), ``args.rounds`` times each over the same number of tiles, rotating
    which goes first; the best of each.

    Other jobs on a shared machine only ever slow a measurement down, so the fastest round is
    the closest to what the machine does alone. All get as many tries of the same length (the
    best of more or of shorter tries would favour one side). Returns (tiles/s, CPU s/tile) of
    each, keyed ``a``, ``a'``, ``b``.
    """
    def stage() -> tuple[float, float]:
        wall, cpu = run_extract(root, args.batch)
        return args.tiles / wall, cpu / args.tiles

    measures = {
        "a": lambda: pure_rate(reference, args.input_px, args.batch, args.tiles),
        "a'": lambda: cached_forward_rate(model, args.tile_px, args.batch, args.tiles),
        "b": stage,
    }
    results: dict[str, list[tuple[float, float]]] = {key: [] for key in measures}
    keys = list(measures)
    for k in range(args.rounds):
        for key in keys[k % 3:] + keys[:k % 3]:
            results[key].append(measures[key]())
        print("  round: " + ", ".join(f"({key}) {results[key][-1][0]:.1f}" for key in keys)
              + f" tiles/s, load {os.getloadavg()[0]:.2f}", flush=True)
    return {key: max(values) for key, values in results.items()}


def report(tmp: Path, args: argparse.Namespace) -> None:
    root = tmp / "run"
    n = max(args.tiles, 4 * args.memory_tiles, args.train_tiles)
    write_world(root, n, args.tile_px)
    model = save_model(root, args.backbone, args.input_px, args.tile_px)
    reference = build_classifier(args.backbone, args.input_px, 3, 3, None, seed=0)  # unfolded
    reference.set_weights(model.get_weights())
    print(f"backbone {args.backbone} at {args.input_px} px (tiles {args.tile_px} px), "
          f"batch {args.batch}; {os.cpu_count()} CPUs; TF {tf.__version__}; "
          f"load average {os.getloadavg()[0]:.2f}")
    catalog = pd.read_parquet(root / "ingest" / "tiles.parquet")
    catalog.iloc[:args.tiles].to_parquet(root / "ingest" / "tiles.parquet")
    best = extract_rounds(root, model, reference, args)
    pure, forward, stage = best["a"], best["a'"], best["b"]
    whole = pure_rate(reference, args.input_px, args.batch, args.tiles, chunk_tiles=None)
    resized = cached_forward_rate(reference, args.tile_px, args.batch, args.tiles)
    catalog.to_parquet(root / "ingest" / "tiles.parquet")
    peak = matmul_peak(seconds=args.matmul_seconds)
    flops = conv_flops(feature_model(reference))
    share = pure[0] * flops / peak
    train_disk, train_mem, train_unfolded = train_rates(root, args)
    mem1 = peak_memory_kib(memory_world(tmp / "m1", root, args.memory_tiles), args.batch)
    mem4 = peak_memory_kib(memory_world(tmp / "m4", root, 4 * args.memory_tiles), args.batch)
    print(f"(a) pure forward pass     {pure[0]:10.1f} tiles/s  ({pure[1] * 1e3:.2f} CPU ms/tile)")
    print(f"(a0) whole batches        {whole[0]:10.1f} tiles/s  (one {args.batch}-tile batch per "
          f"call; (a)/(a0) {pure[0] / whole[0]:.3f})")
    print(f"(b) extract stage         {stage[0]:10.1f} tiles/s  ({stage[1] * 1e3:.2f} CPU ms/tile, "
          f"{args.tiles} tiles)")
    print(f"    (b)/(a)               {stage[0] / pure[0]:10.3f}  (CPU time per tile: "
          f"{pure[1] / stage[1]:.3f})")
    steps = "cast, network" if int(model.inputs[0].shape[1]) == args.tile_px else \
        "cast, resize, network"  # a backbone whose stem cannot fold the upsampling
    print(f"(a') extract's forward on {args.tile_px} px uint8 in memory ({steps}) "
          f"{forward[0]:.1f} tiles/s  ({forward[1] * 1e3:.2f} CPU ms/tile)")
    print(f"    (b)/(a')              {stage[0] / forward[0]:10.3f}  (what reading, writing and "
          "bookkeeping cost)")
    print(f"(a-resize) (a') with tf.image.resize before the unfolded network {resized[0]:.1f} "
          f"tiles/s  ({resized[1] * 1e3:.2f} CPU ms/tile; (a')/(a-resize) "
          f"{forward[0] / resized[0]:.3f}: what folding the upsampling saves)")
    print(f"(c) fp32 matmul peak      {peak / 1e9:10.1f} GFLOP/s")
    print(f"    backbone FLOPs/tile   {flops / 1e6:10.1f} MFLOP  -> {pure[0] * flops / 1e9:.1f} "
          f"GFLOP/s in (a), {share:.3f} of (c)")
    print(f"train from tile cache     {train_disk:10.1f} tiles/s")
    print(f"train in-memory tensors   {train_mem:10.1f} tiles/s  (ratio {train_disk / train_mem:.3f})")
    print(f"train unfolded, in-memory {train_unfolded:10.1f} tiles/s  ({args.input_px} px tensors; "
          f"from the cache / this {train_disk / train_unfolded:.3f})")
    print(f"extract peak RSS          {mem1 / 1024:10.1f} MiB at {args.memory_tiles} tiles, "
          f"{mem4 / 1024:.1f} MiB at {4 * args.memory_tiles}")
    print(f"load average now {os.getloadavg()[0]:.2f}")
    print(f"RESULT extract_vs_pure={stage[0] / pure[0]:.3f} "
          f"train_vs_inmemory={train_disk / train_mem:.3f} "
          f"flop_share={share:.3f} mem_4x_over_1x={mem4 / mem1:.3f}")


if __name__ == "__main__":
    main()
