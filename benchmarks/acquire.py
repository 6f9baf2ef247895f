"""Acquisition from a STAC API: the pipeline's tiles/s against a bare rasterio read, bytes fetched
per tile, and peak memory at 1x and 4x the area.

    python benchmarks/acquire.py [--side 20] [--dates 6] [--shard-size 512] [--repeats 3]
                                 [--latency-ms 20] [--read-threads 4] [--quick]

1. Publishes Sentinel-2 L2A-like scenes (``--dates`` dates; bands B04, B03, B02, B08 as uint16
   with scale 0.0001, offset -0.1 and nodata 0; ``SCL`` with clouds and their shadows) as COGs
   (DEFLATE, 256 px blocks, as :func:`pipeline.demo.stac_world.publish` writes them) on a
   range-request server (:class:`pipeline.demo.cog_server.CogServer`, which counts the requests
   and bytes it sends) and their items in ``rustac serve``, all on 127.0.0.1. The scenes are at
   10 m; the tiles are 64 px at 15 m (960 m), as ``make demo-stac`` acquires them, on a grid of
   ``--side`` x ``--side`` tiles (the 4x area); the 1x area is its top-left quarter.
2. In fresh subprocesses, each measuring its own peak resident memory (``VmHWM``,
   ``benchmarks/memory.py``) after the same imports:

   (a) the pipeline's acquisition: a :class:`pipeline.tiles.stac.StacSource` over the 4x tiles,
       every shard read through :meth:`~pipeline.tiles.stac.StacSource.read` as ingest reads it
       (search, composites, COG and provenance per tile, the tile read back at 64 px), cold: an
       empty composites folder and a fresh process (GDAL's caches empty);
   (b) a bare rasterio windowed read of the same COGs from the same server, with the same GDAL
       HTTP options: for each tile, for each item meeting it, each asset's window over the tile
       (native 10 m pixels), datasets opened once and kept open (the honest best case: no
       composite, no writing, blocks cached by GDAL);
   (c) (a) over the 1x area, for the memory ratio.

The figures:

- ``acquire_vs_rasterio`` = tiles/s of (a) / tiles/s of (b) (target >= 0.8), the median of
  ``--repeats`` rounds of (b) then (a) (one run of either varied by 15% on a quiet 2-core
  machine); the other figures are the median round's;
- ``bytes_per_tile`` = the body bytes the COG server sent during (a) / the compressed bytes of the
  COG blocks the tiles' windows intersect (each block of each asset of each item counted once,
  full-resolution level, sizes from the TIFF's ``BLOCK_SIZE_<x>_<y>``), so 1.0 means every needed
  block was fetched exactly once and nothing else (target <= 1.5). Also printed: the same bytes
  over the uncompressed bytes of the windows themselves (tile windows x items x assets x dtype
  size), and what (b) fetched;
- ``mem_4x_over_1x`` = peak RSS of (a) / peak RSS of (c) (target <= 1.15);
- ``acquire_vs_rasterio_<ms>ms``: (a) / (b) again, one round, with ``--latency-ms`` before each
  answer of the COG server (an object store's time to first byte; assumed, not measured).
  Printed, not in the RESULT line: (a) once more with that latency and ``--read-threads``
  (``data.tiles.stac.read_threads``; the default reads with one thread per core), and the most
  requests the server answered at once.

The last line is machine-readable::

    RESULT acquire_vs_rasterio=<ratio> bytes_per_tile=<ratio> mem_4x_over_1x=<ratio>
           acquire_vs_rasterio_<ms>ms=<ratio>
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from affine import Affine

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/memory.py
from memory import peak_rss_kib  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CRS = "EPSG:32736"
TILE_PX, RES_M, NATIVE_M = 64, 15.0, 10.0
TILE_M = TILE_PX * RES_M
ORIGIN = (834 * TILE_M, 10192 * TILE_M)  # top-left of the 4x area, on the tile grid
ASSETS = ("B04", "B03", "B02", "B08")
RASTER = {"scale": 0.0001, "offset": -0.1, "nodata": 0}
COLLECTION = "s2-bench"


def scenes(side_tiles: int, dates: int, seed: int = 0) -> list:
    """``dates`` S2-like scenes over ``side_tiles`` x ``side_tiles`` tiles: smooth reflectance
    with noise, cloud discs (SCL 8/9, bright) with shadows (SCL 3, dark) beside them."""
    from pipeline.demo.stac_world import Scene

    rng = np.random.default_rng(seed)
    size = math.ceil(side_tiles * TILE_M / NATIVE_M)
    rows, cols = np.mgrid[0:size, 0:size]
    out = []
    for k in range(dates):
        coarse = rng.uniform(0, 1, (size // 64 + 2, size // 64 + 2))
        smooth = np.kron(coarse, np.ones((64, 64)))[:size, :size]
        bands = {a: (400 + 2000 * smooth * (0.6 + 0.2 * i)
                     + rng.normal(0, 40, (size, size))).clip(1, 10000).astype(np.uint16)
                 for i, a in enumerate(ASSETS)}
        scl = np.full((size, size), 4, np.uint8)
        for _ in range(max(1, size * size // 200_000)):
            r, c, radius = rng.integers(0, size), rng.integers(0, size), rng.integers(20, 120)
            disc = (rows - r) ** 2 + (cols - c) ** 2 < radius ** 2
            beside = (rows - r - radius // 2) ** 2 + (cols - c - radius) ** 2 < radius ** 2
            shadow = beside & ~disc
            scl[shadow & (scl == 4)] = 3
            scl[disc] = 9 if k % 2 else 8
        for band in bands.values():
            band[np.isin(scl, (8, 9))] = 9000
            band[scl == 3] = 60
        cover = round(float(np.isin(scl, (3, 8, 9)).mean() * 100), 1)
        out.append(Scene(f"S2B-{k:02d}", f"2021-{k % 12 + 1:02d}-{1 + k // 12:02d}T08:00:00Z",
                         cover, CRS, Affine(NATIVE_M, 0, ORIGIN[0], 0, -NATIVE_M, ORIGIN[1]),
                         {**bands, "SCL": scl}, {a: RASTER for a in ASSETS}))
    return out


def grid_tiles(side_tiles: int) -> list:
    """The tiles of the area, ``side_tiles`` on a side from :data:`ORIGIN`, north to south."""
    from pipeline.tiles.area import TileBox

    col0, row_top = round(ORIGIN[0] / TILE_M), round(ORIGIN[1] / TILE_M)
    return [TileBox(f"e{col}_n{row}", CRS, (col * TILE_M, row * TILE_M,
                                            (col + 1) * TILE_M, (row + 1) * TILE_M))
            for row in range(row_top - 1, row_top - 1 - side_tiles, -1)
            for col in range(col0, col0 + side_tiles)]


def quarter(tiles: list, side_tiles: int) -> list:
    """The 1x area: the top-left ``side_tiles // 2`` x ``side_tiles // 2`` tiles."""
    half = side_tiles // 2
    return [t for n, t in enumerate(tiles) if n // side_tiles < half and n % side_tiles < half]


def area_tiles_of(side_tiles: int, area: str) -> list:
    tiles = grid_tiles(side_tiles)
    return tiles if area == "4x" else quarter(tiles, side_tiles)


def query_of(api_url: str, read_threads: int | None = None):
    from pipeline.tiles.stac_api import StacQuery

    return StacQuery(api_url, COLLECTION, "2021-01-01/2021-12-31", ASSETS, max_cloud_cover=100.0,
                     retries=2, retry_delay_s=0.1, timeout_s=30, read_threads=read_threads)


def child_acquire(args: argparse.Namespace) -> dict:
    """(a) or (c): the pipeline's acquisition of the area, shard by shard as ingest reads it."""
    from pipeline.tiles.reading import ReadSpec
    from pipeline.tiles.stac import StacRequest, StacSource

    tiles = area_tiles_of(args.side, args.area)
    threads = args.read_threads or None  # 0: the default
    source = StacSource(StacRequest(query_of(args.api, threads), tuple(tiles), RES_M),
                        args.workdir)
    spec = ReadSpec((1, 2, 3), TILE_PX, np.array([[0.0, 0.3]] * 3))
    baseline_kb = peak_rss_kib()
    cpu0, start = cpu_seconds(), time.perf_counter()
    source.check((1, 2, 3), None, True)  # the search
    search_s = time.perf_counter() - start
    read = rejected = 0
    for shard in source.shards(args.shard_size):
        for tile in source.read(shard, spec):
            read += tile.error is None
            rejected += tile.error is not None
    return {"tiles": len(tiles), "read_threads": args.read_threads, "read": read,
            "rejected": rejected, "search_s": search_s,
            "seconds": time.perf_counter() - start, "cpu": cpu_seconds() - cpu0,
            "baseline_kb": baseline_kb, "peak_kb": peak_rss_kib()}


def child_bare(args: argparse.Namespace) -> dict:
    """(b): rasterio windowed reads of every tile's windows of every item meeting it, datasets
    kept open, with the pipeline's GDAL HTTP options."""
    import rasterio
    from rasterio.windows import from_bounds

    from pipeline.tiles.stac import footprint_of
    from pipeline.tiles.stac_read import gdal_options

    tiles = area_tiles_of(args.side, args.area)
    items = json.loads((args.workdir / "items.json").read_text())["features"]
    datasets: dict[str, rasterio.DatasetReader] = {}
    baseline_kb = peak_rss_kib()
    cpu0, start = cpu_seconds(), time.perf_counter()
    with rasterio.Env(**gdal_options(query_of(args.api))):
        for tile in tiles:
            footprint = tile.footprint()
            for item in items:
                if not footprint_of(item).intersects(footprint):
                    continue
                for asset in (*ASSETS, "SCL"):
                    href = item["assets"][asset]["href"]
                    src = datasets.get(href) or datasets.setdefault(href, rasterio.open(href))
                    src.read(1, window=from_bounds(*tile.bounds, src.transform).round_offsets()
                             .round_lengths())
        for src in datasets.values():
            src.close()
    return {"tiles": len(tiles), "seconds": time.perf_counter() - start,
            "cpu": cpu_seconds() - cpu0, "baseline_kb": baseline_kb, "peak_kb": peak_rss_kib()}


def cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def window_bytes(folder: Path, tiles: list) -> tuple[int, int]:
    """What the tiles' windows hold, over every asset of every item: (compressed bytes of the
    full-resolution COG blocks they intersect, each block counted once; uncompressed bytes of
    the windows, each tile's counted)."""
    import rasterio
    from rasterio.windows import from_bounds

    compressed = raw = 0
    for path in sorted(folder.glob("*/*.tif")):
        with rasterio.open(path) as src:
            block_h, block_w = src.block_shapes[0]
            blocks = set()
            for tile in tiles:
                window = from_bounds(*tile.bounds, src.transform).round_offsets().round_lengths()
                window = window.intersection(rasterio.windows.Window(0, 0, src.width, src.height))
                raw += window.width * window.height * np.dtype(src.dtypes[0]).itemsize
                rows = range(window.row_off // block_h,
                             math.ceil((window.row_off + window.height) / block_h))
                cols = range(window.col_off // block_w,
                             math.ceil((window.col_off + window.width) / block_w))
                blocks |= {(r, c) for r in rows for c in cols}
            compressed += sum(int(src.get_tag_item(f"BLOCK_SIZE_{c}_{r}", "TIFF", bidx=1))
                              for r, c in blocks)
    return compressed, raw


def run_child(mode: str, args: argparse.Namespace, api: str, workdir: Path, area: str,
              read_threads: int | None = None) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([sys.executable, __file__, "--child", mode, "--api", api,
                             "--workdir", str(workdir), "--side", str(args.side), "--area", area,
                             "--shard-size", str(args.shard_size),
                             "--read-threads", str(read_threads or 0)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{mode} subprocess failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def served(log) -> tuple[int, int]:
    with log.lock:
        return sum(log.requests.values()), sum(log.bytes_sent.values())


def measure(args: argparse.Namespace, work: Path) -> dict:
    """Publish the scenes, run (b), (a) and (c) against the servers, then (b) and (a) again
    with ``--latency-ms`` before each answer; the figures."""
    from pipeline.demo.cog_server import CogServer
    from pipeline.demo.stac_world import StacApi, publish

    t0 = time.perf_counter()
    world = scenes(args.side, args.dates)
    with CogServer(work / "cogs") as cogs:
        hrefs = publish(world, work / "cogs" / "s2", f"{cogs.url}/s2", COLLECTION)
        print(f"published {len(world)} scenes x {len(world[0].bands)} COGs of "
              f"{world[0].bands['B04'].shape[0]} px in {time.perf_counter() - t0:.1f} s; "
              f"{args.side ** 2} tiles (4x), {len(quarter(grid_tiles(args.side), args.side))} (1x)")
        with StacApi(hrefs) as api:
            figures: dict = {"rounds": []}
            runs = [(f"{name}{k}", mode, "4x", 0) for k in range(args.repeats)
                    for name, mode in (("bare", "bare"), ("x4", "acquire"))]
            runs += [("x1", "acquire", "1x", 0), ("bare_late", "bare", "4x", args.latency_ms),
                     ("x4_late", "acquire", "4x", args.latency_ms)]
            runs = [(*run, None) for run in runs]
            if args.read_threads:
                runs.append(("x4_threads", "acquire", "4x", args.latency_ms, args.read_threads))
            for name, mode, area, latency, threads in runs:
                cogs.latency_s = latency / 1000
                before = served(cogs.log)
                cogs.log.most_in_flight = 0
                figures[name] = run_child(mode, args, api.url, work / name, area, threads)
                figures[name]["most_in_flight"] = cogs.log.most_in_flight
                after = served(cogs.log)
                figures[name].update(requests=after[0] - before[0], bytes=after[1] - before[1])
            for k in range(args.repeats):  # interleaved, so a slow spell of the machine hits both
                figures["rounds"].append((figures.pop(f"bare{k}"), figures.pop(f"x4{k}")))
    figures["compressed"], figures["raw"] = window_bytes(work / "cogs" / "s2",
                                                         grid_tiles(args.side))
    return figures


def report(f: dict, dates: int, latency_ms: float) -> str:
    rounds = f["rounds"]
    # the round with the median ratio stands for all (bytes and requests are the same in each)
    bare, x4 = sorted(rounds, key=lambda r: r[0]["seconds"] / r[1]["seconds"])[len(rounds) // 2]
    x1 = f["x1"]
    late = (f["x4_late"]["tiles"] / f["x4_late"]["seconds"]) / \
        (f["bare_late"]["tiles"] / f["bare_late"]["seconds"])
    n = x4["tiles"]
    rate, bare_rate = n / x4["seconds"], bare["tiles"] / bare["seconds"]
    print(f"(a)/(b) tiles/s in {len(rounds)} interleaved rounds: "
          + ", ".join(f"{b['seconds'] / a['seconds']:.3f}" for b, a in rounds)
          + f"; the median round's figures follow")
    mib = 1 / 1024
    print(f"(a) acquisition, 4x: {n} tiles ({x4['read']} read, {x4['rejected']} rejected) in "
          f"{x4['seconds']:.2f} s = {rate:.1f} tiles/s (search {x4['search_s']:.2f} s); "
          f"CPU {x4['cpu'] / n * 1e3:.1f} ms/tile")
    print(f"(b) bare rasterio windowed read, 4x: {bare['seconds']:.2f} s = {bare_rate:.1f} tiles/s;"
          f" CPU {bare['cpu'] / n * 1e3:.1f} ms/tile")
    print(f"per tile, (a): {x4['requests'] / n:.2f} requests, {x4['bytes'] / n / 1024:.1f} KiB "
          f"({x4['bytes'] / n / 1024 / dates:.1f} KiB per scene), {x4['seconds'] / n * 1e3:.1f} ms"
          f" wall; (b): {bare['requests'] / n:.2f} requests, {bare['bytes'] / n / 1024:.1f} KiB")
    print(f"window bytes: {f['compressed'] / 2**20:.1f} MiB of COG blocks the windows intersect"
          f" (compressed), {f['raw'] / 2**20:.1f} MiB in the windows (uncompressed); server sent "
          f"{x4['bytes'] / 2**20:.1f} MiB for (a), {bare['bytes'] / 2**20:.1f} MiB for (b)")
    print(f"bytes sent / window bytes: (a) {x4['bytes'] / f['compressed']:.3f} of the blocks, "
          f"{x4['bytes'] / f['raw']:.3f} of the uncompressed windows; (b) "
          f"{bare['bytes'] / f['compressed']:.3f} of the blocks")
    print(f"peak RSS: (a) 4x {x4['peak_kb'] * mib:.0f} MiB, (c) 1x ({x1['tiles']} tiles, "
          f"{x1['seconds']:.2f} s) {x1['peak_kb'] * mib:.0f} MiB (after imports "
          f"{x4['baseline_kb'] * mib:.0f} / {x1['baseline_kb'] * mib:.0f} MiB)")
    print(f"with {latency_ms:g} ms before each answer: (a) {f['x4_late']['seconds']:.2f} s "
          f"({f['x4_late']['most_in_flight']} requests at once at most), (b) "
          f"{f['bare_late']['seconds']:.2f} s; (a)/(b) tiles/s {late:.3f}")
    if "x4_threads" in f:
        more = f["x4_threads"]
        print(f"(a) with read_threads {more['read_threads']} and {latency_ms:g} ms: "
              f"{more['seconds']:.2f} s ({more['most_in_flight']} requests at once at most); "
              f"(a)/(b) tiles/s {f['bare_late']['seconds'] / more['seconds']:.3f}")
    return (f"RESULT acquire_vs_rasterio={rate / bare_rate:.3f} "
            f"bytes_per_tile={x4['bytes'] / f['compressed']:.3f} "
            f"mem_4x_over_1x={x4['peak_kb'] / x1['peak_kb']:.3f} "
            f"acquire_vs_rasterio_{latency_ms:g}ms={late:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--side", type=int, default=20, help="tiles on a side of the 4x area")
    parser.add_argument("--dates", type=int, default=6, help="scenes (dates) over the area")
    parser.add_argument("--shard-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3,
                        help="interleaved rounds of (b) then (a) with no latency (median kept)")
    parser.add_argument("--read-threads", type=int, default=4,
                        help="a last run of (a) with latency and this data.tiles.stac.read_threads"
                             " (0: none)")
    parser.add_argument("--latency-ms", type=float, default=20.0,
                        help="the second round's time to first byte (an object store's)")
    parser.add_argument("--quick", action="store_true", help="a small run (tests)")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--child", choices=("acquire", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--api", help=argparse.SUPPRESS)
    parser.add_argument("--area", choices=("1x", "4x"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        work = {"acquire": child_acquire, "bare": child_bare}[args.child]
        if args.child == "bare":
            args.workdir = args.workdir.parent / "cogs" / "s2"
        print(json.dumps(work(args)))
        return
    if args.quick:
        args.side, args.dates, args.repeats = 4, 2, 1
    work = Path(tempfile.mkdtemp(prefix="bench-acquire-", dir=args.workdir))
    try:
        print(report(measure(args, work), args.dates, args.latency_ms))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
