"""Find the file holding a backbone's initial weights (config key ``model.weights``).

``model.weights`` is ``"imagenet"``, ``"none"`` or the path of a weights file, parsed once into a
:class:`Weights`. ``"imagenet"`` is looked up, in order, in the pipeline's weights directory
(``model.weights_dir``), in the Keras cache (``$KERAS_HOME/models``, else ``~/.keras/models``,
as Keras computes it) and only then downloaded with ``keras.utils.get_file`` into that cache. File names are the ones ``keras.applications`` uses
(see :meth:`pipeline.models.backbones.BackboneSpec.weights_filename`), so a file Keras downloaded
earlier is reused, and an offline machine only needs that one file placed in the weights directory.
For backbones with size-specific files (MobileNet at 128/160/192 px), a local default-size (224 px)
file is used when the size-specific one is nowhere local, before any download.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pipeline.errors import MissingArtifactError
from pipeline.models.backbones import BackboneSpec

if TYPE_CHECKING:  # TensorFlow takes seconds to load: imported where used
    import keras

_LOG = logging.getLogger(__name__)
WEIGHTS_DIR_ENV = "POVERTY_PIPELINE_WEIGHTS_DIR"
"""Environment variable giving the weights directory when ``model.weights_dir`` is not set."""


@dataclass(frozen=True)
class Weights:
    """A backbone's initial weights: ImageNet's, none (random initialisation), or a file.

    Attributes:
        kind: ``"imagenet"``, ``"none"`` or ``"file"``.
        path: the weights file (``"file"`` only).
    """

    kind: Literal["imagenet", "none", "file"]
    path: Path | None = None

    @classmethod
    def parse(cls, value: str | Path) -> Weights:
        """``"imagenet"`` or ``"none"`` (any case, spaces around ignored), else a file path."""
        keyword = str(value).strip().lower()
        if keyword in ("imagenet", "none"):
            return cls(keyword)  # type: ignore[arg-type]
        return cls("file", Path(value))

    def files(self) -> list[Path]:
        """The user's weights file, if any (it keys the fingerprints of the stages using it)."""
        return [] if self.path is None else [self.path]

    def __str__(self) -> str:
        return str(self.path) if self.path is not None else self.kind


def default_keras_cache_dir() -> Path:
    """The folder ``keras.utils.get_file(..., cache_subdir="models")`` uses by default.

    Keras reads ``$KERAS_HOME`` (default ``~/.keras``) when it is first imported and falls back to
    ``/tmp/.keras`` when that folder is not writable; this mirrors it.
    """
    from keras.src.backend import config as keras_backend_config

    base = os.path.expanduser(keras_backend_config.keras_home())
    if not os.access(base, os.W_OK):
        base = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    return Path(base) / "models"


def _download(filename: str, url: str, cache_dir: Path) -> Path:
    """Download ``url`` into ``cache_dir/filename`` with Keras (tests patch this function)."""
    import keras

    path = keras.utils.get_file(
        filename, url, cache_dir=str(cache_dir.parent), cache_subdir=cache_dir.name
    )
    return Path(path)


def resolve_weights(
    spec: BackboneSpec,
    weights: Weights,
    input_px: int,
    weights_dir: Path | None,
    keras_cache_dir: Path | None = None,
    download: bool = True,
) -> Path | None:
    """Return the weights file to initialise ``spec``'s backbone from.

    Args:
        spec: The backbone (from :func:`pipeline.models.backbones.get_backbone`).
        weights: ImageNet's, none (random initialisation) or a weights file.
        input_px: Input side length in pixels; picks the file for size-specific weights.
        weights_dir: Folder searched first for ImageNet files (config ``model.weights_dir``).
        keras_cache_dir: The Keras cache folder; ``None`` means :func:`default_keras_cache_dir`.
        download: Whether to download the file when neither folder has it.

    Returns:
        The path of the weights file, or ``None`` for ``"none"``.

    Raises:
        MissingArtifactError: The given path does not exist, or the ImageNet file is in neither
            folder and could not be downloaded; the message says which file to place where.
    """
    if weights.kind == "none":
        return None
    if weights.path is not None:
        return _existing_path(weights.path)
    cache_dir = Path(keras_cache_dir) if keras_cache_dir is not None else default_keras_cache_dir()
    folders = [Path(weights_dir)] if weights_dir is not None else []
    found = _find_local(spec, input_px, [*folders, cache_dir])
    if found is not None:
        return found
    if not download:
        raise _not_found(spec, input_px, weights_dir, cache_dir, "download is disabled")
    try:
        return _download(spec.weights_filename(input_px), spec.weights_url(input_px), cache_dir)
    # keras.utils.get_file raises a bare Exception for network errors, ValueError on bad hashes.
    except Exception as exc:  # noqa: BLE001
        reason = f"the download failed ({type(exc).__name__}: {exc})"
        raise _not_found(spec, input_px, weights_dir, cache_dir, reason) from exc


def _find_local(spec: BackboneSpec, input_px: int, folders: list[Path]) -> Path | None:
    """The file for ``input_px`` in the first folder that has it, else the default-size file.

    Some backbones (MobileNet, MobileNetV2) have weights trained at several input sizes, all of
    the same shapes; when only the default-size file is at hand, it is used rather than
    downloading, as Keras itself does for input sizes it has no file for.
    """
    exact = spec.weights_filename(input_px)
    default = spec.weights_filename(spec.default_input_px)
    for filename in dict.fromkeys([exact, default]):
        for folder in folders:
            if (folder / filename).is_file():
                if filename != exact:
                    _LOG.warning("no %s found; using %s from %s", exact, filename, folder)
                return folder / filename
    return None


def _existing_path(path: Path) -> Path:
    if path.is_file():
        return path
    raise MissingArtifactError(
        f"model.weights: weights file {str(path)!r} does not exist. Give the path of an existing "
        "weights file, or 'imagenet' or 'none'."
    )


def _not_found(
    spec: BackboneSpec, input_px: int, weights_dir: Path | None, cache_dir: Path, reason: str
) -> MissingArtifactError:
    filename = spec.weights_filename(input_px)
    searched = [str(folder / filename) for folder in (weights_dir, cache_dir) if folder is not None]
    default = spec.weights_filename(spec.default_input_px)
    also = f" (nor is the {spec.default_input_px} px file {default})" if default != filename else ""
    target = str(weights_dir) if weights_dir is not None else "a folder of your choice"
    return MissingArtifactError(
        f"ImageNet weights for backbone {spec.name!r} not found: {filename} is not at "
        f"{' or '.join(searched)}{also}, and {reason}. Fix: download {spec.weights_url(input_px)} "
        f"and place it as {filename} in the weights directory ({target}; config key "
        f"model.weights_dir or environment variable {WEIGHTS_DIR_ENV}), or in the Keras cache "
        f"{cache_dir}; or set model.weights: none to train from random initialisation."
    )
