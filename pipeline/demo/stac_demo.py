"""The demo world as a catalog: Sentinel-2-L2A-like items, monthly night lights, a survey URL.

:func:`publish_world` mosaics the demo's tiles into the world image and publishes it as
``demo-s2-l2a`` items: uint16 reflectance (``DN = 100 * pixel + 1000``, ``raster:bands`` scale
0.0001 and offset -0.1, so a pixel of value v has reflectance ``0.01 v``) and an ``SCL`` band, on
several dates with clouds (SCL 8/9 and bright values) and their shadows (SCL 3, dark) over
different parts of the world. Every pixel is clear on at least one date, so the cloud-masked
median composite gives back the world image, and ``data.tiles.scale: [0, 2.55]`` maps it to the
tiles' uint8 values exactly. One more date is too cloudy for ``max_cloud_cover`` and is left out
by the search. The night-light raster becomes three monthly ``demo-nightlights`` items (x0.8,
x1, x1.25: their median is the raster), and ``survey.csv`` is served as a file.

``python -m pipeline.demo.stac_demo WORLD FOLDER CONFIG -- COMMAND ...`` publishes into FOLDER,
serves it at the URLs CONFIG names (the COG server at ``data.survey.path``'s host and port,
``rustac serve`` at ``data.tiles.stac.url``'s), runs COMMAND, and stops both servers however
COMMAND ends (``make demo-stac``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import rasterio
import yaml
from affine import Affine
from scipy import ndimage

from pipeline.demo.cog_server import CogServer
from pipeline.demo.stac_world import Scene, StacApi, publish

FORMAT_VERSION = 1
S2_COLLECTION = "demo-s2-l2a"
NL_COLLECTION = "demo-nightlights"
S2_ASSETS = ("B04", "B03", "B02")  # red, green, blue: the tiles' bands 1, 2, 3
S2_RASTER = {"scale": 0.0001, "offset": -0.1, "nodata": 0}
DATES = ("2016-03-04", "2016-05-13", "2016-07-02", "2016-08-21", "2016-10-10")
"""Acquisition days; the last one is too cloudy and falls out of the search."""
NL_MONTHS = (("2016-01-15", 0.8), ("2016-02-15", 1.0), ("2016-03-15", 1.25))
CLOUD_DN, SHADOW_DN = 9000, 1100


def world_image(world: Path) -> tuple[np.ndarray, dict]:
    """The demo's tiles mosaicked: uint8 (3, H, W), and the world's spec (world.json)."""
    spec = json.loads((world / "world.json").read_text())["spec"]
    size, rows, cols = spec["tile_size_px"], spec["n_tiles_y"], spec["n_tiles_x"]
    image = np.zeros((3, rows * size, cols * size), np.uint8)
    for row in range(rows):
        for col in range(cols):
            with rasterio.open(world / "tiles" / f"tile_r{row:03d}_c{col:03d}.tif") as src:
                image[:, row * size:(row + 1) * size, col * size:(col + 1) * size] = src.read()
    return image, spec


def cloud_masks(shape: tuple[int, int], n_dates: int, seed: int) -> np.ndarray:
    """int (dates, h, w): 0 clear, 1 cloud, 2 shadow. Smooth blobs over different parts per
    date; each pixel has a date on which it is clear (its own, from a coarse random field)."""
    rng = np.random.default_rng(seed)
    h, w = shape
    keep = ndimage.zoom(rng.integers(0, n_dates, (h // 64 + 2, w // 64 + 2)), 64, order=0)[:h, :w]
    masks = np.zeros((n_dates, h, w), np.uint8)
    for k in range(n_dates):
        noise = ndimage.gaussian_filter(rng.normal(size=(h, w)), 24.0)
        cloud = (noise > np.quantile(noise, 0.7)) & (keep != k)
        shadow = np.roll(cloud, (6, 6), axis=(0, 1)) & ~cloud & (keep != k)
        masks[k][cloud], masks[k][shadow] = 1, 2
    return masks


def s2_scenes(image: np.ndarray, spec: dict) -> list[Scene]:
    """The world image on each of :data:`DATES`, with that date's clouds and shadows; the last
    date is clouded almost everywhere (eo:cloud_cover above the demo's limit)."""
    masks = cloud_masks(image.shape[1:], len(DATES) - 1, spec["seed"])
    masks = np.concatenate([masks, np.ones((1, *image.shape[1:]), np.uint8)])
    transform = Affine(spec["gsd_m"], 0, spec["origin_x_m"], 0, -spec["gsd_m"],
                       spec["origin_y_m"])
    clear_dn = image.astype(np.uint16) * 100 + 1000
    scenes = []
    for day, mask in zip(DATES, masks):
        scl = np.where(mask == 1, 9, np.where(mask == 2, 3, 4)).astype(np.uint8)
        bands = {a: np.where(mask == 1, CLOUD_DN, np.where(mask == 2, SHADOW_DN, clear_dn[b]))
                 .astype(np.uint16) for b, a in enumerate(S2_ASSETS)}
        cover = round(100.0 * float((mask > 0).mean()), 1)
        scenes.append(Scene(f"DEMO_S2_{day.replace('-', '')}", f"{day}T08:00:00Z", cover,
                            spec["crs"], transform, {**bands, "SCL": scl},
                            {a: S2_RASTER for a in S2_ASSETS}))
    return scenes


def nightlight_scenes(world: Path) -> list[Scene]:
    """The night-light raster as monthly items (asset ``radiance``) scaled by
    :data:`NL_MONTHS`'s factors, whose per-pixel median is the raster itself."""
    with rasterio.open(world / "nightlights.tif") as src:
        radiance, crs, transform = src.read(1), src.crs.to_string(), src.transform
    return [Scene(f"DEMO_NL_{day[:7].replace('-', '')}", f"{day}T00:00:00Z", 0.0, crs, transform,
                  {"radiance": (radiance * np.float32(factor)).astype(np.float32)})
            for day, factor in NL_MONTHS]


def publish_world(world: Path, folder: Path, base_url: str) -> list[Path]:
    """Publish the world below ``folder`` (assets at ``base_url``); the files ``rustac serve``
    loads. Nothing is rewritten when ``folder`` already holds this world at this base URL."""
    stamp = {"world": json.loads((world / "world.json").read_text())["spec"],
             "base_url": base_url, "format_version": FORMAT_VERSION}
    hrefs = [folder / "s2" / "collection.json", folder / "s2" / "items.json",
             folder / "nightlights" / "collection.json", folder / "nightlights" / "items.json"]
    record = folder / "published.json"
    if record.is_file() and json.loads(record.read_text()) == stamp:
        return hrefs
    record.unlink(missing_ok=True)
    image, spec = world_image(world)
    publish(s2_scenes(image, spec), folder / "s2", f"{base_url}/s2", S2_COLLECTION)
    publish(nightlight_scenes(world), folder / "nightlights", f"{base_url}/nightlights",
            NL_COLLECTION)
    (folder / "survey.csv").write_bytes((world / "survey.csv").read_bytes())
    record.write_text(json.dumps(stamp))
    return hrefs


def served_at(config: Path) -> tuple[int, int]:
    """The ports of the COG server (``data.survey.path``) and the STAC API
    (``data.tiles.stac.url``) that ``config`` expects on 127.0.0.1."""
    data = yaml.safe_load(config.read_text())["data"]
    files, api = urlparse(data["survey"]["path"]), urlparse(data["tiles"]["stac"]["url"])
    for url in (files, api):
        if url.hostname != "127.0.0.1" or url.port is None:
            raise SystemExit(f"{config}: the demo serves on 127.0.0.1:<port>; got {url.geturl()}")
    return files.port, api.port


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.demo.stac_demo", description=(
        "Publish the demo world as a STAC API and COG server, run a command, stop the servers."))
    parser.add_argument("world", type=Path, help="the demo world (poverty-pipeline demo DIR)")
    parser.add_argument("folder", type=Path, help="where the items and COGs are written")
    parser.add_argument("config", type=Path, help="the config whose URLs say where to serve")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    files_port, api_port = served_at(args.config)
    base_url = f"http://127.0.0.1:{files_port}"
    hrefs = publish_world(args.world, args.folder, base_url)
    with CogServer(args.folder, port=files_port), StacApi(hrefs, port=api_port) as api:
        print(f"demo catalog: STAC API {api.url} ({S2_COLLECTION}, {NL_COLLECTION}), "
              f"files {base_url}", flush=True)
        return subprocess.call(command) if command else 0


if __name__ == "__main__":
    sys.exit(main())
