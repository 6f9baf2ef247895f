"""The ``predict`` section: the neighbourhood averaged around every tile when mapping."""

from __future__ import annotations

from pydantic import Field

from pipeline.config.base import Section


class PredictConfig(Section):
    """How the fitted model is applied around every tile of the region."""

    radius_km: float | None = Field(None, gt=0, le=50, description=(
        "Radius in kilometres of the neighbourhood averaged around each tile when mapping "
        "(default: `aggregate.radius_km`, or its `box_km` box when that is set). When set, a "
        "radius is used even where `aggregate.box_km` is."))
