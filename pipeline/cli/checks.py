"""Checks a config can pass before anything runs: inputs exist, names resolve."""

from __future__ import annotations

from pathlib import Path

from pipeline.config.schema import Config
from pipeline.errors import ConfigError, MissingArtifactError
from pipeline.tiles.mosaic import mosaic_windows, source_kind
from pipeline.tiles.reading import find_tiles
from pipeline.models import get_backbone


def check_inputs(config: Config) -> dict[str, object]:
    """Raise on the first problem; return what was found (for ``validate``'s report).

    Raises:
        MissingArtifactError: an input file or folder is missing (named with its config key).
        InputDataError: the tile folder holds no tiles.
        ConfigError: unknown backbone.
    """
    data = config.data
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
    if source_kind(data.tiles.path, data.tiles.source) == "folder":
        tiles = len(find_tiles(data.tiles.path))
    else:
        tiles = len(mosaic_windows(data.tiles.path, data.tiles.window_px or data.tiles.tile_size_px,
                                   data.tiles.overlap_px))
    get_backbone(config.model.backbone)
    weights = config.model.weights
    if weights not in ("imagenet", "none") and not Path(weights).is_file():
        raise MissingArtifactError(f"{weights}: weights file not found (model.weights).")
    if config.model.weights_dir is not None and not config.model.weights_dir.is_dir():
        raise ConfigError(f"model.weights_dir: {config.model.weights_dir} is not a folder.")
    return {"tiles": tiles, "nightlights": str(data.nightlights.path),
            "survey": str(data.survey.path), "run_dir": str(config.run_dir)}
