"""A nightly copy of production into staging, one Airflow task per FK-connected group of tables.

Copy this file into your DAG folder and set the two paths below (or the environment variables).
The config is an ordinary dbconsole.toml: ``prod`` read-only behind its SSH bastion, ``staging``
writable; its ``[sync]`` rules (masks for personal data, per-table modes) apply to every task.
See README.md beside this file.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from dbconsole.airflow import sync_dag

CONFIG = os.environ.get("DBCONSOLE_CONFIG", "/opt/dbconsole/dbconsole.toml")
# Written once by a deploy step (see README.md); without it, every parse of this file reads both
# catalogs through the tunnel.
GRAPH = os.environ.get("DBCONSOLE_GRAPH", "/opt/dbconsole/prod-graph.json")

dag = sync_dag(
    "dbconsole_prod_to_staging",
    config_path=CONFIG,
    source="prod",
    target="staging",
    exclude=["public.audit_log"],
    graph=GRAPH if Path(GRAPH).exists() else None,
    split="group",  # one snapshot per FK-connected group; "table" only for a source that is quiet during the run
    confirm_target="staging",  # staging is not a local database: the DAG says so explicitly
    schedule="0 3 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 3, "retry_delay": timedelta(minutes=2)},  # a retry resumes from the checkpoint
    tags=["dbconsole"],
)
