"""Fit a cluster feature table a user brings (``poverty-pipeline fit-features``).

The table (CSV or Parquet) has one row per cluster: an id, optionally lat/lon and country, the
outcome, and feature columns chosen by name or glob (``'mosaiks_*'``) — features from the MOSAIKS
API, from another model, from an earlier run. The image stages are skipped; the same nested CV,
preprocessing, baselines (region mean) and metrics as the ``fit`` stage apply, and the output
folder gets ``metrics.json`` (same shape as ``fit/metrics.json``), ``cv_predictions.csv``,
``model.json`` and the evaluation plots.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import InputDataError
from pipeline.evaluation.evaluate import Survey
from pipeline.evaluation.predictors import Predictor
from pipeline.evaluation.ridge import save_models
from pipeline.evaluation.settings import CvSettings
from pipeline.evaluation.target import TargetResult, fit_target


@dataclass(frozen=True)
class TableSpec:
    """Which columns of the table are what (the ``fit-features`` arguments)."""

    target: str
    features: tuple[str, ...]
    log_target: bool = False
    id: str | None = None
    lat: str | None = None
    lon: str | None = None
    country: str | None = None
    weight: str | None = None

    def roles(self) -> dict[str, str]:
        """The columns named by the options other than --features, mapped to their option."""
        named = {"--target": self.target, "--id": self.id, "--lat": self.lat, "--lon": self.lon,
                 "--country": self.country, "--weight": self.weight}
        return {column: flag for flag, column in named.items() if column is not None}


def read_feature_table(path: Path) -> pd.DataFrame:
    """Read a CSV or (Geo)Parquet table; InputDataError naming the file otherwise."""
    if not path.is_file():
        raise InputDataError(f"{path}: feature table not found.")
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        if path.suffix.lower() in (".csv", ".txt"):
            return pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputDataError(f"{path}: cannot read the feature table ({exc}).") from exc
    raise InputDataError(f"{path}: unsupported table format {path.suffix!r}; use .csv or .parquet.")


def select_features(table: pd.DataFrame, patterns: Sequence[str], path: Path,
                    reserved: Mapping[str, str]) -> list[str]:
    """Feature columns named by globs (``'PREFIX*'``) or comma lists, in table order.

    Args:
        reserved: columns that cannot be features (the outcome, id, coordinates, country), mapped
            to the option that names them (:meth:`TableSpec.roles`).
    """
    wanted: list[str] = []
    for spec in patterns:
        for item in (s.strip() for s in spec.split(",") if s.strip()):
            found = fnmatch.filter(table.columns.astype(str), item)
            if not found:
                raise InputDataError(f"{path}: --features {item!r} matches no column "
                                     f"(columns: {', '.join(map(str, table.columns[:20]))}...).")
            taken = [c for c in found if c in reserved]
            if taken:
                raise InputDataError(f"{path}: --features {item!r} selects {taken[0]!r}, the "
                                     f"{reserved[taken[0]]} column; the outcome, id, coordinates "
                                     "and country cannot be features. Drop it from --features.")
            wanted.extend(c for c in found if c not in wanted)
    check_numeric(table, wanted, path, "fix or blank those values, or leave the column out of "
                  "--features")
    return wanted


def check_numeric(table: pd.DataFrame, columns: Sequence[str], path: Path, fix: str) -> None:
    """InputDataError naming the first non-numeric column and its first value that is not a
    number (blanks are missing values, not errors), with ``fix``, what the user can do."""
    for name in columns:
        if not pd.api.types.is_numeric_dtype(table[name]):
            values = table[name].reset_index(drop=True)
            bad = values[pd.to_numeric(values, errors="coerce").isna() & values.notna()]
            where = f" (data row {bad.index[0] + 1}: {bad.iloc[0]!r})" if len(bad) else ""
            raise InputDataError(f"{path}: feature column {name!r} is not numeric{where}; {fix}.")


def _column(table: pd.DataFrame, name: str | None, flag: str, path: Path) -> np.ndarray | None:
    if name is None:
        return None
    if name not in table.columns:
        raise InputDataError(f"{path}: no column {name!r} ({flag}); the table has "
                             f"{', '.join(map(str, table.columns[:20]))}.")
    return table[name].to_numpy()


def _numbers(table: pd.DataFrame, name: str, flag: str, path: Path) -> np.ndarray:
    """Column ``name`` as float64 (n,), NaN where a value is blank or not a number."""
    return pd.to_numeric(pd.Series(_column(table, name, flag, path)),
                         errors="coerce").to_numpy(dtype=np.float64)


def _row(table: pd.DataFrame, i: int, spec: TableSpec, path: Path) -> str:
    """``'<path> data row <i + 1> (id <id>)'``: where row position ``i`` of the file is."""
    ids = _column(table, spec.id, "--id", path)
    return f"{path} data row {i + 1}" + ("" if ids is None else f" (id {ids.astype(object)[i]!r})")


def check_coordinates(table: pd.DataFrame, keep: np.ndarray, spec: TableSpec, path: Path) -> None:
    """InputDataError at the first kept row whose --lat or --lon is blank, text or out of range.

    Args:
        table: the whole table as read (row positions are the file's data rows).
        keep: bool (n,), the rows that will be fitted; the others are excluded and counted anyway.
    """
    if spec.lat is None or spec.lon is None:
        return
    for name, flag, limit in ((spec.lat, "--lat", 90), (spec.lon, "--lon", 180)):
        bad = np.flatnonzero(keep & ~(np.abs(_numbers(table, name, flag, path)) <= limit))
        if len(bad):
            value = table[name].to_numpy(dtype=object)[bad[0]]
            more = f" ({len(bad)} rows like it in all)" if len(bad) > 1 else ""
            raise InputDataError(f"{_row(table, bad[0], spec, path)}: {flag} column {name!r} has "
                                 f"{value!r}; coordinates must be decimal degrees within ±{limit} "
                                 f"(south and west negative). Fix or remove the row.{more}")


def prepare(table: pd.DataFrame, spec: TableSpec,
            path: Path) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[str]]:
    """(rows kept, y, x, feature columns): rows with a usable target (and a positive --weight)
    with their coordinates checked; y logged if asked; x float64 features."""
    raw = _numbers(table, spec.target, "--target", path)
    keep = np.isfinite(raw) & ((raw > 0) if spec.log_target else True)
    if spec.weight is not None:
        keep &= _numbers(table, spec.weight, "--weight", path) > 0
    check_coordinates(table, keep, spec, path)
    rows = table[keep].reset_index(drop=True)
    y = np.log(raw[keep]) if spec.log_target else raw[keep]
    columns = select_features(table, spec.features, path, spec.roles())
    return rows, y, rows[columns].to_numpy(dtype=np.float64), columns


def survey_from(rows: pd.DataFrame, y: np.ndarray, spec: TableSpec, path: Path) -> Survey:
    lonlat = (np.column_stack([_numbers(rows, spec.lon, "--lon", path),
                               _numbers(rows, spec.lat, "--lat", path)])
              if spec.lat is not None and spec.lon is not None else np.zeros((len(rows), 2)))
    country = _column(rows, spec.country, "--country", path)
    weight = None if spec.weight is None else _numbers(rows, spec.weight, "--weight", path)
    return Survey(y=y, y_raw=np.exp(y) if spec.log_target else y, lonlat=lonlat,
                  country=None if country is None else country.astype(object), weight=weight)


def fit_feature_table(path: Path, spec: TableSpec, out: Path, cfg: CvSettings,
                      seed: int = 0) -> tuple[dict[str, object], TargetResult, np.ndarray]:
    """Cross-validate and fit ridge on a feature table; write metrics.json, cv_predictions.csv
    and model.json into ``out`` (the caller draws the figures).

    Returns:
        the ``targets.<target>`` entry of the metrics written, the target's full result, and
        the modelled outcome of the rows fitted (log units where logged).
    """
    table = read_feature_table(path)
    rows, y, x, columns = prepare(table, spec, path)
    if len(rows) < 2 * cfg.folds:
        raise InputDataError(f"{path}: only {len(rows)} rows have a usable {spec.target!r}; "
                             f"{cfg.folds} folds need at least {2 * cfg.folds}.")
    survey = survey_from(rows, y, spec, path)
    if spec.lat is None or spec.lon is None:
        cfg = cfg.replace(schemes=tuple(s for s in cfg.schemes if s != "spatial"))
    cfg = cfg.replace(weights="none" if spec.weight is None else "survey")
    region = survey.country if survey.country is not None else np.zeros(len(rows), dtype=object)
    predictors = {"model": Predictor("ridge", x), "region_mean": Predictor("group_mean", region)}
    id_values = _column(rows, spec.id, "--id", path)
    ids = pd.Series(np.arange(len(rows)) if id_values is None else id_values).astype(str)
    result = fit_target(spec.target, survey, predictors, ids, cfg, seed, spec.log_target)
    out.mkdir(parents=True, exist_ok=True)
    entry = {**result.metrics, "excluded": int(len(table) - len(rows)), "features": x.shape[1]}
    (out / "metrics.json").write_text(json.dumps({"targets": {spec.target: entry}}, indent=2))
    result.predictions.to_csv(out / "cv_predictions.csv", index=False)
    save_models(out / "model.json", {spec.target: {**result.model, "feature_columns": columns}})
    return entry, result, y
