"""Ingest throughput and peak memory on generated GeoTIFF tiles.

    python benchmarks/ingest.py [--tiles 5000] [--workdir DIR] [--shard-size 512]

1. Writes ``--tiles`` 64 x 64 px RGB uint8 GeoTIFFs (UTM 36S, 10 m) into a work folder, and a
   second folder that holds each of them four times (hard links in four subfolders).
2. Times a bare rasterio read of every file (open + read all bands) with GDAL's defaults.
3. Runs the ingest stage (catalog, tile cache, survey) over the 1x folder and over the 4x folder,
   each in a fresh subprocess that reports its wall and CPU time and its peak resident memory
   (``VmHWM``, see ``benchmarks/memory.py``), measured after the same imports. The 1x
   subprocess first times a bare rasterio read of the same files with the GDAL setting ingest
   uses (``GDAL_DISABLE_READDIR_ON_OPEN=TRUE``), right before ingest, so that the ratio in the
   RESULT line compares two reads made back to back in one process.

The subprocesses import only the ingest stage (not TensorFlow, which the other stages pull in),
so the memory figures are ingest's own. The last line is machine-readable:

    RESULT ingest_tiles_per_s=<n> ingest_vs_rasterio=<ratio> mem_4x_over_1x=<ratio>
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/memory.py
from memory import peak_rss_kib  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TILE_PX = 64


def write_tiles(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """``n`` RGB uint8 tiles on a grid, each with its own pattern plus noise."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(3, TILE_PX, TILE_PX), dtype=np.uint8)
    side = int(np.ceil(np.sqrt(n)))
    profile = {"driver": "GTiff", "width": TILE_PX, "height": TILE_PX, "count": 3, "dtype": "uint8",
               "crs": "EPSG:32736"}
    paths = []
    for i in range(n):
        row, col = divmod(i, side)
        path = folder / f"t_{row:04d}_{col:04d}.tif"
        transform = from_origin(700000 + col * 640, 8500000 - row * 640, 10, 10)
        with rasterio.open(path, "w", transform=transform, **profile) as dst:
            dst.write(np.roll(base, i, axis=2) ^ np.uint8(i % 251))
        paths.append(path)
    return paths


def link_four_times(paths: list[Path], folder: Path) -> None:
    for copy in range(4):
        sub = folder / f"copy{copy}"
        sub.mkdir(parents=True)
        for path in paths:
            os.link(path, sub / path.name)


def bare_read(paths: list[Path], **gdal_options: str) -> float:
    """Seconds to open and read every band of every file (under the given GDAL options)."""
    start = time.perf_counter()
    with rasterio.Env(**gdal_options):
        for path in paths:
            with rasterio.open(path) as src:
                src.read()
    return time.perf_counter() - start


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(tiles: Path, work: Path, shard_size: int, bare: bool) -> None:
    """Run the ingest stage alone (after a bare read when ``bare``); print times and memory."""
    import pipeline

    stages = types.ModuleType("pipeline.stages")  # skip stages/__init__ (it imports TensorFlow)
    stages.__path__ = [str(Path(pipeline.__file__).parent / "stages")]
    sys.modules["pipeline.stages"] = stages
    from pipeline.config.schema import parse_config
    from pipeline.engine.context import StageContext
    from pipeline.engine.rundir import RunDir
    from pipeline.stages import ingest

    survey = work / "survey.csv"
    survey.write_text("cluster_id,lat,lon,y\n" + "".join(
        f"c{i},{-13.55 - i * 0.001},{34.85 + i * 0.001},{i}\n" for i in range(20)))
    config = parse_config({
        "name": "bench", "run_dir": str(work / "run"),
        "data": {"tiles": {"path": str(tiles), "tile_size_px": TILE_PX},
                 "nightlights": {"path": str(work / "none.tif")},
                 "survey": {"path": str(survey), "outcomes": ["y"]}, "shard_size": shard_size},
        "regression": {"targets": [{"column": "y"}]}}, base_dir=work)
    run = RunDir(work / "run")
    out = run.tmp_dir("ingest")
    out.mkdir(parents=True)

    class Serial:
        def map(self, fn, items, desc=""):
            return [fn(item) for item in items]

    ctx = StageContext.open(ingest.STAGE, config, run, out, logging.getLogger("bench"), Serial(),
                            False)
    baseline_kb = peak_rss_kib()
    result: dict = {"baseline_kb": baseline_kb}
    if bare:
        cpu0 = cpu_seconds()
        result["bare_seconds"] = bare_read(sorted(tiles.rglob("*.tif")),
                                           GDAL_DISABLE_READDIR_ON_OPEN="TRUE")
        result["bare_cpu"] = cpu_seconds() - cpu0
    cpu0, start = cpu_seconds(), time.perf_counter()
    counts = ingest.STAGE.run(ctx)
    result.update(tiles=counts["tiles"], seconds=time.perf_counter() - start,
                  cpu=cpu_seconds() - cpu0, peak_kb=peak_rss_kib())
    print(json.dumps(result))


def run_child(tiles: Path, work: Path, shard_size: int, bare: bool = False) -> dict:
    work.mkdir(parents=True)
    result = subprocess.run([sys.executable, __file__, "--child", str(tiles), "--workdir",
                             str(work), "--shard-size", str(shard_size)] + (["--bare"] if bare else []),
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"ingest subprocess failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiles", type=int, default=5000)
    parser.add_argument("--shard-size", type=int, default=512)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.workdir, args.shard_size, args.bare)
        return
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-", dir=args.workdir))
    try:
        t0 = time.perf_counter()
        paths = write_tiles(work / "x1", args.tiles)
        link_four_times(paths, work / "x4")
        print(f"wrote {len(paths)} tiles ({TILE_PX} px RGB uint8) in {time.perf_counter() - t0:.1f} s; "
              f"4x folder holds {4 * len(paths)} (hard links)")
        default_s = bare_read(paths)
        print(f"bare rasterio read, GDAL defaults: {len(paths) / default_s:,.0f} tiles/s")
        one = run_child(work / "x1", work / "run1", args.shard_size, bare=True)
        four = run_child(work / "x4", work / "run4", args.shard_size)
        report(len(paths), one, four)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(n: int, one: dict, four: dict) -> None:
    ingest_rate = one["tiles"] / one["seconds"]
    bare_rate = n / one["bare_seconds"]
    mib = 1 / 1024
    print(f"bare rasterio read:  {n} tiles in {one['bare_seconds']:.2f} s = {bare_rate:,.0f} tiles/s "
          f"(ingest's GDAL setting, just before ingest, same process)")
    print(f"CPU time per tile:   bare read {one['bare_cpu'] / n * 1e3:.2f} ms, ingest "
          f"{one['cpu'] / one['tiles'] * 1e3:.2f} ms (1x), {four['cpu'] / four['tiles'] * 1e3:.2f} ms (4x)")
    print(f"ingest 1x:           {one['tiles']} tiles in {one['seconds']:.2f} s = "
          f"{ingest_rate:,.0f} tiles/s; peak RSS {one['peak_kb'] * mib:.0f} MiB "
          f"(after imports {one['baseline_kb'] * mib:.0f} MiB)")
    print(f"ingest 4x:           {four['tiles']} tiles in {four['seconds']:.2f} s = "
          f"{four['tiles'] / four['seconds']:,.0f} tiles/s; peak RSS {four['peak_kb'] * mib:.0f} MiB "
          f"(after imports {four['baseline_kb'] * mib:.0f} MiB)")
    growth_1 = (one["peak_kb"] - one["baseline_kb"]) * mib
    growth_4 = (four["peak_kb"] - four["baseline_kb"]) * mib
    print(f"memory used by ingest itself: {growth_1:.0f} MiB (1x) vs {growth_4:.0f} MiB (4x)")
    print(f"RESULT ingest_tiles_per_s={ingest_rate:.0f} ingest_vs_rasterio={ingest_rate / bare_rate:.3f} "
          f"mem_4x_over_1x={four['peak_kb'] / one['peak_kb']:.3f}")


if __name__ == "__main__":
    main()
