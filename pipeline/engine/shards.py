"""Per-shard records: what makes per-tile work retryable, resumable and the same on any executor.

A stage's per-tile work is one function applied to a list of shards (``ctx.executor.map``).
Each shard runs through :func:`run_shard`, on whichever process the executor picks. It tries the
function up to ``1 + retries`` times, writes the function's result next to the stage's
temporary output (``.tmp-<stage>/_shards/<map>/shard_NNNNN.*``) and writes the shard's record
(``shard_NNNNN.json``) last. Every file is written to a temporary name, flushed to disk and renamed
into place, so a record never points at a half-written result, even after a power loss or when
Dask runs one shard twice. Only the record goes back to the caller; the result is
read back from disk by shard index, so nothing bulky passes through a Dask scheduler. Arrays come
back memory-mapped (read-only): a caller holding every shard's result holds in memory only the
pages it reads, and a result file cut short is found when it is opened.

A record is ``{"shard", "of", "status": "done"|"failed", "attempts", "seconds", "errors", "result",
"counts", "host", "pid"}``. On a rerun, shards whose record says ``done`` are not run again.

Results may be ``None``, JSON values, NumPy arrays, pandas/GeoPandas data frames, or tuples and
lists of those; they are stored as ``.json`` (inline in the record), ``.npy`` (no pickles) and
``.parquet`` (GeoParquet where a column holds shapely geometries).
"""

from __future__ import annotations

import json
import os
import socket
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from pipeline.errors import ShardResultError

RECORDS_DIR = "_shards"
DONE, FAILED = "done", "failed"


@dataclass(frozen=True)
class ShardTask:
    """One shard's work, as sent to a worker.

    Attributes:
        fn: the shard function (module-level, or a ``functools.partial`` of one).
        item: its argument.
        index: position of the shard in the map (0-based); names its files.
        total: how many shards the map has (a record is reused only for the same total).
        folder: where the shard's result and record are written (a shared filesystem for Dask).
        retries: further attempts after a first failure.
    """

    fn: Callable[[Any], Any]
    item: Any
    index: int
    folder: Path
    retries: int = 0
    total: int = 1


def record_path(folder: Path, index: int) -> Path:
    return folder / f"shard_{index:05d}.json"


def run_shard(task: ShardTask) -> dict[str, Any]:
    """Run one shard with retries; save its result, then its record. Returns the record."""
    errors: list[str] = []
    t0 = time.perf_counter()
    for attempt in range(1, task.retries + 2):
        try:
            value = task.fn(task.item)
            spec = encode(value, task.folder, f"shard_{task.index:05d}")
        except Exception as exc:  # noqa: BLE001 - any failure of user work is recorded
            errors.append(describe_error(exc))
            continue
        return write_record(task, DONE, attempt, t0, errors, spec, shard_counts(task.item, value))
    return write_record(task, FAILED, task.retries + 1, t0, errors, None)


def shard_counts(item: Any, value: Any) -> dict[str, Any]:
    """What a shard handled, for its log line: ``items`` (length of its argument, where it has
    one) and ``rows`` (rows of each array or frame it returned; a list for a tuple)."""
    counts: dict[str, Any] = {}
    if hasattr(item, "__len__"):
        counts["items"] = len(item)
    parts = value if isinstance(value, (tuple, list)) else [value]
    rows = [len(v) for v in parts if isinstance(v, (np.ndarray, pd.DataFrame))]
    if rows:
        counts["rows"] = rows[0] if len(rows) == 1 else rows
    return counts


def describe_error(exc: BaseException) -> str:
    """``Type: message (file.py:line)`` of the innermost frame, on one line."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}{where}"


def write_record(task: ShardTask, status: str, attempts: int, t0: float, errors: list[str],
                 spec: Any, counts: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write a shard's record atomically (see :func:`write_atomic`) and return it."""
    record = {
        "shard": task.index, "of": task.total, "status": status, "attempts": attempts,
        "seconds": round(time.perf_counter() - t0, 4), "errors": errors, "result": spec,
        "counts": counts or {},
        "host": socket.gethostname(), "pid": os.getpid(),
    }
    write_atomic(record_path(task.folder, task.index),
                 lambda fh: fh.write(json.dumps(record).encode("utf-8")))
    return record


def write_atomic(path: Path, write: Callable[[BinaryIO], Any]) -> None:
    """Write ``path`` whole or not at all: ``write`` fills a temporary file in the same folder,
    which is flushed to disk and then renamed over ``path``."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def finished_record(folder: Path, index: int, total: int) -> dict[str, Any] | None:
    """The shard's record if it says ``done`` for a map of ``total`` shards; None otherwise."""
    try:
        record = json.loads(record_path(folder, index).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("status") != DONE or record.get("of") != total:
        return None
    return record


def encode(value: Any, folder: Path, stem: str) -> Any:
    """Store ``value`` under ``folder/stem*``; return a JSON spec that :func:`decode` reads."""
    if isinstance(value, np.ndarray):
        write_atomic(folder / f"{stem}.npy", lambda fh: np.save(fh, value, allow_pickle=False))
        return {"npy": f"{stem}.npy"}
    if isinstance(value, pd.DataFrame):
        return _encode_frame(value, folder / f"{stem}.parquet")
    if isinstance(value, (tuple, list)) and not _is_json(value):
        parts = [encode(v, folder, f"{stem}_{i}") for i, v in enumerate(value)]
        return {"tuple" if isinstance(value, tuple) else "list": parts}
    if _is_json(value):
        return {"json": value}
    raise TypeError(
        f"a shard returned a {type(value).__name__}; shard results must be None, JSON values, "
        "NumPy arrays, data frames, or tuples/lists of those"
    )


def decode(spec: Any, folder: Path) -> Any:
    """The value that :func:`encode` stored (a GeoDataFrame where geometries were stored).

    Raises:
        ShardResultError: a result file is missing or cannot be read; the message names it.
    """
    if spec is None:
        return None
    if "tuple" in spec:
        return tuple(decode(s, folder) for s in spec["tuple"])
    if "list" in spec:
        return [decode(s, folder) for s in spec["list"]]
    if "json" in spec:
        return spec["json"]
    path = folder / (spec["npy"] if "npy" in spec else spec["parquet"])
    try:
        return _load(path, geo=bool(spec.get("geo")))
    except (OSError, ValueError, EOFError) as exc:
        raise ShardResultError(
            f"{path}: cannot read this shard result ({type(exc).__name__}: {exc})") from exc


def _load(path: Path, geo: bool) -> Any:
    if path.suffix == ".npy":
        return np.load(path, mmap_mode="r", allow_pickle=False)
    if geo:
        import geopandas as gpd

        return gpd.read_parquet(path)
    return pd.read_parquet(path)


def _encode_frame(frame: pd.DataFrame, path: Path) -> dict[str, Any]:
    geo = _geometry_column(frame)
    if geo is None:
        write_atomic(path, frame.to_parquet)
        return {"parquet": path.name}
    import geopandas as gpd

    if not isinstance(frame, gpd.GeoDataFrame):
        frame = gpd.GeoDataFrame(frame, geometry=geo)
    write_atomic(path, frame.to_parquet)
    return {"parquet": path.name, "geo": True}


def _geometry_column(frame: pd.DataFrame) -> str | None:
    if hasattr(frame, "geometry") and getattr(frame, "_geometry_column_name", None) in frame:
        return frame._geometry_column_name
    from shapely.geometry.base import BaseGeometry

    for name in frame.columns[frame.dtypes == object]:
        first = frame[name].dropna()
        if len(first) and isinstance(first.iloc[0], BaseGeometry):
            return str(name)
    return None


def _is_json(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False
