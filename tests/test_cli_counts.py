"""`tables` never scans a read-only or tunnelled server unasked; estimates are marked `~`;
`--exact` counts one table at a time under a timeout (issue 10, item 1, CLI half)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from psycopg import sql

from dbconsole.connect import tunnels
from tests.cli_checks import run_cli
from tests.profiles import isolate_from_machine, write_config


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_from_machine(tmp_path, monkeypatch)
    yield
    tunnels.close_all()


def seq_scans(dbs) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Sequential scans per user table on the server, after the statistics of finished sessions landed."""
    time.sleep(1.2)  # backends flush their table statistics about once a second
    with dbs.server_admin() as admin:
        admin.execute("SELECT pg_stat_clear_snapshot()")
        rows = admin.execute("SELECT format('%I.%I', schemaname, relname), seq_scan FROM pg_stat_user_tables")
        return dict(rows.fetchall())


def test_tables_without_exact_never_scans_the_server_and_marks_estimates(tmp_path, dbs, sshd, capsys) -> None:
    config = str(write_config(tmp_path, dbs, sshd))
    before = seq_scans(dbs)
    for right in ("server", "server_direct"):  # tunnelled and direct, both read-only
        for _ in range(3):
            code, out, err = run_cli(capsys, "--config", config, "tables", "--left", "local", "--right", right)
            assert code == 0, err
    assert seq_scans(dbs) == before
    users = next(line for line in out.splitlines() if line.startswith("public.users "))
    figures = users.split()[1:4]
    assert all(f.startswith("~") for f in figures), users  # both counts and the difference
    assert "~ = estimate from the catalog" in out

    code, out, err = run_cli(capsys, "--config", config, "tables", "--left", "local", "--right", "server", "--json")
    rows = {r["table"]: r for r in json.loads(out)["tables"]}
    assert rows["public.users"]["estimated"] == {"left": True, "right": True, "difference": True}
    assert rows["public.local_notes"]["estimated"]["right"] is False  # absent, not estimated
    assert "left_rows" in rows["public.users"] and "exact" in rows["public.users"]  # old keys kept

    # The control: the same measurement does see an exact count scan the server.
    code, out, err = run_cli(capsys, "--config", config, "tables", "--left", "local", "--right", "server", "--exact")
    assert code == 0, err
    after = seq_scans(dbs)
    assert after["public.users"] > before["public.users"]
    users = next(line for line in out.splitlines() if line.startswith("public.users "))
    assert "~" not in users and "exact counts" in out


def test_exact_counts_time_out_per_table_and_the_rest_are_counted(tmp_path, dbs, capsys) -> None:
    config = str(write_config(tmp_path, dbs))
    with dbs.local_admin() as admin:  # a table whose every row costs 0.4 s to read (row-level security)
        admin.execute("CREATE TABLE public.slow_rows AS SELECT g AS id FROM generate_series(1, 5) g")
        admin.execute("ALTER TABLE public.slow_rows ENABLE ROW LEVEL SECURITY")
        admin.execute("CREATE POLICY crawl ON public.slow_rows USING (pg_sleep(0.4) IS NOT NULL)")
        admin.execute(sql.SQL("GRANT SELECT ON public.slow_rows TO {}").format(sql.Identifier(dbs.local.user)))
    started = time.monotonic()
    code, out, err = run_cli(capsys, "--config", config, "tables", "--left", "local", "--right",
                             "server_direct", "--exact", "--timeout", "0.5", "--json")
    elapsed = time.monotonic() - started
    assert code == 0, err
    rows = {r["table"]: r for r in json.loads(out)["tables"]}
    slow = rows["public.slow_rows"]
    assert slow["left_error"] == "count timed out after 0.5 s" and slow["left_rows"] is None, slow
    assert slow["estimated"]["left"] is False  # not a figure at all, so not an estimated one
    with dbs.local_admin() as local:
        users = local.execute("SELECT count(*) FROM public.users").fetchone()[0]
    assert rows["public.users"]["left_rows"] == users and rows["public.users"]["estimated"]["left"] is False
    assert elapsed < 15

    code, out, err = run_cli(capsys, "--config", config, "tables", "--left", "local", "--right",
                             "server_direct", "--exact", "--timeout", "0.5")
    slow_line = next(line for line in out.splitlines() if line.startswith("public.slow_rows "))
    assert "count timed out after 0.5 s" in slow_line
    assert "exact counts" in out and "~" not in out  # a timed-out count is not an estimate


def test_a_local_profile_that_opts_in_gets_exact_counts_unasked(tmp_path, dbs, capsys) -> None:
    config = str(write_config(tmp_path, dbs, extra={"profiles": {
        "local": {"url": dbs.local_url, "live_exact_counts": True}}}))
    with dbs.local_admin() as local:
        local.execute("CREATE TABLE public.fresh_rows AS SELECT g AS id FROM generate_series(1, 777) g")
        local.execute(sql.SQL("GRANT SELECT ON public.fresh_rows TO {}").format(sql.Identifier(dbs.local.user)))
    code, out, err = run_cli(capsys, "--config", config, "tables", "--left", "local", "--right", "server_direct",
                             "--json")
    assert code == 0, err
    rows = {r["table"]: r for r in json.loads(out)["tables"]}
    assert rows["public.fresh_rows"]["left_rows"] == 777, json.dumps(rows["public.fresh_rows"])
    assert rows["public.users"]["estimated"] == {"left": False, "right": True, "difference": True}


def test_tables_takes_globs_and_excludes(tmp_path, dbs, capsys) -> None:
    config = str(write_config(tmp_path, dbs))
    code, out, err = run_cli(capsys, "--config", config, "tables", "--left", "local", "--right", "server_direct",
                             "--tables", "public.*", "--exclude", "scan_*,audit_log", "--json")
    assert code == 0, err
    names = {r["table"] for r in json.loads(out)["tables"]}
    assert "public.users" in names and "public.scanner_settings" in names
    assert not {"public.scan_rank", "public.audit_log", "analytics.daily_summary"} & names


def test_exact_counts_skip_the_tables_left_out(tmp_path, dbs, capsys) -> None:
    config = str(write_config(tmp_path, dbs))
    before = seq_scans(dbs)
    code, out, err = run_cli(capsys, "--config", config, "tables", "--left", "local", "--right", "server_direct",
                             "--exact", "--exclude", "price_history", "--json")
    assert code == 0, err
    after = seq_scans(dbs)
    assert after["public.price_history"] == before["public.price_history"]
    assert after["public.users"] > before["public.users"]
    assert "public.price_history" not in {r["table"] for r in json.loads(out)["tables"]}
