"""Publish scenes as a STAC API: COG assets on a range-request server, items in ``rustac serve``.

:func:`publish` writes each scene's bands as COGs and the STAC collection and items that point
at them (projection and raster extensions, as Sentinel-2 L2A and Landsat C2 L2 items carry);
:class:`StacApi` serves those items with ``rustac serve`` (an in-memory STAC API, PyPI
``rustac``) on 127.0.0.1. Used by the tests, ``make demo-stac`` and ``make bench-acquire``.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.io import MemoryFile
from rasterio.shutil import copy as raster_copy
from rasterio.warp import transform_bounds

EXTENSIONS = ["https://stac-extensions.github.io/projection/v2.0.0/schema.json",
              "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
              "https://stac-extensions.github.io/eo/v1.1.0/schema.json"]


@dataclass
class Scene:
    """One acquisition: integer bands of one grid, with their scale, offset and nodata.

    Attributes:
        item_id: the STAC item id.
        datetime: ISO 8601 acquisition time (UTC), e.g. ``2020-02-01T08:00:00Z``.
        cloud_cover: ``eo:cloud_cover``, percent.
        crs: e.g. ``EPSG:32736``; transform: the bands' geotransform.
        bands: asset name -> (height, width) integer array.
        raster: asset name -> ``raster:bands`` entry (``scale``, ``offset``, ``nodata``).
    """

    item_id: str
    datetime: str
    cloud_cover: float
    crs: str
    transform: Affine
    bands: Mapping[str, np.ndarray]
    raster: Mapping[str, Mapping[str, float]] = field(default_factory=dict)


def write_int_cog(path: Path, band: np.ndarray, crs: str, transform: Affine,
                  nodata: float | None) -> None:
    """One integer band as a COG (256 px blocks, DEFLATE)."""
    profile = {"driver": "GTiff", "dtype": band.dtype.name, "count": 1, "width": band.shape[1],
               "height": band.shape[0], "crs": crs, "transform": transform, "nodata": nodata}
    with MemoryFile() as memory:
        with memory.open(**profile) as dst:
            dst.write(band, 1)
        with memory.open() as src:
            raster_copy(src, str(path), driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=256)


def item_dict(scene: Scene, collection: str, base_url: str) -> dict:
    """The STAC item of ``scene``, its assets at ``<base_url>/<item_id>/<asset>.tif``."""
    height, width = next(iter(scene.bands.values())).shape
    bounds = rasterio.transform.array_bounds(height, width, scene.transform)
    west, south, east, north = transform_bounds(scene.crs, "EPSG:4326", *bounds, densify_pts=21)
    assets = {}
    for name in scene.bands:
        assets[name] = {
            "href": f"{base_url}/{scene.item_id}/{name}.tif",
            "type": "image/tiff; application=geotiff; profile=cloud-optimized",
            "roles": ["data"],
            "proj:shape": [height, width],
            "proj:transform": list(scene.transform)[:6],
            "raster:bands": [{"data_type": scene.bands[name].dtype.name,
                              **scene.raster.get(name, {})}],
        }
    return {
        "type": "Feature", "stac_version": "1.0.0", "stac_extensions": EXTENSIONS,
        "id": scene.item_id, "collection": collection,
        "geometry": {"type": "Polygon", "coordinates": [[[west, south], [east, south],
                                                          [east, north], [west, north],
                                                          [west, south]]]},
        "bbox": [west, south, east, north],
        "properties": {"datetime": scene.datetime, "eo:cloud_cover": scene.cloud_cover,
                       "proj:code": scene.crs},
        "assets": assets, "links": [],
    }


def publish(scenes: Sequence[Scene], folder: Path, base_url: str, collection: str) -> list[Path]:
    """Write every scene's COGs below ``folder`` and the STAC collection and items beside them.

    Returns:
        the files ``rustac serve`` loads: the collection, then the items (a FeatureCollection).
    """
    items = []
    for scene in scenes:
        (folder / scene.item_id).mkdir(parents=True, exist_ok=True)
        for name, band in scene.bands.items():
            write_int_cog(folder / scene.item_id / f"{name}.tif", band, scene.crs,
                          scene.transform, scene.raster.get(name, {}).get("nodata"))
        items.append(item_dict(scene, collection, base_url))
    bbox = [min(i["bbox"][0] for i in items), min(i["bbox"][1] for i in items),
            max(i["bbox"][2] for i in items), max(i["bbox"][3] for i in items)]
    dates = sorted(i["properties"]["datetime"] for i in items)
    collection_file = folder / "collection.json"
    collection_file.write_text(json.dumps({
        "type": "Collection", "stac_version": "1.0.0", "id": collection,
        "description": f"{collection}, published by poverty-pipeline's demo", "license": "CC0-1.0",
        "extent": {"spatial": {"bbox": [bbox]}, "temporal": {"interval": [[dates[0], dates[-1]]]}},
        "links": []}))
    items_file = folder / "items.json"
    items_file.write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    return [collection_file, items_file]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rustac_command() -> str:
    """The ``rustac`` executable: beside this Python's, else on PATH."""
    beside = Path(sys.executable).parent / "rustac"
    found = str(beside) if beside.is_file() else shutil.which("rustac")
    if found is None:
        raise FileNotFoundError("rustac is not installed; pip install rustac")
    return found


def answering(url: str, process: subprocess.Popen, deadline: float) -> bool:
    """Whether the server ``process`` answered a GET of ``url`` before ``deadline`` (False as
    soon as it exits)."""
    while time.monotonic() < deadline and process.poll() is None:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class StacApi:
    """``rustac serve`` on 127.0.0.1 (at ``port``, default a free one) with ``hrefs`` loaded,
    until :meth:`close`."""

    def __init__(self, hrefs: Sequence[Path], start_timeout_s: float = 30.0,
                 port: int | None = None) -> None:
        self.url = f"http://127.0.0.1:{port or free_port()}"
        self.process = subprocess.Popen(
            [rustac_command(), "serve", *map(str, hrefs), "--addr", self.url.removeprefix("http://")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if answering(self.url, self.process, time.monotonic() + start_timeout_s):
            return
        if self.process.poll() is not None:
            raise RuntimeError(f"rustac serve exited: {self.process.stderr.read().decode()}")
        self.close()
        raise RuntimeError(f"rustac serve did not answer at {self.url} in {start_timeout_s} s")

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def __enter__(self) -> StacApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
