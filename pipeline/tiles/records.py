"""Provenance records beside acquired rasters: ``<name>.json`` next to ``<name>.tif``.

The record is written last and atomically, so it marks a finished acquisition; its ``key`` (a
hash of what the raster depends on) says whether a later run may reuse it. Shared by the STAC
tiles (:mod:`pipeline.tiles.stac`) and the STAC night-light raster
(:mod:`pipeline.tiles.stac_raster`).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any


def write_record(path: Path, key: str, provenance: dict[str, Any]) -> None:
    """Write ``{"key": key, **provenance}`` to ``path``'s ``.json`` (temp file, then rename)."""
    tmp = path.with_name(f".{path.stem}.json.tmp")
    tmp.write_text(json.dumps({"key": key, **provenance}, indent=1))
    os.replace(tmp, path.with_suffix(".json"))


def cached_record(path: Path, key: str, copy_to: Path | None = None) -> dict[str, Any] | None:
    """The record of ``path`` when it was acquired with ``key`` and its raster exists (or the
    record says it was rejected), copied with the raster to ``copy_to``; else None."""
    record_file = path.with_suffix(".json")
    try:
        record = json.loads(record_file.read_text())
    except (OSError, ValueError):
        return None
    if record.get("key") != key or ("rejected" not in record and not path.is_file()):
        return None
    if copy_to is not None and copy_to != path:
        copy_to.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file():
            shutil.copy2(path, copy_to)
        shutil.copy2(record_file, copy_to.with_suffix(".json"))
    return record
