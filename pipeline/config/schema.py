"""Typed configuration: YAML (safe-loaded) validated into frozen pydantic models.

One submodel per stage section. Unknown keys and wrong types are :class:`ConfigError`s that name
the file and the key path; every path is resolved relative to the config file. Fields marked
``cosmetic`` (batch sizes, worker counts) change how a stage runs, not what it produces, so they
are left out of stage fingerprints.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    Field,
    PositiveFloat,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from pipeline.config.base import COSMETIC, RelPath, Section, _resolve
from pipeline.config.data import (  # noqa: F401 - re-exported: the data and labels sections
    DataConfig,
    DhsColumns,
    LabelsConfig,
    LsmsColumns,
    NightlightsConfig,
    SurveyConfig,
    TilesConfig,
)
from pipeline.config.export import ExportConfig, GridConfig  # noqa: F401 - re-exported
from pipeline.errors import ConfigError

WEIGHTS_DIR_ENV = "POVERTY_PIPELINE_WEIGHTS_DIR"


class ModelConfig(Section):
    backbone: str = "mobilenet_0.25"
    objective: Literal["classes", "radiance"] = "classes"
    weights: str = "imagenet"
    weights_dir: RelPath | None = Field(None, json_schema_extra=COSMETIC)
    input_size_px: int = Field(64, ge=32, le=1024)
    batch_size: int = Field(64, ge=1)
    head_epochs: int = Field(3, ge=0)
    finetune_epochs: int = Field(3, ge=0)
    unfreeze_layers: int = Field(10, ge=0)
    learning_rate: float = Field(1e-3, gt=0)
    finetune_learning_rate: float = Field(1e-5, gt=0)
    dropout: float = Field(0.2, ge=0.0, lt=1.0)
    validation_share: float = Field(0.2, gt=0.0, lt=0.9)
    validation_block_km: float = Field(5.0, gt=0)

    @model_validator(mode="after")
    def _weights_is_keyword_or_path(self, info: ValidationInfo) -> ModelConfig:
        if self.weights not in ("imagenet", "none"):
            object.__setattr__(self, "weights", str(_resolve(Path(self.weights), info)))
        return self


class FeaturesConfig(Section):
    mode: Literal["finetuned", "frozen"] = "finetuned"
    batch_size: int = Field(256, ge=1, json_schema_extra=COSMETIC)


class DistrictsConfig(Section):
    """Polygons (GeoPackage, shapefile, GeoJSON, GeoParquet) that group clusters into districts."""

    path: RelPath
    id: str = "district"


class AggregateConfig(Section):
    radius_km: float = Field(5.0, gt=0, le=50)
    box_km: float | None = Field(None, gt=0, le=100)
    min_tiles: int = Field(1, ge=1)
    weight: Literal["none", "valid_share", "population"] = "none"
    population: RelPath | None = None
    districts: DistrictsConfig | None = None
    population_holds: Literal["counts", "density"] = Field(
        "counts", description="What the population raster's pixels hold: `counts` (people per "
        "pixel, as WorldPop's; a tile's population is their coverage-weighted sum) or `density` "
        "(people per km²; a tile's weight is their coverage-weighted mean).")

    @model_validator(mode="after")
    def _population_needs_raster(self) -> AggregateConfig:
        if self.weight == "population" and self.population is None:
            raise ValueError("aggregate.weight: 'population' needs aggregate.population, the path "
                             "of a population raster (e.g. WorldPop)")
        return self


class BaselinesConfig(Section):
    imagenet: bool = True
    random_filters: int = Field(256, ge=0, le=8192)
    patch_px: int = Field(3, ge=1, le=15)
    whiten: bool = True
    batch_size: int = Field(128, ge=1, json_schema_extra=COSMETIC)


class TargetConfig(Section):
    column: str
    log: bool = False


class RegressionConfig(Section):
    targets: tuple[TargetConfig, ...] = Field(min_length=1)
    alphas: tuple[PositiveFloat, ...] = Field(
        (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6), min_length=1
    )
    folds: int = Field(5, ge=2, le=50)
    schemes: tuple[Literal["random", "spatial", "country"], ...] = Field(
        ("random", "spatial", "country"), min_length=1)
    spatial_block_km: float = Field(10.0, gt=0)
    buffer_km: float = Field(0.0, ge=0)
    poor_percentiles: tuple[Annotated[float, Field(gt=0, le=100)], ...] = (
        10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0)
    baselines: tuple[Literal["nightlights", "nightlights_knn", "random_features", "imagenet",
                             "region_mean"], ...] = (
        "nightlights", "nightlights_knn", "random_features", "imagenet", "region_mean")
    log_skewed: bool = True
    bootstrap: int = Field(1000, ge=0, le=100_000)
    interval_coverage: float = Field(0.9, gt=0, lt=1)
    ood_quantile: float = Field(0.99, gt=0, le=1)
    weights: Literal["none", "survey", "households"] = Field(
        "none", description="Cluster weights in the ridge fit and in every metric: `none`, "
        "`survey` (the survey's sampling weight of the cluster: DHS sum of hv005/1e6, LSMS sum "
        "of weight x household size) or `households` (the households surveyed). With weights, "
        "metrics.json also gives the unweighted figures.")
    interval: Literal["cv_plus", "normalised"] = Field(
        "cv_plus", description="The prediction interval the map and model.json carry: `cv_plus` "
        "(CV+, Barber et al. 2021, one width per place from the fold models) or `normalised` "
        "(CV+ with residuals scaled by the distance to the training clusters, wider far from "
        "them). metrics.json measures every method either way.")

    @property
    def log_columns(self) -> tuple[str, ...]:
        """The outcomes of the targets fitted on a log scale (their values must be > 0)."""
        return tuple(t.column for t in self.targets if t.log)


class PredictConfig(Section):
    radius_km: float | None = Field(None, gt=0, le=50)


class LocalExecutor(Section):
    """Per-shard work in this process; a failed shard is tried ``retries`` more times."""

    kind: Literal["local"] = "local"
    retries: int = Field(2, ge=0, le=20, json_schema_extra=COSMETIC)


class DaskExecutor(Section):
    """Per-shard work on dask.distributed: ``address`` of a scheduler, or None for a LocalCluster."""

    kind: Literal["dask"]
    address: str | None = None
    retries: int = Field(2, ge=0, le=20, json_schema_extra=COSMETIC)
    workers: int = Field(2, ge=1, json_schema_extra=COSMETIC)
    threads_per_worker: int = Field(1, ge=1, json_schema_extra=COSMETIC)


class Config(Section):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    run_dir: RelPath
    seed: int = 0
    data: DataConfig
    labels: LabelsConfig = LabelsConfig()
    model: ModelConfig = ModelConfig()
    features: FeaturesConfig = FeaturesConfig()
    baselines: BaselinesConfig = BaselinesConfig()
    aggregate: AggregateConfig = AggregateConfig()
    regression: RegressionConfig
    predict: PredictConfig = PredictConfig()
    export: ExportConfig = ExportConfig()
    executor: Annotated[LocalExecutor | DaskExecutor, Field(discriminator="kind")] = (
        LocalExecutor()
    )
    source: Path | None = Field(None, exclude=True, json_schema_extra=COSMETIC)

    def section(self, dotted: str) -> BaseModel:
        """Return the submodel at a dotted key path such as ``"data.tiles"``."""
        node: Any = self
        for part in dotted.split("."):
            node = getattr(node, part)
        return node

    @model_validator(mode="after")
    def _targets_are_outcomes(self) -> Config:
        outcomes = set(self.data.survey.outcomes)
        for i, target in enumerate(self.regression.targets):
            if target.column not in outcomes:
                raise ValueError(
                    f"regression.targets[{i}].column: {target.column!r} is not one of "
                    f"data.survey.outcomes {sorted(outcomes)}"
                )
        if self.export.target is not None and self.export.target not in outcomes:
            raise ValueError(f"export.target: {self.export.target!r} is not a survey outcome")
        return self


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
    """The resolved config as YAML text (absolute paths; ``source`` left out)."""
    return yaml.safe_dump(config.model_dump(mode="json", exclude={"source"}), sort_keys=False)


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
