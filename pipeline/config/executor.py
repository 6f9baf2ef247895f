"""The ``executor`` section: where per-shard work runs. Changing it reruns nothing."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from pipeline.config.base import COSMETIC, Section


class LocalExecutor(Section):
    """Per-shard work in this process; a failed shard is tried ``retries`` more times."""

    kind: Literal["local"] = Field("local", description=(
        "`local`: per-shard work in this process; `dask`: on a dask.distributed cluster. "
        "Either gives the same outputs, so changing the executor reruns nothing."))
    retries: int = Field(2, ge=0, le=20, json_schema_extra=COSMETIC, description=(
        "Further attempts of a failed shard before it is recorded as failed."))


class DaskExecutor(Section):
    """Per-shard work on dask.distributed: ``address`` of a scheduler, or None for a LocalCluster."""

    kind: Literal["dask"] = Field(description=(
        "`dask`: one task per shard of ingest, label, extract and predict on a dask.distributed "
        "cluster; the run directory and data must be on a filesystem every worker mounts at "
        "the same path."))
    address: str | None = Field(None, description=(
        "Scheduler address, e.g. `tcp://scheduler:8786`; null starts a `LocalCluster` on this "
        "machine."))
    retries: int = Field(2, ge=0, le=20, json_schema_extra=COSMETIC, description=(
        "Further attempts of a failed shard before it is recorded as failed."))
    workers: int = Field(2, ge=1, json_schema_extra=COSMETIC, description=(
        "LocalCluster only: worker processes."))
    threads_per_worker: int = Field(1, ge=1, json_schema_extra=COSMETIC, description=(
        "LocalCluster only: threads in each worker; each worker's TensorFlow and BLAS get that "
        "many threads."))


ExecutorConfig = Annotated[LocalExecutor | DaskExecutor, Field(discriminator="kind")]
"""The ``executor`` section: a local or a Dask executor, chosen by ``kind``."""
