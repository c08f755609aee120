"""The factory's DAG and the operator run by Airflow's own ``dag.test()`` against the real clusters.

The server is reached through the real SSH server (tests/conftest.py) in every run here, as a
deployment's production database would be; the target is the local cluster.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.airflow.conftest import AIRFLOW_MISSING, SKIP_REASON, task_states, xcoms
from tests.profiles import isolate_from_machine, write_config
from tests.sync_checks import assert_target_holds_source

pytestmark = [pytest.mark.airflow, pytest.mark.skipif(AIRFLOW_MISSING, reason=SKIP_REASON)]

TABLES = ["public.users", "public.stocks", "public.price_history", "public.scanner_settings"]


def test_the_factory_dag_syncs_each_table_after_its_parents_through_the_tunnel(
        airflow_env, dag_file, dbs, sshd, tmp_path, monkeypatch, capfd) -> None:
    isolate_from_machine(tmp_path, monkeypatch)
    config_path = write_config(tmp_path / "cfg", dbs, sshd)
    module = dag_file(f"""
        from dbconsole.airflow import sync_dag

        dag = sync_dag("dbconsole_tables", config_path={str(config_path)!r}, source="server", target="local",
                       tables={TABLES!r}, split="table", batch_size=100)
    """)
    dag = module.dag
    assert set(dag.task_ids) == {"sync_public.users", "sync_public.stocks", "sync_public.price_history",
                                 "sync_public.scanner_settings"}
    assert dag.get_task("sync_public.price_history").upstream_task_ids == {"sync_public.stocks"}
    assert dag.get_task("sync_public.scanner_settings").upstream_task_ids == {"sync_public.users"}
    assert dag.get_task("sync_public.users").upstream_task_ids == set()

    run = dag.test()

    assert str(run.state) == "success", task_states(run)
    assert_target_holds_source(dbs, TABLES)
    results = xcoms(run)
    history = results["sync_public.price_history"]
    assert (history["source"], history["target"]) == ("server", "local")
    assert [t["table"] for t in history["per_table"]] == ["public.price_history"]
    assert history["inserted"] > 0 and history["inserted"] == history["per_table"][0]["inserted"]
    logged = [json.loads(line[line.index("{"):line.rindex("}") + 1]) for line in capfd.readouterr().out.splitlines()
              if '"event": "table_done"' in line]
    assert {e["table"] for e in logged} == set(TABLES)  # the JSON lines of sync --json, in the task logs


def test_groups_run_as_one_task_each_and_a_saved_graph_needs_no_database(
        airflow_env, dag_file, dbs, sshd, tmp_path, monkeypatch) -> None:
    isolate_from_machine(tmp_path, monkeypatch)
    config_path = write_config(tmp_path / "cfg", dbs, sshd)
    graph_path = tmp_path / "graph.json"
    from dbconsole.airflow import graph_file_for

    graph_file_for(config_path, "server", "local", graph_path, tables=TABLES)
    saved = json.loads(graph_path.read_text())
    order = [t["name"] for t in saved["tables"]]
    assert order.index("stocks") < order.index("price_history") and order.index("users") < order.index(
        "scanner_settings")  # parents first
    assert {t["name"]: t["parents"] for t in saved["tables"]}["price_history"] == [["public", "stocks"]]
    module = dag_file(f"""
        from dbconsole.airflow import sync_dag

        dag = sync_dag("dbconsole_groups", config_path={str(config_path)!r}, source="server", target="local",
                       graph={str(graph_path)!r})
    """)
    dag = module.dag
    assert set(dag.task_ids) == {"sync_public.stocks_and_1_more", "sync_public.users_and_1_more"}
    assert all(not dag.get_task(t).upstream_task_ids for t in dag.task_ids)  # unrelated groups: side by side
    assert sorted(dag.get_task("sync_public.stocks_and_1_more").tables) == ["public.price_history", "public.stocks"]

    run = dag.test()

    assert str(run.state) == "success", task_states(run)
    assert_target_holds_source(dbs, TABLES)
    assert {t["table"] for t in xcoms(run)["sync_public.users_and_1_more"]["per_table"]} == {
        "public.users", "public.scanner_settings"}


def _conn_json(conn_type: str, **fields) -> str:
    return json.dumps({"conn_type": conn_type, **fields})


def test_the_operator_reads_both_ends_from_airflow_connections(
        airflow_env, dag_file, dbs, sshd, tmp_path, monkeypatch, capfd) -> None:
    isolate_from_machine(tmp_path, monkeypatch)
    server, local = dbs.server, dbs.local
    suffix = sshd.transport.upper()
    monkeypatch.setenv(f"AIRFLOW_CONN_PROD_PG_{suffix}", _conn_json(
        "postgres", host=server.host, port=server.port, schema=dbs.server_db, login=server.user,
        password=server.password, extra={"ssh_conn_id": f"prod_ssh_{suffix.lower()}"}))
    monkeypatch.setenv(f"AIRFLOW_CONN_PROD_SSH_{suffix}", _conn_json(
        "ssh", host=sshd.host, port=sshd.port, login=sshd.user,
        extra={"key_file": str(sshd.client_key_path), "known_hosts": str(sshd.known_hosts_path),
               "transport": sshd.transport}))
    monkeypatch.setenv(f"AIRFLOW_CONN_DEV_PG_{suffix}", _conn_json(
        "postgres", host=local.host, port=local.port, schema=dbs.local_db, login=local.user, password=local.password))
    module = dag_file(f"""
        from airflow.sdk import DAG
        from dbconsole.airflow import DbconsoleSyncOperator

        with DAG("dbconsole_connections") as dag:
            DbconsoleSyncOperator(task_id="users", source_conn_id="prod_pg_{suffix.lower()}",
                                  target_conn_id="dev_pg_{suffix.lower()}", tables="users,stocks",
                                  where=["users:id <= 150"], jobs=2)
    """)
    run = module.dag.test()

    assert str(run.state) == "success", task_states(run)
    summary = xcoms(run)["users"]
    assert summary["source"] == f"prod_pg_{suffix.lower()}"
    logged = capfd.readouterr()
    assert '"event": "done"' in logged.out
    assert "2 workers reading one source snapshot" in logged.out  # jobs= reaches the engine
    for secret in (server.password, local.password):
        assert secret not in logged.out and secret not in logged.err
    assert {t["table"] for t in summary["per_table"]} == {"public.users", "public.stocks"}
    with dbs.server_admin() as server_conn, dbs.local_admin() as local_conn:
        users = server_conn.execute("SELECT id, email FROM users WHERE id <= 150 ORDER BY id").fetchall()
        assert local_conn.execute("SELECT id, email FROM users WHERE id <= 150 ORDER BY id").fetchall() == users
        assert local_conn.execute("SELECT count(*) FROM users WHERE id > 150 AND id < 10000000").fetchone()[0] < (
            server_conn.execute("SELECT count(*) FROM users WHERE id > 150").fetchone()[0])


def test_a_sync_that_needs_confirmation_fails_at_once_without_retries(
        airflow_env, dag_file, dbs, sshd, tmp_path, monkeypatch, capfd) -> None:
    isolate_from_machine(tmp_path, monkeypatch)
    config_path = write_config(tmp_path / "cfg", dbs, sshd)
    from tests.sync_checks import table_checksum

    with dbs.local_admin() as local:
        before = table_checksum(local, "public.stocks")
    module = dag_file(f"""
        from datetime import timedelta
        from airflow.sdk import DAG
        from dbconsole.airflow import DbconsoleSyncOperator

        with DAG("dbconsole_confirm") as dag:
            DbconsoleSyncOperator(task_id="replace_stocks", config_path={str(config_path)!r}, source="server",
                                  target="local", tables=["stocks"], mode="replace", retries=3,
                                  retry_delay=timedelta(0))
            DbconsoleSyncOperator(task_id="into_read_only", config_path={str(config_path)!r}, source="local",
                                  target="server", tables=["stocks"], confirm_target="server", retries=3,
                                  retry_delay=timedelta(0))
    """)
    run = module.dag.test()

    states = task_states(run)
    assert states["replace_stocks"] == ("failed", 1)  # a refusal is not retried
    assert states["into_read_only"] == ("failed", 1)  # confirm_target does not make a read-only profile writable
    out = capfd.readouterr().out
    assert "needs confirm_target='local' (mode replace deletes target rows)" in out
    assert "server is read-only: dbconsole never writes to it" in out
    with dbs.local_admin() as local:
        assert table_checksum(local, "public.stocks") == before
