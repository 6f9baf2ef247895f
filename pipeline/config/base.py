"""What every config section is built on: the frozen section base and config-relative paths.

Each section module imports only this one, and :mod:`pipeline.config.schema` imports the sections,
so the package has no import cycle.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo

COSMETIC = {"cosmetic": True}
"""``json_schema_extra`` of a field that changes how a stage runs, not what it produces: such
fields are left out of stage fingerprints, so changing one reruns nothing."""


def resolve_path(value: Path, info: ValidationInfo) -> Path:
    """``value`` joined to the config file's folder (``base_dir`` of the validation context)."""
    base = (info.context or {}).get("base_dir")
    if base is not None and not value.is_absolute():
        value = Path(base) / value
    return Path(os.path.normpath(value))


RelPath = Annotated[Path, AfterValidator(resolve_path)]
"""A path in the config: relative paths are taken from the config file's folder."""

URL_PREFIXES = ("http://", "https://", "s3://", "gs://", "az://", "/vsicurl/", "/vsis3/",
                "/vsigs/", "/vsiaz/", "/vsicurl_streaming/")
"""Locations kept as written (GDAL reads them through its virtual file systems)."""


def is_url(value: object) -> bool:
    """Whether ``value`` is a URL or a GDAL virtual-file-system path, not a local file."""
    return isinstance(value, str) and value.startswith(URL_PREFIXES)


def resolve_location(value: Path | str, info: ValidationInfo) -> Path | str:
    """A URL as written (``normpath`` would turn ``s3://b/x`` into ``s3:/b/x``); a local path
    joined to the config file's folder."""
    if is_url(value):
        return value
    return resolve_path(Path(value), info)


Location = Annotated[Path | str, AfterValidator(resolve_location)]
"""A raster in the config: a local path (relative to the config file) or a URL kept as a
string (``https://``, ``s3://``, GDAL's ``/vsicurl/``, ``/vsis3/`` ...)."""


class Section(BaseModel):
    """A config section: frozen, and unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)
