"""The whole config: the root :class:`Config`, and loading it from YAML (safe-loaded) or a mapping.

Every section lives in its own module and is re-exported here, so ``from pipeline.config.schema
import Config, TilesConfig, load_config`` is the one import callers need. Unknown keys and wrong
types are :class:`ConfigError`s that name the file and the key path; every path is resolved
relative to the config file. Fields marked ``cosmetic`` (batch sizes, worker counts) change how a
stage runs, not what it produces, so they are left out of stage fingerprints.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator
from pydantic.json_schema import SkipJsonSchema

from pipeline.config.aggregate import AggregateConfig, DistrictsConfig
from pipeline.config.base import COSMETIC, RelPath, Section
from pipeline.config.baselines import BaselinesConfig
from pipeline.config.data import DataConfig, NightlightsConfig, TilesConfig
from pipeline.config.executor import DaskExecutor, ExecutorConfig, LocalExecutor
from pipeline.config.export import ExportConfig, GridConfig
from pipeline.config.features import FeaturesConfig
from pipeline.config.labels import LabelsConfig
from pipeline.config.model import ModelConfig
from pipeline.config.predict import PredictConfig
from pipeline.config.regression import RegressionConfig, TargetConfig
from pipeline.config.survey import DhsColumns, LsmsColumns, SurveyConfig
from pipeline.errors import ConfigError
from pipeline.outputs.spec import ExportSpec

__all__ = [
    "AggregateConfig", "BaselinesConfig", "COSMETIC", "Config", "DaskExecutor", "DataConfig",
    "DhsColumns", "DistrictsConfig", "ExecutorConfig", "ExportConfig", "FeaturesConfig",
    "GridConfig", "LabelsConfig", "LocalExecutor", "LsmsColumns", "ModelConfig",
    "NightlightsConfig", "PredictConfig", "RegressionConfig", "RelPath", "Section",
    "SurveyConfig", "TargetConfig", "TilesConfig", "WEIGHTS_DIR_ENV", "config_yaml",
    "export_spec", "load_config", "parse_config", "save_config",
]

WEIGHTS_DIR_ENV = "POVERTY_PIPELINE_WEIGHTS_DIR"
PREDICTION_REFUSES = {"labels": (), "model": (), "features": ("batch_size",), "baselines": (),
                      "aggregate": ()}
"""Training sections a prediction config must not set (but for the keys named): the bundle
fixes them."""


class Config(Section):
    """A run: its name and directory, the inputs, and one section per stage."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description=(
        "The run's name (letters, digits, `_`, `.`, `-`); the map's and the report's titles "
        "show it, and a bare `--run-id` starts with it."))
    run_dir: RelPath = Field(description=(
        "Where the run directory is written (docs/run-directory.md)."))
    bundle: RelPath | None = Field(None, description=(
        "A model bundle (`poverty-pipeline bundle`, docs/bundles.md). With it this is a "
        "prediction run: ingest -> extract -> predict -> export with the bundle's network, "
        "models and tile preprocessing, and no survey, night lights, `regression` or training "
        "sections (they come from the bundle)."))
    seed: int = Field(0, description=(
        "Seeds the label mixture, the training split and training, the random baselines and "
        "the CV folds."))
    data: DataConfig = Field(description="The inputs: tiles, nightlights, survey.")
    labels: LabelsConfig = Field(LabelsConfig(), description=(
        "Nightlight classes, the label `train` fine-tunes on (stage `label`)."))
    model: ModelConfig = Field(ModelConfig(), description=(
        "The backbone and its fine-tuning (stage `train`)."))
    features: FeaturesConfig = Field(FeaturesConfig(), description=(
        "Feature extraction (stage `extract`)."))
    baselines: BaselinesConfig = Field(BaselinesConfig(), description=(
        "Baseline tile features (stage `baselines`)."))
    aggregate: AggregateConfig = Field(AggregateConfig(), description=(
        "The tiles averaged around each cluster (stage `aggregate`)."))
    regression: RegressionConfig | None = Field(None, description=(
        "Targets, ridge and cross-validation (stage `fit`). Required for a training run."))
    predict: PredictConfig = Field(PredictConfig(), description=(
        "The neighbourhood around each mapped tile (stage `predict`)."))
    export: ExportConfig = Field(ExportConfig(), description=(
        "The map's cells, region and units (stage `export`)."))
    executor: ExecutorConfig = Field(LocalExecutor(), description=(
        "Where per-shard work runs: `kind: local` or `kind: dask`."))
    source: SkipJsonSchema[Path | None] = Field(None, exclude=True, json_schema_extra=COSMETIC,
                                                description="The config file (set on loading).")

    def section(self, dotted: str) -> BaseModel:
        """Return the submodel at a dotted key path such as ``"data.tiles"``."""
        node: Any = self
        for part in dotted.split("."):
            node = getattr(node, part)
        return node

    @model_validator(mode="after")
    def _training_or_prediction(self) -> Config:
        """A training run needs a survey, night lights and targets; a prediction run (a
        ``bundle``) takes everything about the model from the bundle and refuses them."""
        given = {"data.survey": self.data.survey, "data.nightlights": self.data.nightlights,
                 "regression": self.regression}
        if self.bundle is None:
            missing = [key for key, value in given.items() if value is None]
            if missing:
                raise ValueError("; ".join(f"{key}: required key is missing (a training run "
                                           "needs it; a prediction run gives `bundle:` instead)"
                                           for key in missing))
            return self._targets_are_outcomes(set(self.data.survey.outcomes),  # type: ignore[union-attr]
                                              self.regression.targets)  # type: ignore[union-attr]
        from_bundle = [key for key, value in given.items() if value is not None]
        from_bundle += [f"{key}.{name}" for key, allowed in PREDICTION_REFUSES.items()
                        for name in sorted(getattr(self, key).model_fields_set - set(allowed))]
        if from_bundle:
            raise ValueError(f"{from_bundle[0]}: a prediction run (`bundle: {self.bundle}`) takes "
                             f"{', '.join(from_bundle)} from the bundle's training run; remove "
                             "them from this config.")
        return self

    def _targets_are_outcomes(self, outcomes: set[str],
                              targets: tuple[TargetConfig, ...]) -> Config:
        for i, target in enumerate(targets):
            if target.column not in outcomes:
                raise ValueError(
                    f"regression.targets[{i}].column: {target.column!r} is not one of "
                    f"data.survey.outcomes {sorted(outcomes)}"
                )
        if self.export.target is not None and self.export.target not in outcomes:
            raise ValueError(f"export.target: {self.export.target!r} is not a survey outcome")
        return self


def export_spec(name: str, export: ExportConfig,
                regression: RegressionConfig | None) -> ExportSpec:
    """What the exports are asked for, as plain values: the run's ``name``, its ``export``
    section and its ``regression`` (None for a prediction run, which fitted nothing)."""
    return ExportSpec(name, export.grid, export.target, export.population, export.region,
                      dict(export.units), tuple(regression.schemes) if regression else (),
                      tuple(t.column for t in regression.targets if t.log) if regression else ())


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Load and validate a YAML config file.

    Args:
        path: the YAML file; relative paths inside it are resolved against its folder.
        env: environment used for defaults (``POVERTY_PIPELINE_WEIGHTS_DIR``); ``os.environ``
            when None. This is the only place the environment is read.

    Raises:
        ConfigError: unreadable file, invalid YAML, unknown key, wrong type or value.
    """
    path = Path(path)
    env = os.environ if env is None else env
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc}).") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}".replace("\n", " ")) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a YAML mapping; got {type(data).__name__}.")
    model = data.get("model")
    if isinstance(model, dict) and model.get("weights_dir") is None and env.get(WEIGHTS_DIR_ENV):
        model["weights_dir"] = str(Path(env[WEIGHTS_DIR_ENV]).absolute())
    data["source"] = str(path.absolute())
    return parse_config(data, base_dir=path.parent.absolute(), origin=str(path))


def save_config(config: Config, path: Path) -> None:
    """Write the resolved config (absolute paths) as YAML; ``load_config`` reads it back.

    The runner keeps one in every run directory (``config.yaml``), so that a run can be
    reopened (``pipeline.runs.api.load_run``) or re-exported without the original file.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(config_yaml(config), encoding="utf-8")
    os.replace(tmp, path)


def config_yaml(config: Config) -> str:
    """The resolved config as YAML text (absolute paths; ``source`` left out, and the training
    sections of a prediction run, which its bundle fixes)."""
    exclude: dict[str, Any] = {"source": True}
    if config.bundle is not None:
        for key, allowed in PREDICTION_REFUSES.items():
            names = set(type(getattr(config, key)).model_fields) - set(allowed)
            exclude[key] = True if not allowed else names
    return yaml.safe_dump(config.model_dump(mode="json", exclude=exclude), sort_keys=False)


def parse_config(data: Mapping[str, Any], base_dir: Path, origin: str = "config") -> Config:
    """Validate an already-parsed mapping; errors are prefixed with ``origin``."""
    try:
        return Config.model_validate(dict(data), context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {_describe(exc, data)}") from None


def _describe(exc: ValidationError, data: Mapping[str, Any]) -> str:
    """One line per problem: the key path, what is wrong, what was found."""
    lines = []
    for err in exc.errors():
        parts = [p for p in err["loc"] if not str(p).endswith("Executor")]
        loc = [str(p) for p in parts]
        key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")
        key = key or "(top level)"
        if err["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown key{_did_you_mean(loc, data)}")
        elif err["type"] == "missing":
            lines.append(f"{key}: required key is missing")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "value_error" and ":" in msg.split(" ")[0]:
                lines.append(msg)
            else:
                lines.append(f"{key}: {msg}; got {err.get('input')!r}")
    return "; ".join(lines)


def _did_you_mean(loc: list[str], data: Mapping[str, Any]) -> str:
    fields: Any = Config.model_fields
    for part in loc[:-1]:
        field = fields.get(part) if isinstance(fields, dict) else None
        annotation = getattr(field, "annotation", None)
        fields = getattr(annotation, "model_fields", None)
        if fields is None:
            return ""
    close = difflib.get_close_matches(loc[-1], list(fields), n=1)
    allowed = ", ".join(sorted(fields))
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{hint} (allowed: {allowed})"
