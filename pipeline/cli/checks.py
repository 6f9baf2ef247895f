"""Checks a config can pass before anything runs: inputs exist, names resolve."""

from __future__ import annotations

from pathlib import Path

import rasterio
from rasterio.errors import RasterioError

from pipeline.config.schema import Config
from pipeline.errors import ConfigError, MissingArtifactError
from pipeline.models.backbones import get_backbone
from pipeline.models.weights import Weights
from pipeline.stages.ingest import cluster_points, source_of, survey_source
from pipeline.survey.recipes import survey_clusters
from pipeline.survey.tables import VECTOR_SUFFIXES, missing_backend


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
    if data.nightlights.source == "stac":  # acquired by label; validate makes no request
        pass
    elif isinstance(data.nightlights.path, str):
        probe_url(data.nightlights.path, "data.nightlights.path")
    elif not data.nightlights.path.is_file():
        raise MissingArtifactError(f"{data.nightlights.path}: file not found "
                                   "(data.nightlights.path).")
    if isinstance(data.survey.path, str):
        probe_table(data.survey.path, "data.survey.path")
    elif not data.survey.path.is_file():
        raise MissingArtifactError(f"{data.survey.path}: file not found (data.survey.path).")
    for key, path in (("data.survey.locations", data.survey.locations),
                      *((f"data.manifests[{i}]", m) for i, m in enumerate(data.manifests))):
        if path is not None and not Path(path).is_file():
            raise MissingArtifactError(f"{path}: file not found ({key}).")
    tiles = _tile_count(config)
    get_backbone(config.model.backbone)
    weights = Weights.parse(config.model.weights)
    if weights.path is not None and not weights.path.is_file():
        raise MissingArtifactError(f"{weights.path}: weights file not found (model.weights).")
    if config.model.weights_dir is not None and not config.model.weights_dir.is_dir():
        raise ConfigError(f"model.weights_dir: {config.model.weights_dir} is not a folder.")
    lights = data.nightlights
    return {"tiles": tiles, "nightlights": str(lights.path) if lights.source == "file" else
            f"stac {lights.stac.url} {lights.stac.collection} {lights.stac.datetime}",
            "survey": str(data.survey.path), "run_dir": str(config.run_dir)}


def _tile_count(config: Config) -> int:
    """Tiles of the source; for a STAC source, the grid tiles around the survey's clusters
    (no request is made: ``validate`` works offline)."""
    data = config.data
    if data.tiles.source == "stac":
        clusters, _, _ = survey_clusters(survey_source(data.survey))
        return source_of(data.tiles, cluster_points(clusters)).count()
    if not data.tiles.path.exists():
        raise MissingArtifactError(f"{data.tiles.path}: not found (data.tiles.path).")
    return source_of(data.tiles).count()


def probe_url(url: str, key: str) -> None:
    """Open the raster at ``url`` (a URL is probed by opening it, not by a file test).

    Raises:
        MissingArtifactError: it cannot be opened; the URL, GDAL's reason and the key named.
    """
    try:  # no listing of the URL's "folder" for sidecar files: one request or two
        with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"), rasterio.open(url):
            return
    except RasterioError as exc:
        reason = " ".join(str(exc).split())
        raise MissingArtifactError(f"{url}: cannot open it ({reason}); {_what_to_check(url, key)}"
                                   ) from exc


def probe_table(url: str, key: str) -> None:
    """Open the table at ``url`` as :func:`~pipeline.survey.tables.read_table` will read it, and
    read its first bytes (a vector file's metadata, a Parquet file's footer).

    Raises:
        MissingArtifactError: it cannot be opened; the URL, the reason and the key named, or
            the Python package that reads the URL's protocol (``s3fs``) when it is missing.
    """
    import urllib.request
    from urllib.parse import urlparse

    import fsspec
    import pyarrow.parquet as pq
    import pyogrio

    suffix = Path(urlparse(url).path).suffix.lower()
    try:  # http(s) as pandas reads it (urllib: fsspec's http needs aiohttp); vector files by
        # GDAL and Parquet by pyarrow, as read_table reads them (no fsspec backend for s3://)
        if url.startswith(("http://", "https://")):
            with urllib.request.urlopen(url, timeout=30) as handle:
                handle.read(1)
        elif suffix in VECTOR_SUFFIXES:
            pyogrio.read_info(url)
        elif suffix == ".parquet":
            pq.read_schema(url)
        else:
            with fsspec.open(url, "rb").open() as handle:
                handle.read(1)
    except ImportError as exc:
        raise MissingArtifactError(missing_backend(url, key)) from exc
    except (OSError, ValueError, pyogrio.errors.DataSourceError) as exc:
        reason = " ".join(str(exc).split())
        raise MissingArtifactError(f"{url}: cannot open it ({reason}); {_what_to_check(url, key)}"
                                   ) from exc


def _what_to_check(url: str, key: str) -> str:
    if url.startswith(("s3://", "/vsis3/")):
        return (f"check {key} (bucket and key), the credentials, and for a store other than AWS "
                "AWS_S3_ENDPOINT, AWS_HTTPS and AWS_VIRTUAL_HOSTING (docs/data.md).")
    return f"check {key} (and the network, or the credentials of the store)."


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
