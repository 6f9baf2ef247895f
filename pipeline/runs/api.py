"""What notebooks use: open a finished (or partly finished) run and look at it.

    >>> from pipeline.runs.api import load_run
    >>> run = load_run("runs/demo")
    >>> run.metrics.query("subset == 'all'")        # R² per target, CV scheme and predictor
    >>> run.plot_map()                              # the predicted map with the clusters
    >>> run.export(["png", "gpkg"], grid={"kind": "h3", "resolution": 7}, out="h3/")

Everything is read lazily from the run directory (its layout: :class:`pipeline.engine.rundir.RunDir`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyarrow.parquet as pq
import numpy as np
import pandas as pd

from pipeline.config.schema import Config, ExportConfig, config_yaml, export_spec, load_config
from pipeline.engine.rundir import RunDir
from pipeline.errors import MissingArtifactError
from pipeline.outputs.bundle import (
    ExportBundle,
    ExportFiles,
    FitFiles,
    clusters_file,
    load_bundle,
    out_of_fold,
    target_is_logged,
)
from pipeline.outputs.figures import plot_map, plot_scatter, plt
from pipeline.outputs.formats import FORMATS, write_formats
from pipeline.outputs.spec import ExportSpec
from pipeline.outputs.tables import metrics_frame, stage_frame


def load_run(path: str | Path, config: str | Path | None = None) -> Run:
    """Open a run directory.

    Args:
        path: the run directory (``runs/<name>``).
        config: a config file to use instead of the run's own ``config.yaml`` (which every run
            writes; give this only for run directories made before it was kept).

    Raises:
        MissingArtifactError: no such directory, or no config to read.
    """
    run_dir = Path(path).absolute()
    if not run_dir.is_dir():
        raise MissingArtifactError(f"{run_dir}: no such run directory.")
    source = Path(config) if config is not None else RunDir(run_dir).config_file
    if not source.exists():
        raise MissingArtifactError(
            f"{source} is missing: this run directory has no saved config. Pass the config "
            "file it was run with (load_run(path, config=...) or --config).")
    loaded = load_config(source)
    manifest_path = RunDir(run_dir).manifest_file
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    return Run(run_dir, loaded.model_copy(update={"run_dir": run_dir}), manifest)


@dataclass
class Run:
    """One run directory, read lazily.

    Attributes:
        path: the run directory.
        config: the config the run used (its ``run_dir`` set to ``path``).
        manifest: ``manifest.json`` as a dict (``stages.<name>``: status, seconds, counts, ...).
    """

    path: Path
    config: Config
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def dir(self) -> RunDir:
        """The run directory's layout."""
        return RunDir(self.path)

    @property
    def stages(self) -> pd.DataFrame:
        """One row per stage: status, seconds, finished, counts."""
        return stage_frame(self.manifest)

    @cached_property
    def metrics(self) -> pd.DataFrame:
        """Cross-validated scores (``fit/metrics.json``), one row per target, scheme, subset and
        predictor (``model`` or a baseline): n, r2 (sklearn R²), pearson_r2, rmse, ...; on a
        baseline's rows, ``r2_gain`` (the model's R² minus the baseline's) with its paired
        bootstrap interval ``r2_gain_ci_low``/``_high`` and ``share_better``."""
        path = self.dir.artifact("fit", "metrics.json")
        return metrics_frame(json.loads(path.read_text()))

    @cached_property
    def clusters(self) -> gpd.GeoDataFrame:
        """Survey clusters (points, EPSG:4326) with their outcomes, ``n_tiles``, ``usable`` and,
        per target, ``cv_predicted_<target>``: the out-of-fold prediction in outcome units."""
        path = clusters_file(self.dir.artifact)
        if path is None:
            raise MissingArtifactError(f"{self.dir.path}: a prediction run (bundle "
                                       f"{self.config.bundle}) has no survey clusters.")
        frame = gpd.read_parquet(path)
        fit = FitFiles.find(self.dir.artifact)
        for target in self.targets:
            frame[f"cv_predicted_{target}"] = out_of_fold(fit, self.spec(),
                                                          frame["cluster_id"], target)
        return frame

    @cached_property
    def predictions(self) -> gpd.GeoDataFrame:
        """The exported cells (``export/predictions.parquet``), else the per-tile predictions
        (``predict/grid.parquet``): ``pred_<target>`` (+ ``lower_``/``upper_``/``ood_``), EPSG:4326."""
        return gpd.read_parquet(self.dir.artifact("export", "predictions.parquet", required=False)
                                or self.dir.artifact("predict", "grid.parquet"))

    @property
    def targets(self) -> list[str]:
        """The outcomes predicted (a prediction run's: its bundle's)."""
        if self.config.regression is not None:
            return [t.column for t in self.config.regression.targets]
        grid = self.dir.artifact("predict", "grid.parquet")
        names = pq.read_schema(grid).names
        return [c.removeprefix("pred_") for c in names if c.startswith("pred_")]

    @property
    def cv_predictions(self) -> pd.DataFrame:
        """``fit/cv_predictions.csv``: out-of-fold predictions (log units where logged)."""
        return pd.read_csv(self.dir.artifact("fit", "cv_predictions.csv"))

    def features(self) -> np.memmap:
        """Every tile's penultimate features, float32 (n_tiles, d), memory-mapped read-only;
        rows follow ``extract/index.parquet``."""
        return np.load(self.dir.artifact("extract", "features.npy"), mmap_mode="r")

    def model(self) -> Any:
        """The fine-tuned Keras classifier (``train/model.keras``), loaded with safe_mode=True.
        It takes raw 0..255 pixels at ``model.inputs[0].shape[1]`` a side: the cached tile size
        when the upsampling is folded into its stem (MobileNets at twice the tile size), else
        ``model.input_size_px``; its layer ``features`` is the feature layer."""
        from pipeline.models.classifier import load_classifier  # TensorFlow: seconds to load

        return load_classifier(self.dir.artifact("train", "model.keras"))

    def with_export(self, **changes: Any) -> Config:
        """The run's config with ``export`` keys replaced (e.g. ``grid={"kind": "h3"}``)."""
        current = self.config.export.model_dump()
        if isinstance(changes.get("grid"), Mapping):
            changes["grid"] = {**current["grid"], **changes["grid"]}
        return self.config.model_copy(
            update={"export": ExportConfig.model_validate({**current, **changes})})

    def spec(self, config: Config | None = None) -> ExportSpec:
        """What the exports are asked for, from ``config`` (default: the run's)."""
        config = config or self.config
        return export_spec(config.name, config.export, config.regression)

    def files(self, config: Config | None = None) -> ExportFiles:
        """The run's files the exports read; the report shows ``config`` (default: the run's)."""
        return ExportFiles.find(self.dir.artifact, self.path, self.dir.manifest_file,
                                config_yaml(config or self.config))

    def bundle(self, **export: Any) -> ExportBundle:
        """The inputs of the exports, with ``export`` keys replaced (see :meth:`with_export`)."""
        config = self.with_export(**export)
        return load_bundle(self.files(config), self.spec(config))

    def export(self, formats: Sequence[str] = FORMATS, out: str | Path | None = None,
               **export: Any) -> list[Path]:
        """Write export formats (``cog gpkg parquet csv png html``) without rerunning anything.

        Args:
            formats: which formats to write.
            out: output folder (default: the run's ``export/``).
            **export: ``export`` config keys to change first, e.g. ``grid=``, ``region=``,
                ``population=``, ``target=``, ``units=``.

        Returns:
            The files written.
        """
        folder = Path(out) if out is not None else self.dir.stage_dir("export")
        return write_formats(self.bundle(**export), folder, formats)

    def plot_map(self, target: str | None = None, ax: plt.Axes | None = None, **export: Any) -> plt.Figure:
        """The predicted map of ``target`` (default: ``export.target``) with the clusters."""
        bundle = self.bundle(**{**export, **({"target": target} if target else {})})
        return plot_map(bundle.cells, bundle.column, bundle.clusters, title=bundle.title,
                        units=bundle.units, ax=ax, outline=bundle.outline,
                        cluster_column=bundle.target)

    def plot_scatter(self, target: str | None = None, scheme: str | None = None,
                     ax: plt.Axes | None = None) -> plt.Figure:
        """Out-of-fold predicted vs observed for one target and CV scheme (default: the first)."""
        target = target or self.targets[0]
        table = self.cv_predictions
        rows = table[table["target"] == target]
        scheme = scheme or next(iter(rows["scheme"]), None)
        rows = rows[rows["scheme"] == scheme]
        label = f"log {target}" if target_is_logged(FitFiles.find(self.dir.artifact), self.spec(), target) else target
        return plot_scatter(rows["observed"].to_numpy(np.float64),
                            rows["predicted"].to_numpy(np.float64), label,
                            title=f"{scheme} CV:", ax=ax)
