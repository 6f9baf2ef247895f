"""Airflow DAG, yearly: map the year's imagery with a model bundle, then the change since last year.

``predict`` runs a prediction run (ingest -> extract -> predict -> export with the bundle, no
survey; per-tile work on the Dask cluster); ``change`` compares its map with last year's, cell
by cell. Both tasks are plain CLI calls; a retried ``predict`` resumes. See docs/bundles.md.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator

BUNDLE = "/srv/poverty/bundles/malawi-2024"
YEAR = "{{ data_interval_end.year }}"
LAST = "{{ data_interval_end.year - 1 }}"
RUNS = "/srv/poverty/runs"
PREDICT = (f"poverty-pipeline predict {BUNDLE} --tiles /srv/poverty/imagery/{YEAR} "
           f"--out {RUNS}/malawi-map-{YEAR} --name malawi-map-{YEAR} --quiet "
           "--executor dask --dask-address {{ var.value.poverty_dask_scheduler }}")
CHANGE = (f"poverty-pipeline change {RUNS}/malawi-map-{LAST} {RUNS}/malawi-map-{YEAR} "
          f"--out {RUNS}/malawi-change-{YEAR}")

with DAG(
    dag_id="poverty_malawi_yearly_map",
    schedule="0 3 1 2 *",
    start_date=datetime(2025, 2, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=10)},
    tags=["poverty-pipeline"],
) as dag:
    predict = BashOperator(task_id="predict", bash_command=PREDICT)
    change = BashOperator(task_id="change", bash_command=CHANGE)
    predict >> change
