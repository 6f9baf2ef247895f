"""Checks a config can pass before anything runs: inputs exist, names resolve."""

from __future__ import annotations

from pathlib import Path

from pipeline.config.schema import Config
from pipeline.errors import ConfigError, MissingArtifactError
from pipeline.models.backbones import get_backbone
from pipeline.models.weights import Weights
from pipeline.stages.ingest import source_of


def check_inputs(config: Config) -> dict[str, object]:
    """Raise on the first problem; return what was found (for ``validate``'s report).

    Raises:
        MissingArtifactError: an input file or folder is missing (named with its config key).
        InputDataError: the tile folder holds no tiles.
        ConfigError: unknown backbone.
    """
    if config.bundle is not None:
        return check_prediction_inputs(config)
    data = config.data
    if data.nightlights is None or data.survey is None:  # Config refuses this; for the types
        raise ConfigError("data.survey and data.nightlights are required for a training run.")
    for key, path in (("data.nightlights.path", data.nightlights.path),
                      ("data.survey.path", data.survey.path)):
        if not Path(path).is_file():
            raise MissingArtifactError(f"{path}: file not found ({key}).")
    for key, path in (("data.survey.locations", data.survey.locations),
                      *((f"data.manifests[{i}]", m) for i, m in enumerate(data.manifests))):
        if path is not None and not Path(path).is_file():
            raise MissingArtifactError(f"{path}: file not found ({key}).")
    if not data.tiles.path.exists():
        raise MissingArtifactError(f"{data.tiles.path}: not found (data.tiles.path).")
    tiles = source_of(data.tiles).count()
    get_backbone(config.model.backbone)
    weights = Weights.parse(config.model.weights)
    if weights.path is not None and not weights.path.is_file():
        raise MissingArtifactError(f"{weights.path}: weights file not found (model.weights).")
    if config.model.weights_dir is not None and not config.model.weights_dir.is_dir():
        raise ConfigError(f"model.weights_dir: {config.model.weights_dir} is not a folder.")
    return {"tiles": tiles, "nightlights": str(data.nightlights.path),
            "survey": str(data.survey.path), "run_dir": str(config.run_dir)}


def check_prediction_inputs(config: Config) -> dict[str, object]:
    """A prediction run's checks: the bundle opens and verifies, the tiles are there."""
    from pipeline.bundles.format import open_bundle
    from pipeline.engine.manifest import package_version

    bundle = open_bundle(config.bundle, package_version())  # type: ignore[arg-type]
    tiles = config.data.tiles
    if not tiles.path.exists():
        raise MissingArtifactError(f"{tiles.path}: not found (data.tiles.path).")
    return {"tiles": source_of(tiles).count(), "bundle": str(bundle.path),
            "trained on": bundle.info["training"]["name"], "run_dir": str(config.run_dir)}
