"""The typed run config: pydantic sections, loaded once from YAML (see :mod:`pipeline.config.schema`)."""
