"""A model bundle's folder, its checksum manifest, and opening it (verified).

Layout (every file listed in ``checksums.json`` with its sha256; no pickle anywhere)::

    checksums.json       format_version, package_version, files: {name: sha256}
    bundle.json          what prediction needs: targets, feature mode, tile preprocessing,
                         neighbourhood, tile weighting, the training run's name, fingerprints,
                         extent and versions
    network.keras        the fine-tuned network (loaded with ``safe_mode=True``)
    models.json          per target: the ridge model, its preprocessing, the conformal interval
                         and the out-of-distribution reference (the run's ``fit/model.json``)
    scaling.json         the per-band pixel scaling of the training tiles
    training_config.yaml the training run's resolved config
    MODEL_CARD.md, model_card.json

:func:`open_bundle` reads ``checksums.json`` first: a format this version cannot read is refused
naming both versions; then every listed file must be present and hash to its recorded sha256.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from pipeline.errors import InputDataError, MissingArtifactError

FORMAT_VERSION = 1
"""Bumped when a bundle's layout or meaning changes; :func:`open_bundle` reads only this one."""

CHECKSUMS = "checksums.json"
INFO = "bundle.json"
NETWORK = "network.keras"
MODELS = "models.json"
SCALING = "scaling.json"
TRAINING_CONFIG = "training_config.yaml"
CARD_MD = "MODEL_CARD.md"
CARD_JSON = "model_card.json"
FILES = (INFO, NETWORK, MODELS, SCALING, TRAINING_CONFIG, CARD_MD, CARD_JSON)


def sha256(path: Path) -> str:
    """The hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checksums(folder: Path, package_version: str) -> Path:
    """Write ``checksums.json`` listing every file of :data:`FILES` in ``folder``."""
    record = {"format_version": FORMAT_VERSION, "package_version": package_version,
              "files": {name: sha256(folder / name) for name in FILES}}
    path = folder / CHECKSUMS
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class Bundle:
    """An opened, verified bundle.

    Attributes:
        path: the bundle folder.
        format_version, package_version: from ``checksums.json``.
        digest: sha256 of ``checksums.json`` (identifies the bundle's whole content).
    """

    path: Path
    format_version: int
    package_version: str
    digest: str

    def file(self, name: str) -> Path:
        return self.path / name

    @cached_property
    def info(self) -> dict[str, Any]:
        """``bundle.json``."""
        return json.loads(self.file(INFO).read_text(encoding="utf-8"))

    @cached_property
    def models(self) -> dict[str, dict[str, Any]]:
        """``models.json``: per target, the saved ridge model with interval and OOD reference."""
        return json.loads(self.file(MODELS).read_text(encoding="utf-8"))

    @property
    def network(self) -> Path:
        return self.file(NETWORK)

    @property
    def scaling(self) -> Path:
        return self.file(SCALING)

    @property
    def tiles(self) -> dict[str, Any]:
        """The tile preprocessing: bands, tile_size_px, resolution_m, scaling method."""
        return self.info["tiles"]

    def files(self) -> list[Path]:
        """Every file of the bundle (what a stage reading it depends on)."""
        return [self.file(CHECKSUMS), *(self.file(name) for name in FILES)]


def bundle_files(path: Path | None) -> list[Path]:
    """The files in a bundle folder without opening it (what a stage reading it depends on;
    none when ``path`` is None or absent, and opening it then fails with the reason)."""
    return [] if path is None else sorted(p for p in Path(path).glob("*") if p.is_file())


def open_bundle(path: Path | str, reader_version: str) -> Bundle:
    """Open the bundle at ``path`` after checking its format and every file's checksum.

    Args:
        path: the bundle folder.
        reader_version: this poverty-pipeline's version (named when the format is refused).

    Raises:
        MissingArtifactError: no such folder, no ``checksums.json``, or a listed file missing.
        InputDataError: a format this version cannot read (both versions named), or a file
            whose sha256 differs from the recorded one (changed or corrupted).
    """
    folder = Path(path)
    manifest_path = folder / CHECKSUMS
    if not manifest_path.is_file():
        raise MissingArtifactError(
            f"{folder}: not a model bundle ({CHECKSUMS} not found). Make one from a finished "
            "run with `poverty-pipeline bundle RUN_DIR OUT`.")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        version, made_by = int(manifest["format_version"]), str(manifest["package_version"])
        recorded = dict(manifest["files"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputDataError(f"{manifest_path}: unreadable bundle manifest ({exc}); repack the "
                             "bundle from its run.") from exc
    _check_version(folder, version, made_by, reader_version)
    missing = [name for name in recorded if not (folder / name).is_file()]
    if missing:
        raise MissingArtifactError(f"{folder}: bundle file(s) missing: {', '.join(missing)}. "
                                   "The bundle is incomplete; copy it again or repack it.")
    changed = [name for name, digest in recorded.items() if sha256(folder / name) != digest]
    if changed:
        raise InputDataError(
            f"{folder}: checksum mismatch in {', '.join(changed)} (the file differs from the one "
            f"packed; corrupted or edited). Copy the bundle again or repack it from its run.")
    return Bundle(folder, version, made_by, sha256(manifest_path))


def _check_version(folder: Path, version: int, made_by: str, mine: str) -> None:
    if version == FORMAT_VERSION:
        return
    if version > FORMAT_VERSION:
        raise InputDataError(
            f"{folder}: bundle format {version} (written by poverty-pipeline {made_by}) is newer "
            f"than this poverty-pipeline {mine} reads (format {FORMAT_VERSION}). Upgrade "
            f"poverty-pipeline to {made_by} or later.")
    raise InputDataError(
        f"{folder}: bundle format {version} (written by poverty-pipeline {made_by}) is older "
        f"than this poverty-pipeline {mine} reads (format {FORMAT_VERSION}). Repack it from its "
        "run with `poverty-pipeline bundle RUN_DIR OUT`.")
