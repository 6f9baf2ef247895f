"""The evaluation's settings as plain values (the ``regression`` section, without pydantic).

The ``fit`` stage and ``fit-features`` build one from their configuration; everything in
:mod:`pipeline.evaluation` reads this, never the config models.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

DEFAULT_ALPHAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6)
WEIGHTS = ("none", "survey", "households")
INTERVALS = ("cv_plus", "normalised")


@dataclass(frozen=True)
class CvSettings:
    """How to cross-validate, score and fit (see ``regression`` in the configuration docs).

    Attributes:
        alphas: ridge penalties to choose from.
        folds: outer CV folds.
        schemes: CV schemes to run (``random``, ``spatial``, ``country``).
        spatial_block_km, buffer_km: spatial blocks and the buffer around test clusters.
        poor_percentiles: the ``below_pNN`` subsets.
        log_skewed: log1p of right-skewed feature columns inside each fold.
        bootstrap: cluster resamples for the r² intervals (0: none).
        interval_coverage: nominal coverage of the prediction intervals (1 - alpha).
        ood_quantile: quantile of training nearest-neighbour distances for the OOD flag.
        weights: ``none``, ``survey`` or ``households``: cluster weights in fit and metrics.
        interval: the interval the saved model carries (``cv_plus`` or ``normalised``).
    """

    alphas: tuple[float, ...] = DEFAULT_ALPHAS
    folds: int = 5
    schemes: tuple[str, ...] = ("random", "spatial", "country")
    spatial_block_km: float = 10.0
    buffer_km: float = 0.0
    poor_percentiles: tuple[float, ...] = (10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0)
    log_skewed: bool = True
    bootstrap: int = 1000
    interval_coverage: float = 0.9
    ood_quantile: float = 0.99
    weights: str = "none"
    interval: str = "cv_plus"

    @classmethod
    def of(cls, section: Any, **changes: Any) -> CvSettings:
        """The settings from any object with these attributes (the ``regression`` section)."""
        values = {f.name: getattr(section, f.name) for f in fields(cls) if hasattr(section, f.name)}
        return cls(**{**values, **changes})

    def replace(self, **changes: Any) -> CvSettings:
        return CvSettings(**{**{f.name: getattr(self, f.name) for f in fields(self)}, **changes})
