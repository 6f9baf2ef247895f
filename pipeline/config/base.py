"""Building blocks of the typed config: the frozen section base and config-relative paths.

Kept apart from :mod:`pipeline.config.schema` so that section models can live in their own modules
(:mod:`pipeline.config.data`) without an import cycle.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo

COSMETIC = {"cosmetic": True}


def _resolve(value: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir")
    if base is not None and not value.is_absolute():
        value = Path(base) / value
    return Path(os.path.normpath(value))


RelPath = Annotated[Path, AfterValidator(_resolve)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
