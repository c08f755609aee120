"""Airflow for the tests: a throwaway AIRFLOW_HOME with a SQLite metadata DB, and DAG files in it.

Why no import of airflow at collection: Airflow reads its configuration (AIRFLOW_HOME, the
metadata DB) once, at its first import, and sets up logging of its own. The environment is set
here first, in the session fixture, and only then is airflow imported, so a default test run
(which deselects the ``airflow`` marker) never loads it. ``dag.test()`` runs a DAG only once its
file sits in the DAG folder (Airflow serializes it from there), so :func:`dag_file` writes the
file a test builds and imports the module from it.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

AIRFLOW_MISSING = importlib.util.find_spec("airflow") is None
SKIP_REASON = "apache-airflow is not installed: pip install -e '.[test,airflow]', then pytest -m airflow tests/airflow"


@dataclass
class AirflowEnv:
    home: Path
    dags: Path


@pytest.fixture(scope="session")
def airflow_env() -> Iterator[AirflowEnv]:
    """AIRFLOW_HOME in a temp dir, its metadata DB migrated, airflow imported (once per session)."""
    if AIRFLOW_MISSING:
        pytest.skip(SKIP_REASON)
    with tempfile.TemporaryDirectory(prefix="dbconsole-airflow-") as folder:
        home = Path(folder) / "home"
        dags = home / "dags"
        dags.mkdir(parents=True)
        settings = {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        }
        previous = {name: os.environ.get(name) for name in settings}
        os.environ.update(settings)
        try:
            migrated = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True,
                                      text=True, timeout=300)
            assert migrated.returncode == 0, migrated.stdout[-2000:] + migrated.stderr[-2000:]
            import airflow  # noqa: F401  (configured now, from the variables above)

            yield AirflowEnv(home, dags)
        finally:
            for name, value in previous.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@pytest.fixture
def dag_file(airflow_env: AirflowEnv) -> Iterator[Callable[[str], Any]]:
    """Write a DAG file's source into the DAG folder and return the imported module (removed after)."""
    written: list[Path] = []

    def write(source: str) -> Any:
        name = f"dbconsole_test_{secrets.token_hex(4)}"
        path = airflow_env.dags / f"{name}.py"
        path.write_text(textwrap.dedent(source), encoding="utf-8")
        written.append(path)
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    yield write
    for path in written:
        path.unlink(missing_ok=True)


def xcoms(dag_run: Any) -> dict[str, Any]:
    """Each task's return value in ``dag_run``, read back from the metadata DB."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter(XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id,
                                               XComModel.key == "return_value").all()
        return {row.task_id: XComModel.deserialize_value(row) for row in rows}


def task_states(dag_run: Any) -> dict[str, tuple[str, int]]:
    """task id -> (final state, the try it ended on)."""
    return {ti.task_id: (str(ti.state), ti.try_number) for ti in dag_run.get_task_instances()}
