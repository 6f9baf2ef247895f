"""The ``regression`` section: the targets, the ridge penalties and how ``fit`` cross-validates."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PositiveFloat

from pipeline.config.base import Section


class TargetConfig(Section):
    """One survey outcome to fit."""

    column: str = Field(description="The outcome, one of `data.survey.outcomes`.")
    log: bool = Field(False, description=(
        "Fit log(outcome), dropping values of 0 or below (counted in `metrics.json` as "
        "`excluded`). Ingest rejects those survey rows, so changing it reruns every stage."))


class RegressionConfig(Section):
    """Ridge on the cluster features, nested cross-validation, baselines on the same folds."""

    targets: tuple[TargetConfig, ...] = Field(min_length=1, description=(
        "The outcomes fitted, each `{column, log}`."))
    alphas: tuple[PositiveFloat, ...] = Field(
        (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6), min_length=1, description=(
            "Ridge penalties tried; one is chosen inside each training fold: by leave-one-out "
            "under `random` folds, by grouped 5-fold over `spatial_block_km` blocks under "
            "`spatial` and `country` folds and for the final (map) model."))
    folds: int = Field(5, ge=2, le=50, description=(
        "Outer cross-validation folds; fit needs at least 2 usable clusters per fold."))
    schemes: tuple[Literal["random", "spatial", "country"], ...] = Field(
        ("random", "spatial", "country"), min_length=1, description=(
            "`random`: k-fold. `spatial`: folds of whole square blocks of `spatial_block_km`. "
            "`country`: leave one country out (recorded as skipped with fewer than 2 "
            "countries)."))
    spatial_block_km: float = Field(10.0, gt=0, description=(
        "Side in kilometres of the blocks of spatial CV."))
    buffer_km: float = Field(0.0, ge=0, description=(
        "Spatial CV: training clusters within this distance in kilometres of any test cluster "
        "are dropped from that fold (2 x `aggregate.radius_km` keeps test and training "
        "neighbourhoods from sharing tiles)."))
    poor_percentiles: tuple[Annotated[float, Field(gt=0, le=100)], ...] = Field(
        (10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0), description=(
            "The model and baselines are also refitted and evaluated on the clusters at or "
            "below each of these percentiles of the outcome (Jean et al., Fig. 4)."))
    baselines: tuple[Literal["nightlights", "nightlights_knn", "random_features", "imagenet",
                             "region_mean"], ...] = Field(
        ("nightlights", "nightlights_knn", "random_features", "imagenet", "region_mean"),
        description=(
            "Baselines cross-validated on the model's folds: `nightlights` (ridge on radiance), "
            "`nightlights_knn` (k-NN on log radiance), `random_features` (MOSAIKS), `imagenet` "
            "(features not fine-tuned), `region_mean` (the training mean of the district, else "
            "the country)."))
    log_skewed: bool = Field(True, description=(
        "Inside each fold, replace non-negative feature columns with skewness above 2 by "
        "log(1 + x)."))
    bootstrap: int = Field(1000, ge=0, le=100_000, description=(
        "Cluster resamples for the 95% intervals of every r² and of the model's gain over each "
        "baseline; 0: no intervals."))
    interval_coverage: float = Field(0.9, gt=0, lt=1, description=(
        "Nominal coverage (0 to 1) of the prediction intervals (docs/evaluation.md says what "
        "each method promises)."))
    ood_quantile: float = Field(0.99, gt=0, le=1, description=(
        "A place is out of distribution beyond this quantile of the training clusters' "
        "nearest-neighbour distances."))
    weights: Literal["none", "survey", "households"] = Field("none", description=(
        "Cluster weights in the ridge fit and in every metric: `none`, `survey` (the survey's "
        "sampling weight of the cluster: DHS sum of hv005/1e6, LSMS sum of weight x household "
        "size) or `households` (the households surveyed). With weights, metrics.json also gives "
        "the unweighted figures."))
    interval: Literal["cv_plus", "normalised"] = Field("cv_plus", description=(
        "The prediction interval the map and model.json carry: `cv_plus` (CV+, Barber et al. "
        "2021, one width per place from the fold models) or `normalised` (CV+ with residuals "
        "scaled by the distance to the training clusters, wider far from them). metrics.json "
        "measures every method either way."))

    @property
    def log_columns(self) -> tuple[str, ...]:
        """The outcomes of the targets fitted on a log scale (their values must be > 0)."""
        return tuple(t.column for t in self.targets if t.log)
