"""Run directories side by side: where a run goes, which runs exist, how two runs differ.

* :func:`resolve_run_dir`: ``--run-id``. Without it a config always writes ``run_dir`` (one fixed
  directory, rerun incrementally); with it the run goes to a sibling ``<runs root>/<ID>``, where
  the runs root is the parent of ``run_dir``.
* :func:`list_runs`: one row per run directory under a folder (its ``manifest.json``).
* :func:`compare_runs`: metrics of two runs side by side (``fit/metrics.json``), and how the
  predictions moved (``predict/grid.parquet``): mean absolute change, and the share of cells
  whose wealth quintile changed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.config.schema import Config
from pipeline.errors import ConfigError, MissingArtifactError
from pipeline.engine.manifest import Manifest
from pipeline.engine.rundir import RunDir

AUTO = "auto"
_RUN_ID = re.compile(r"^[A-Za-z0-9_.-]+$")
ID_COLUMNS = ("tile_id", "cell_id")


def default_run_id(name: str, when: datetime | None = None) -> str:
    """``<config name>-<UTC time as YYYYmmddTHHMMSSZ>``."""
    when = when or datetime.now(timezone.utc)
    return f"{name}-{when.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}"


def resolve_run_dir(config: Config, run_id: str | None) -> Config:
    """The config with its run directory set for ``--run-id``.

    Args:
        config: the loaded config; ``run_dir`` is the fixed directory.
        run_id: None: keep ``run_dir``. ``"auto"``: :func:`default_run_id`. Anything else:
            that name (letters, digits, ``_.-``), beside ``run_dir``.

    Raises:
        ConfigError: the id holds a character that is not allowed (e.g. a slash).
    """
    if run_id is None:
        return config
    run_id = default_run_id(config.name) if run_id == AUTO else run_id
    if not _RUN_ID.match(run_id) or run_id in (".", ".."):
        raise ConfigError(f"--run-id: {run_id!r} is not a valid run id; use letters, digits, "
                          "'_', '.' and '-' (it names a folder beside run_dir).")
    return config.model_copy(update={"run_dir": config.run_dir.parent / run_id})


def list_runs(root: Path) -> list[dict[str, Any]]:
    """One row per run directory directly under ``root`` (and ``root`` itself if it is one).

    Returns:
        Rows sorted by start time: id, path, status, started, finished, executor, stages
        (``done/total``), failed (stage names) and ``r2``, the headline cross-validated r² (first
        target, first scheme, all clusters, image model) when ``fit`` has finished.
    """
    if not root.is_dir():
        raise MissingArtifactError(f"{root}: folder not found; pass the folder holding run "
                                   "directories (the parent of a config's run_dir).")
    candidates = [root, *sorted(p for p in root.iterdir() if p.is_dir())]
    rows = [_run_row(p) for p in candidates if RunDir(p).is_run()]
    return sorted(rows, key=lambda r: r["started"] or "")


def _run_row(path: Path) -> dict[str, Any]:
    manifest = Manifest.load(path)
    stages = manifest.stages
    finished = [n for n, e in stages.items() if e.get("status") in ("done", "skipped")]
    failed = [n for n, e in stages.items() if e.get("status") == "failed"]
    status = manifest.run.get("status")
    if status is None:
        status = "failed" if failed else ("running" if RunDir(path).lock_file.exists()
                                          else "incomplete")
    return {
        "id": path.name, "path": str(path), "status": status,
        "started": manifest.run.get("started"), "finished": manifest.run.get("finished"),
        "executor": manifest.run.get("executor"), "stages": f"{len(finished)}/{len(stages)}",
        "failed": failed, "r2": _headline_r2(path),
    }


def _headline_r2(path: Path) -> float | None:
    metrics = _read_metrics(path, required=False)
    for key, value in metrics.items():
        if key.endswith(".all.model.r2"):
            return value
    return None


def format_runs(rows: Sequence[dict[str, Any]]) -> str:
    """A fixed-width table of :func:`list_runs` rows."""
    if not rows:
        return "no run directories (folders with a manifest.json) found"
    lines = [f"{'run':<34} {'status':<11} {'stages':<7} {'r2':>7}  {'executor':<8} started"]
    for r in rows:
        r2 = "" if r["r2"] is None else f"{r['r2']:7.3f}"
        failed = f"  failed: {', '.join(r['failed'])}" if r["failed"] else ""
        lines.append(f"{r['id']:<34} {r['status']:<11} {r['stages']:<7} {r2:>7}  "
                     f"{r['executor'] or '':<8} {r['started'] or ''}{failed}")
    return "\n".join(lines)


def flatten_metrics(node: Any, prefix: str = "") -> Iterator[tuple[str, float]]:
    """Numeric leaves of ``fit/metrics.json`` as (dotted path, value); lists are left out."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from flatten_metrics(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield prefix, float(node)


def _read_metrics(run: Path, required: bool = True) -> dict[str, float]:
    path = RunDir(run).artifact("fit", "metrics.json", required=required)
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MissingArtifactError(f"{path}: unreadable ({exc}).") from exc
    return {k.removeprefix("targets.").replace(".schemes.", "."): v
            for k, v in flatten_metrics(data)}


def compare_metrics(run_a: Path, run_b: Path, names: Sequence[str] = ("r2",)) -> pd.DataFrame:
    """Metrics named in ``names`` of both runs: columns key, a, b, change (b - a).

    Keys read ``<target>.<scheme>.<subset>.<predictor>.<metric>``; a metric present in one run
    only has NaN on the other side.
    """
    a, b = _read_metrics(run_a), _read_metrics(run_b)
    keys = [k for k in dict.fromkeys([*a, *b]) if k.rsplit(".", 1)[-1] in names]
    table = pd.DataFrame({"key": keys, "a": [a.get(k, np.nan) for k in keys],
                          "b": [b.get(k, np.nan) for k in keys]})
    table["change"] = table["b"] - table["a"]
    return table


def quintiles(values: np.ndarray) -> np.ndarray:
    """Quintile of each value within ``values`` (0 = lowest fifth .. 4), by rank; ties by order."""
    ranks = pd.Series(values).rank(method="first").to_numpy() - 1
    return np.minimum((ranks * 5 // max(len(values), 1)).astype(np.int64), 4)


def _read_grid(run: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    path = RunDir(run).artifact("predict", "grid.parquet")
    names = pq.read_schema(path).names
    return pd.read_parquet(path, columns=[c for c in names
                                          if c in ID_COLUMNS or c.startswith("pred_")])


def compare_predictions(run_a: Path, run_b: Path) -> pd.DataFrame:
    """How each ``pred_<target>`` moved between two runs, over the cells both runs predicted.

    Returns:
        One row per prediction column: cells (compared: present and finite in both), only_a and
        only_b (cells one run has and the other lacks), mean_abs_change and mean_change
        (b - a, in the outcome's units), quintile_changed (share of compared cells whose
        quintile within its own run differs; quintile 0 is the poorest fifth).
    """
    a, b = _read_grid(run_a), _read_grid(run_b)
    key = next((c for c in ID_COLUMNS if c in a and c in b), None)
    if key is None:
        raise MissingArtifactError(f"{run_a} and {run_b}: the prediction grids share no id "
                                   f"column ({' or '.join(ID_COLUMNS)}); they cannot be matched.")
    merged = a.merge(b, on=key, suffixes=("_a", "_b"))
    rows = []
    for column in [c for c in a.columns if c.startswith("pred_") and c in b.columns]:
        x, y = merged[f"{column}_a"].to_numpy(float), merged[f"{column}_b"].to_numpy(float)
        ok = np.isfinite(x) & np.isfinite(y)
        x, y = x[ok], y[ok]
        rows.append({
            "prediction": column, "cells": int(ok.sum()),
            "only_a": len(a) - len(merged), "only_b": len(b) - len(merged),
            "mean_abs_change": float(np.mean(np.abs(y - x))) if len(x) else np.nan,
            "mean_change": float(np.mean(y - x)) if len(x) else np.nan,
            "quintile_changed": float(np.mean(quintiles(x) != quintiles(y))) if len(x) else np.nan,
        })
    return pd.DataFrame(rows)


def compare_runs(run_a: Path, run_b: Path, metrics: Sequence[str] = ("r2",)) -> dict[str, Any]:
    """Both comparisons as JSON-able lists of rows: ``{"metrics": [...], "predictions": [...]}``."""
    for run in (run_a, run_b):
        if not RunDir(run).is_run():
            raise MissingArtifactError(f"{run}: not a run directory (no manifest.json).")
    tables = {"metrics": compare_metrics(run_a, run_b, metrics),
              "predictions": compare_predictions(run_a, run_b)}
    return {name: json.loads(t.to_json(orient="records")) for name, t in tables.items()}


def format_comparison(result: dict[str, Any], run_a: Path, run_b: Path) -> str:
    """Text tables of :func:`compare_runs`: metrics side by side, then prediction changes."""
    lines = [f"A: {run_a}", f"B: {run_b}", "", f"{'metric':<60} {'A':>9} {'B':>9} {'B - A':>9}"]
    for row in result["metrics"]:
        cells = [_num(row[k]) for k in ("a", "b", "change")]
        lines.append(f"{row['key']:<60} {cells[0]:>9} {cells[1]:>9} {cells[2]:>9}")
    lines += ["", f"{'prediction':<28} {'cells':>7} {'mean |B - A|':>13} {'mean B - A':>11} "
                  f"{'quintile changed':>17}"]
    for row in result["predictions"]:
        share = row["quintile_changed"]
        share_text = "" if share is None else f"{share:.1%}"
        lines.append(f"{row['prediction']:<28} {row['cells']:>7} {_num(row['mean_abs_change']):>13} "
                     f"{_num(row['mean_change']):>11} {share_text:>17}")
        if row["only_a"] or row["only_b"]:
            lines.append(f"  ({row['only_a']} cell(s) only in A, {row['only_b']} only in B)")
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "" if value is None or not np.isfinite(value) else f"{value:.4f}"
