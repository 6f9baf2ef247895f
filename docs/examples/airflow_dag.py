"""Airflow DAG: one task per pipeline stage, each calling the poverty-pipeline CLI.

Every task of a DAG run writes the same run directory (``--run-id malawi-<logical time>``, beside
the config's ``run_dir``) and runs the pipeline ``--until`` its stage: the stages before it are
already done and are skipped, so each task does its own stage's work only. A retried task
resumes: finished shards of a per-tile stage are kept. The per-tile stages go to a Dask
cluster (``--executor dask``); ``train`` runs in its own task, which can be routed to a GPU
worker with Airflow's ``queue``.

Put this file in the DAGs folder. Airflow's workers need the ``poverty-pipeline`` command and the
same view of the data and run directories (a shared filesystem) as the Dask workers.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator

CONFIG = "/srv/poverty/configs/malawi.yaml"
RUN_ID = "malawi-{{ ts_nodash }}"
STAGES = ["ingest", "label", "train", "extract", "baselines", "aggregate", "fit", "predict",
          "export"]
PER_TILE = {"ingest", "label", "extract", "predict"}
COMMAND = "poverty-pipeline run {config} --run-id {run_id} --until {stage} --quiet"
DASK = " --executor dask --dask-address {{ var.value.poverty_dask_scheduler }}"


def command(stage: str) -> str:
    """The CLI call of one stage's task (Jinja-templated by Airflow)."""
    line = COMMAND.format(config=CONFIG, run_id=RUN_ID, stage=stage)
    return line + DASK if stage in PER_TILE else line


with DAG(
    dag_id="poverty_malawi",
    schedule="0 2 * * 1",
    start_date=datetime(2025, 1, 6),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=10)},
    tags=["poverty-pipeline"],
) as dag:
    previous = None
    for stage in STAGES:
        task = BashOperator(
            task_id=stage,
            bash_command=command(stage),
            queue="gpu" if stage == "train" else "default",
        )
        if previous is not None:
            previous >> task
        previous = task
