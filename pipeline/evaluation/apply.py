"""Apply saved ridge models to new feature rows (``poverty-pipeline predict-features``).

:func:`model_outputs` turns one target's saved model (a ``model.json`` entry) into predictions,
the CV+ prediction interval and the out-of-distribution flag; the ``predict`` stage uses it for
map tiles and :func:`predict_feature_table` for a table a user brings (features of unsurveyed
places, or of another year), with the columns the model was fitted on by ``fit-features``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.errors import InputDataError, MissingArtifactError
from pipeline.evaluation.conformal import OodReference
from pipeline.evaluation.intervals import FoldSet
from pipeline.evaluation.table import check_numeric, read_feature_table
from pipeline.evaluation.ridge import RidgeModel, load_models


def has_interval(spec: dict[str, Any]) -> bool:
    """Whether the saved model carries a prediction interval (False when no CV scheme ran)."""
    interval = spec.get("interval") or {}
    return "fold_models" in interval or np.isfinite(interval.get("half_width", np.nan))


def interval_ends(spec: dict[str, Any], x: np.ndarray,
                  pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The saved interval's ends for feature rows ``x`` (n, d), in model units.

    CV+ (or normalised CV+) from the saved fold models and residuals; a model saved before
    those (a ``half_width`` only) gets ``pred ± half_width``; NaN without an interval.
    """
    interval = spec.get("interval") or {}
    if "fold_models" in interval:
        return FoldSet.from_dict(interval).bounds(x, interval["coverage"],
                                                  interval.get("method", "cv_plus"))
    half = float(interval.get("half_width", np.nan))
    return pred - half, pred + half


def model_outputs(x: np.ndarray, target: str, spec: dict[str, Any]) -> dict[str, np.ndarray]:
    """One target's prediction, interval and OOD flag for feature rows ``x`` (n, d).

    The interval is the saved one (``interval.method``: CV+ or normalised CV+ from the fold
    models; see :mod:`pipeline.evaluation.intervals` for what it promises).

    Missing values in ``x`` are filled as the saved preprocessing does (training medians).

    Returns:
        ``pred_<target>``, ``lower_<target>``, ``upper_<target>``: float64 (n,), in the outcome's
        own units (exp() of the log model's values where the target was logged);
        ``ood_<target>``: bool (n,), only when the model has an OOD reference.
    """
    model = RidgeModel.from_dict(spec)
    z = model.prep.transform(x)
    pred = z @ np.asarray(model.coef) + model.intercept
    lower, upper = interval_ends(spec, x, pred)
    back = np.exp if spec["log"] else (lambda v: v)
    out = {f"{prefix}_{target}": back(values)
           for prefix, values in (("pred", pred), ("lower", lower), ("upper", upper))}
    if spec.get("ood"):
        out[f"ood_{target}"] = OodReference(**spec["ood"]).flag(model.prep.transform(x, clip=False))
    return out


@dataclass(frozen=True)
class AppliedTable:
    """What :func:`predict_feature_table` produced.

    Attributes:
        frame: one row per table row: the id column (when asked) and :func:`model_outputs`'s
            columns for every target predicted.
        filled_rows: rows with at least one missing (or infinite) feature value, filled with the
            training medians.
        ood_rows: per target, how many rows are out of distribution.
        no_interval: targets whose model has no prediction interval (no CV scheme could run
            when it was fitted), so their ``lower_``/``upper_`` columns are empty.
    """

    frame: pd.DataFrame
    filled_rows: int
    ood_rows: dict[str, int]
    no_interval: list[str] = field(default_factory=list)


def load_table_models(model_dir: Path, target: str | None) -> dict[str, dict[str, Any]]:
    """The ``fit-features`` models in ``model_dir/model.json`` (all, or only ``target``)."""
    path = model_dir / "model.json"
    if not path.is_file():
        raise MissingArtifactError(f"{path}: not found; run `poverty-pipeline fit-features ... "
                                   f"--out {model_dir}` first.")
    models = load_models(path)
    if target is not None:
        if target not in models:
            raise InputDataError(f"{path}: no model for --target {target!r}; it has "
                                 f"{', '.join(models)}.")
        models = {target: models[target]}
    unnamed = [name for name, spec in models.items() if "feature_columns" not in spec]
    if unnamed:
        raise InputDataError(f"{path}: the model for {', '.join(unnamed)} has no feature_columns "
                             "(saved by a run's fit stage on image features); predict-features "
                             "applies models written by fit-features.")
    return models


def feature_matrix(table: pd.DataFrame, columns: Sequence[str], path: Path) -> np.ndarray:
    """The float64 (n, d) features; InputDataError naming missing or non-numeric columns."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        shown = ", ".join(missing[:10]) + (f" (and {len(missing) - 10} more)" if len(missing) > 10
                                           else "")
        raise InputDataError(f"{path}: missing feature column(s) {shown} that the model was "
                             "fitted on; add them to the table (same names as in fit-features).")
    check_numeric(table, columns, path, "fix or blank those values")
    return table[list(columns)].to_numpy(dtype=np.float64)


def predict_feature_table(model_dir: Path, table_path: Path, id_column: str | None = None,
                          target: str | None = None) -> AppliedTable:
    """Apply the models ``fit-features`` saved in ``model_dir`` to the table at ``table_path``.

    Args:
        model_dir: a ``fit-features --out`` folder (its ``model.json``).
        table_path: CSV or Parquet, one row per place, with every ``feature_columns`` entry.
        id_column: a column copied into the output first, to join the predictions back.
        target: predict only this target (default: every target in ``model.json``).
    """
    models = load_table_models(model_dir, target)
    table = read_feature_table(table_path)
    if id_column is not None and id_column not in table.columns:
        raise InputDataError(f"{table_path}: no column {id_column!r} (--id); the table has "
                             f"{', '.join(map(str, table.columns[:20]))}.")
    columns: dict[str, np.ndarray] = {}
    if id_column is not None:
        columns[id_column] = table[id_column].to_numpy()
    filled = np.zeros(len(table), dtype=bool)
    for name, spec in models.items():
        x = feature_matrix(table, spec["feature_columns"], table_path)
        filled |= ~np.isfinite(x).all(axis=1)
        columns.update(model_outputs(x, name, spec))
    ood = {name: int(columns[f"ood_{name}"].sum()) for name in models if f"ood_{name}" in columns}
    no_interval = [name for name, spec in models.items() if not has_interval(spec)]
    return AppliedTable(pd.DataFrame(columns), int(filled.sum()), ood, no_interval)


def write_predictions(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as CSV or Parquet, chosen by the extension of ``path``."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise InputDataError(f"{path}: unsupported output format {path.suffix!r}; "
                             "use .csv or .parquet.")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
