"""Evaluation that cannot fool its users: CV folds, baselines, metrics, intervals, plots.

- :mod:`~pipeline.evaluation.light_classes`: the nightlight intensity classes the network is
  fine-tuned on (thresholds, classes, balancing).
- :mod:`~pipeline.evaluation.folds`: random, spatial (blocks, optional buffer) and
  leave-one-country-out folds.
- :mod:`~pipeline.evaluation.preprocess`: the feature preprocessing fitted inside each fold.
- :mod:`~pipeline.evaluation.predictors`: the model and baselines as out-of-fold predictors.
- :mod:`~pipeline.evaluation.metrics`: R², Pearson r², RMSE, Spearman, bootstrap intervals.
- :mod:`~pipeline.evaluation.evaluate`: every predictor x scheme x subset on the same folds.
- :mod:`~pipeline.evaluation.conformal`: split-conformal intervals and the out-of-distribution
  flag.
- :mod:`~pipeline.outputs.evaluation_figures`: predicted vs observed, r² vs poverty percentile, nightlights.
- :mod:`~pipeline.evaluation.table`: fitting a cluster feature table a user brings.
- :mod:`~pipeline.evaluation.apply`: applying saved models to new feature rows (map tiles, or a
  table a user brings).
"""
