"""A run's records as tables: metrics, stages, rejected rows, training history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

METRIC_COLUMNS = ["target", "log", "scheme", "subset", "predictor", "n"]


def _scores(scores: dict[str, Any]) -> dict[str, Any]:
    """Scalar scores as they are; two-element ``*_ci`` lists as ``*_ci_low``/``*_ci_high``."""
    out: dict[str, Any] = {}
    for key, value in scores.items():
        if isinstance(value, (list, tuple)) and len(value) == 2 and key.endswith("_ci"):
            out[f"{key}_low"], out[f"{key}_high"] = value
        elif isinstance(value, (int, float, str, bool)) or value is None:
            out[key] = value
    return out


def metrics_frame(metrics: dict[str, Any]) -> pd.DataFrame:
    """``fit/metrics.json`` as one row per target, CV scheme, subset and predictor.

    A predictor is every entry of a subset that holds an ``r2`` (``model`` and each
    baseline). Columns: target, log, scheme, subset, predictor, n (clusters in the subset),
    then the scores (r2, pearson_r2, rmse, ...; ``*_ci`` intervals as ``_low``/``_high``);
    on a baseline's row, ``r2_gain`` (the model's R² minus the baseline's), its paired interval
    ``r2_gain_ci_low``/``_high`` and ``share_better``. Subsets that were skipped (too few
    clusters) have no rows.
    """
    rows = []
    for target, entry in metrics.get("targets", {}).items():
        for scheme, subsets in entry.get("schemes", {}).items():
            for subset, result in subsets.items():
                if not isinstance(result, dict):
                    continue
                gains = result.get("model_vs", {})
                for predictor, scores in result.items():
                    if isinstance(scores, dict) and "r2" in scores:
                        rows.append({"target": target, "log": bool(entry.get("log", False)),
                                     "scheme": scheme, "subset": subset, "predictor": predictor,
                                     **_scores(scores), **_scores(gains.get(predictor, {})),
                                     "n": result.get("n")})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=[*METRIC_COLUMNS, "r2", "pearson_r2", "rmse"])
    return frame[METRIC_COLUMNS + [c for c in frame.columns if c not in METRIC_COLUMNS]]


def stage_frame(manifest: dict[str, Any]) -> pd.DataFrame:
    """One row per stage from ``manifest.json``: status, seconds, finished, counts."""
    rows = []
    for name, entry in manifest.get("stages", {}).items():
        counts = entry.get("counts") or {}
        rows.append({"stage": name, "status": entry.get("status"), "seconds": entry.get("seconds"),
                     "finished": (entry.get("finished") or "")[:19].replace("T", " "),
                     "counts": ", ".join(f"{k}: {v}" for k, v in counts.items())})
    return pd.DataFrame(rows, columns=["stage", "status", "seconds", "finished", "counts"])


def rejected_summary(path: Path | None) -> pd.DataFrame:
    """``ingest/rejected.csv`` counted by source and reason (most frequent first); empty when
    ``path`` is None or absent."""
    if path is None or not path.exists():
        return pd.DataFrame(columns=["source", "reason", "rows"])
    table = pd.read_csv(path)
    if table.empty:
        return pd.DataFrame(columns=["source", "reason", "rows"])
    counts = table.groupby(["source", "reason"], dropna=False).size().rename("rows")
    return counts.reset_index().sort_values("rows", ascending=False, kind="stable")
