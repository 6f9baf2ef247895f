"""The fold-internal preprocessing and the ridge as scikit-learn estimators.

:class:`FoldPreprocessor` (a transformer) and :class:`PovertyRidge` (a regressor) follow
scikit-learn's contract: the constructor only stores parameters, ``fit`` learns and returns
``self``, learned state ends in ``_``, ``get_params``/``set_params``/``clone`` work. So
``cross_val_predict``, ``permutation_importance``, pipelines and conformal libraries can take
them. The work is done by :mod:`pipeline.evaluation.preprocess` and
:mod:`pipeline.evaluation.ridge` (alpha by one SVD per inner fold over all alphas at once, or by
leave-one-out); fitted models are saved with :meth:`PovertyRidge.to_dict` as JSON, never
pickled.

``PovertyRidge.fit`` takes ``groups`` (the spatial block of each row) for the grouped choice of
alpha, and ``sample_weight``; with ``cross_val_predict(..., params={"groups": blocks})``
scikit-learn hands each fold the groups of its own training rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from pipeline.evaluation.preprocess import Preprocessor
from pipeline.evaluation.ridge import RidgeModel, fit_ridge
from pipeline.evaluation.settings import DEFAULT_ALPHAS


class FoldPreprocessor(TransformerMixin, BaseEstimator):
    """Fill, log1p of skewed columns, drop unsupported columns, clip, standardise.

    Args:
        log_skewed: replace non-negative right-skewed columns by log1p of themselves.
        clip: clip transformed rows to the training range (False for distances, as the OOD
            check needs).
    """

    def __init__(self, log_skewed: bool = True, clip: bool = True):
        self.log_skewed = log_skewed
        self.clip = clip

    def fit(self, X: Any, y: Any = None) -> FoldPreprocessor:
        x = validate_data(self, X, ensure_all_finite="allow-nan", dtype=np.float64)
        self.prep_ = Preprocessor.fit(x, self.log_skewed)
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "prep_")
        x = validate_data(self, X, reset=False, ensure_all_finite="allow-nan", dtype=np.float64)
        return self.prep_.transform(x, clip=self.clip)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


class PovertyRidge(RegressorMixin, BaseEstimator):
    """:class:`FoldPreprocessor` then ridge, alpha chosen on the training rows only.

    Args:
        alphas: the penalties to choose from.
        log_skewed: see :class:`FoldPreprocessor`.

    Attributes:
        model_: the fitted :class:`~pipeline.evaluation.ridge.RidgeModel`.
        alpha_, coef_, intercept_: the chosen penalty and the coefficients on the
            standardised kept columns (``model_.prep.keep``).
    """

    def __init__(self, alphas: Sequence[float] = DEFAULT_ALPHAS, log_skewed: bool = True):
        self.alphas = alphas
        self.log_skewed = log_skewed

    def fit(self, X: Any, y: Any, sample_weight: Any = None, groups: Any = None) -> PovertyRidge:
        """Fit on rows ``X`` (n, d), target ``y`` (n,); ``groups`` (n,): spatial blocks for
        the grouped choice of alpha (None: leave-one-out); ``sample_weight`` (n,)."""
        x, target = validate_data(self, X, y, ensure_all_finite="allow-nan", dtype=np.float64,
                                  y_numeric=True)
        weight = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        self.model_ = fit_ridge(x, target, tuple(self.alphas), self.log_skewed,
                                None if groups is None else np.asarray(groups), weight)
        self._learned()
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        x = validate_data(self, X, reset=False, ensure_all_finite="allow-nan", dtype=np.float64)
        return self.model_.predict(x)

    def to_dict(self) -> dict[str, Any]:
        """The fitted model as JSON-ready values (see :meth:`from_dict`)."""
        check_is_fitted(self, "model_")
        return {**self.model_.to_dict(), "n_features_in": int(self.n_features_in_)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], alphas: Sequence[float] = DEFAULT_ALPHAS,
                  log_skewed: bool = True) -> PovertyRidge:
        """A fitted estimator from :meth:`to_dict` (or a ``model.json`` entry)."""
        est = cls(alphas, log_skewed)
        est.model_ = RidgeModel.from_dict(data)
        est.n_features_in_ = int(data.get("n_features_in", data.get("feature_dim", 0)) or
                                 (max(est.model_.prep.keep) + 1 if est.model_.prep.keep else 0))
        est._learned()
        return est

    def _learned(self) -> None:
        self.alpha_ = self.model_.alpha
        self.coef_ = np.asarray(self.model_.coef)
        self.intercept_ = self.model_.intercept

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
