"""The typed run config: one pydantic model per config section, loaded once from YAML.

One module per section (:mod:`~pipeline.config.data`, :mod:`~pipeline.config.survey`,
:mod:`~pipeline.config.labels`, :mod:`~pipeline.config.model`, :mod:`~pipeline.config.features`,
:mod:`~pipeline.config.baselines`, :mod:`~pipeline.config.aggregate`,
:mod:`~pipeline.config.regression`, :mod:`~pipeline.config.predict`,
:mod:`~pipeline.config.export`, :mod:`~pipeline.config.executor`), all built on
:mod:`~pipeline.config.base`. :mod:`~pipeline.config.schema` holds the root :class:`Config` and
loading, and re-exports every section; :mod:`~pipeline.config.reference` turns the field
descriptions into ``docs/configuration.md``, the JSON Schema and ``init``'s comments.
"""
