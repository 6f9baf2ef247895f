"""The ``labels`` section: how each tile's night-time light becomes the class it is trained on."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from pipeline.config.base import Section


class LabelsConfig(Section):
    """Nightlight intensity classes, the proxy label the network is fine-tuned on."""

    method: Literal["gmm", "quantile", "fixed"] = Field("gmm", description=(
        "`gmm`: a Gaussian mixture on log(1 + radiance), as in Jean et al. `quantile`: classes "
        "as equal in count as ties allow (tiles of equal radiance, such as the many dark tiles "
        "at 0, share one class). `fixed`: the boundaries in `thresholds`. A class left without "
        "tiles stops the label stage, naming the class counts and what to change."))
    n_classes: int = Field(3, ge=2, le=5, description="Number of nightlight classes.")
    thresholds: tuple[float, ...] | None = Field(None, description=(
        "Method `fixed` only: `n_classes - 1` strictly ascending radiance values (in the "
        "raster's units) at the class boundaries."))
    balance: bool = Field(False, description=(
        "Subsample the dark class (0), at random with the run's seed, to at most "
        "`max_dark_ratio` times the largest other class, as Jean et al. did; the choice is the "
        "`train_ok` column of `label/labels.parquet`."))
    max_dark_ratio: float = Field(1.0, gt=0, description=(
        "With `balance`: the most dark tiles kept, as a multiple of the largest other class."))
    max_year_gap: int = Field(2, ge=0, description=(
        "Warn (in `run.log`, `label/bins.json` and the manifest count `temporal_warnings`) when "
        "the years of tiles, nightlights and survey differ by more than this many years."))
    context_km: float | None = Field(None, gt=0, le=50, description=(
        "When set, the label is the mean light of a square of this side in kilometres (on the "
        "ellipsoid: exact at the equator, within 1% up to 60 degrees) centred on the tile, not "
        "of the tile itself: a proxy that still varies between dark tiles near a town and far "
        "from one. The column `label_radiance` holds it; `radiance_mean` stays the tile's own "
        "light (the nightlight baselines use that)."))

    @model_validator(mode="after")
    def _thresholds_fit(self) -> LabelsConfig:
        if self.method != "fixed":
            if self.thresholds is not None:
                raise ValueError("labels.thresholds: only used with labels.method: fixed")
            return self
        t = self.thresholds
        if t is None or len(t) != self.n_classes - 1:
            raise ValueError(f"labels.thresholds: method fixed needs n_classes - 1 = "
                             f"{self.n_classes - 1} ascending radiance values; got {t}")
        if any(b <= a for a, b in zip(t, t[1:])):
            raise ValueError(f"labels.thresholds: must be strictly ascending; got {list(t)}")
        return self
