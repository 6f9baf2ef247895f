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


class Section(BaseModel):
    """A config section: frozen, and unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)
