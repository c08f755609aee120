"""The DAG's table graph and the factory's refusals: pure logic, no database (Airflow imported)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dbconsole.errors import ConfigError, UsageError
from dbconsole.names import TableName
from tests.airflow.conftest import AIRFLOW_MISSING, SKIP_REASON

pytestmark = [pytest.mark.airflow, pytest.mark.skipif(AIRFLOW_MISSING, reason=SKIP_REASON)]


def t(name: str) -> TableName:
    return TableName("public", name)


def test_groups_are_the_fk_connected_tables_each_in_fk_order(airflow_env) -> None:
    from dbconsole.airflow import TableGraph

    graph = TableGraph((t("stocks"), t("users"), t("sectors"), t("prices"), t("watch")),
                       {t("prices"): (t("stocks"),), t("watch"): (t("stocks"), t("users"))})
    assert graph.groups() == [(t("stocks"), t("users"), t("prices"), t("watch")), (t("sectors"),)]


def test_a_list_in_fk_order_chains_its_tables_and_folds_names_as_postgresql(airflow_env) -> None:
    from dbconsole.airflow import TableGraph

    graph = TableGraph.in_order(["Stocks", 'public."WatchList"', "analytics.daily"])
    assert graph.tables == (t("stocks"), t("WatchList"), TableName("analytics", "daily"))
    assert graph.parents == {t("WatchList"): (t("stocks"),), TableName("analytics", "daily"): (t("WatchList"),)}
    assert len(graph.groups()) == 1


def test_a_graph_file_round_trips_and_a_broken_one_is_one_clear_error(airflow_env, tmp_path: Path) -> None:
    from dbconsole.airflow import TableGraph

    graph = TableGraph((t("stocks"), t("prices")), {t("prices"): (t("stocks"),)})
    path = tmp_path / "graph.json"
    graph.save(path)
    assert TableGraph.load(path) == graph
    path.write_text(json.dumps({"version": 1, "tables": [{"schema": "public", "name": "prices",
                                                           "parents": [["public", "stocks"]]}]}))
    with pytest.raises(ConfigError, match="waits for public.stocks, which is not in the graph"):
        TableGraph.load(path)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read the table graph"):
        TableGraph.load(path)


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "dbconsole.toml"
    path.write_text('[profiles.local]\nurl = "postgresql://app@localhost/dev"\n'
                    '[profiles.server]\nurl = "postgresql://app@db.internal/prod"\n')
    return path


def test_the_factory_refuses_what_per_table_tasks_cannot_do_safely(airflow_env, config_path: Path) -> None:
    from dbconsole.airflow import sync_dag

    with pytest.raises(UsageError, match="split='table' cannot run a mode that deletes"):
        sync_dag("d1", config_path=config_path, source="server", target="local", graph=["stocks", "prices"],
                 split="table", mode="replace")
    with pytest.raises(UsageError, match="must name its table"):
        sync_dag("d2", config_path=config_path, source="server", target="local", graph=["stocks"], where=["id < 5"])
    with pytest.raises(UsageError, match="no table 'stock'"):
        sync_dag("d3", config_path=config_path, source="server", target="local", graph=["stocks"],
                 where=["stock:id < 5"])


def test_each_filter_goes_to_the_task_of_its_table_and_replace_runs_per_group(airflow_env, config_path) -> None:
    from dbconsole.airflow import sync_dag

    dag = sync_dag("d4", config_path=config_path, source="server", target="local", graph=["stocks", "prices"],
                   split="table", where=["prices:trade_date > '2026-01-01'"])
    assert dag.get_task("sync_public.prices").where == ["public.prices:trade_date > '2026-01-01'"]
    assert dag.get_task("sync_public.stocks").where == []
    assert dag.get_task("sync_public.prices").upstream_task_ids == {"sync_public.stocks"}
    grouped = sync_dag("d5", config_path=config_path, source="server", target="local", graph=["stocks", "prices"],
                       mode="replace", confirm_target="local")
    assert grouped.task_ids == ["sync_public.stocks_and_1_more"]
    assert grouped.get_task("sync_public.stocks_and_1_more").confirm_target == "local"


def test_the_example_dag_parses_into_group_tasks(airflow_env, tmp_path: Path, monkeypatch) -> None:
    import importlib.util

    from dbconsole.airflow import TableGraph

    config = tmp_path / "dbconsole.toml"
    config.write_text('[profiles.staging]\nurl = "postgresql://app@staging.internal/app"\nread_only = false\n'
                      '[profiles.prod]\nurl = "postgresql://app@db.internal/app"\n')
    graph = tmp_path / "graph.json"
    TableGraph((t("stocks"), t("users"), t("prices")), {t("prices"): (t("stocks"),)}).save(graph)
    monkeypatch.setenv("DBCONSOLE_CONFIG", str(config))
    monkeypatch.setenv("DBCONSOLE_GRAPH", str(graph))
    example = Path(__file__).resolve().parents[2] / "examples" / "airflow" / "dbconsole_nightly.py"
    spec = importlib.util.spec_from_file_location("dbconsole_nightly", example)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.dag
    assert sorted(dag.task_ids) == ["sync_public.stocks_and_1_more", "sync_public.users"]
    assert all(task.retries == 3 and task.confirm_target == "staging" for task in dag.tasks)
