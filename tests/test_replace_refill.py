"""``--mode replace`` loads straight into the target (TRUNCATE + COPY in its one transaction) where
that is safe and pays (an empty or sparse target), keeps the stage-and-merge path where it is not
(another table points at the table, triggers kept on, a target that holds most rows), and counts
both ways alike, by key, as its dry run does.

Which path ran is read from the table's file node: ``TRUNCATE`` gives the table a new one, a
merge keeps the old one.
"""

from __future__ import annotations

import pytest

from tests.cli_checks import run_cli, sync_events
from tests.profiles import write_config
from tests.sync_checks import all_rows


@pytest.fixture
def plain(empty_dbs, tmp_path):
    return empty_dbs, str(write_config(tmp_path, empty_dbs))


def both(dbs, statements: str) -> None:
    for cluster, db in ((dbs.server, dbs.server_db), (dbs.local, dbs.local_db)):
        with cluster.connect(db) as conn:
            conn.execute(statements)


def on_server(dbs, statements: str) -> None:
    with dbs.server.connect(dbs.server_db) as conn:
        conn.execute(statements)


def on_local(dbs, statements: str) -> None:
    with dbs.local.connect(dbs.local_db) as conn:
        conn.execute(statements)


def sync(capsys, config, *args: str) -> tuple[int, list[dict], str]:
    code, out, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local",
                             "--json", "--yes", "--mode", "replace", *args)
    return code, sync_events(out) if out.strip() else [], err


def done(events: list[dict]) -> dict[str, tuple[int, int, int, int]]:
    return {e["table"]: (e["inserted"], e["updated"], e["unchanged"], e["deleted"])
            for e in events if e["event"] == "table_done"}


def file_nodes(dbs, *tables: str) -> dict[str, int]:
    with dbs.local.connect(dbs.local_db) as conn:
        return {t: conn.execute("SELECT pg_relation_filenode(%s::regclass)", (t,)).fetchone()[0] for t in tables}


def same_rows(dbs, table: str) -> bool:
    with dbs.local.connect(dbs.local_db) as local, dbs.server.connect(dbs.server_db) as server:
        return all_rows(local, table) == all_rows(server, table)


def test_replace_truncates_and_loads_a_sparse_target_and_merges_into_a_full_one(plain, capsys) -> None:
    dbs, config = plain
    both(dbs, "CREATE TABLE team (id int PRIMARY KEY, name text);"
              "CREATE TABLE member (id int PRIMARY KEY, team_id int REFERENCES team, name text, n serial)")
    on_server(dbs, "INSERT INTO team SELECT g, 't' || g FROM generate_series(1, 10) g;"
                   "INSERT INTO member (id, team_id, name) SELECT g, g % 10 + 1, 'm' || g FROM generate_series(1, 500) g;"
                   "ANALYZE team, member")
    empty = file_nodes(dbs, "team", "member")
    code, events, err = sync(capsys, config)  # into empty tables: truncated and loaded
    assert code == 0, err
    assert done(events) == {"public.team": (10, 0, 0, 0), "public.member": (500, 0, 0, 0)}
    assert all(file_nodes(dbs, "team", "member")[t] != node for t, node in empty.items())
    with dbs.local.connect(dbs.local_db) as conn:  # the serial moved past the copied values
        assert conn.execute("SELECT nextval('member_n_seq')").fetchone()[0] > 500

    # A full target: merged (unchanged rows are not rewritten), counted as the dry run counts.
    on_local(dbs, "UPDATE member SET name = 'changed' WHERE id <= 7;"
                  "INSERT INTO team VALUES (99, 'local only');"
                  "INSERT INTO member (id, team_id, name) VALUES (1000, 99, 'local'), (1001, 99, 'local');"
                  "DELETE FROM member WHERE id BETWEEN 11 AND 13; ANALYZE team, member")
    code, preview, err = sync(capsys, config, "--dry-run")
    assert code == 0, err
    before = file_nodes(dbs, "team", "member")
    code, events, err = sync(capsys, config)
    assert code == 0, err
    assert done(events) == {"public.team": (0, 0, 10, 1), "public.member": (3, 7, 490, 2)}
    assert done(events) == done(preview)
    assert file_nodes(dbs, "team", "member") == before
    assert same_rows(dbs, "public.team") and same_rows(dbs, "public.member")

    # A sparse target (under half the source's rows): truncated, yet counted by key like a merge.
    on_local(dbs, "DELETE FROM member WHERE id > 20; UPDATE member SET name = 'changed' WHERE id <= 4;"
                  "INSERT INTO member (id, team_id, name) VALUES (2000, 1, 'local'); ANALYZE member")
    code, preview, err = sync(capsys, config, "--dry-run")
    assert code == 0, err
    before = file_nodes(dbs, "member")
    code, events, err = sync(capsys, config)
    assert code == 0, err
    assert done(events) == {"public.team": (0, 0, 10, 0), "public.member": (480, 4, 16, 1)}
    assert done(events) == done(preview)
    assert file_nodes(dbs, "member") != before
    assert same_rows(dbs, "public.team") and same_rows(dbs, "public.member")


def test_a_table_another_table_points_at_is_merged_not_truncated(plain, capsys) -> None:
    dbs, config = plain
    both(dbs, "CREATE TABLE team (id int PRIMARY KEY, name text);"
              "CREATE TABLE member (id int PRIMARY KEY, team_id int REFERENCES team)")
    on_server(dbs, "INSERT INTO team SELECT g, 't' || g FROM generate_series(1, 10) g")
    on_local(dbs, "INSERT INTO team SELECT g, 'old' FROM generate_series(1, 12) g;"
                  "INSERT INTO member VALUES (1, 1), (2, 5)")
    before = file_nodes(dbs, "team")
    code, events, err = sync(capsys, config, "--tables", "team")
    assert code == 0, err
    assert done(events) == {"public.team": (0, 10, 0, 2)}
    assert file_nodes(dbs, "team") == before  # TRUNCATE would have been refused (member points at team)
    assert same_rows(dbs, "public.team")
    with dbs.local.connect(dbs.local_db) as conn:
        assert conn.execute("SELECT count(*) FROM member").fetchone()[0] == 2


def test_triggers_kept_on_keep_the_merge_and_disabled_triggers_come_back(plain, capsys) -> None:
    dbs, config = plain
    both(dbs, "CREATE TABLE note (id int PRIMARY KEY, body text, stamped timestamptz)")
    on_server(dbs, "INSERT INTO note SELECT g, 'n' || g, '2020-01-01' FROM generate_series(1, 20) g")
    on_local(dbs, "INSERT INTO note SELECT g, 'old', '2020-01-01' FROM generate_series(1, 25) g;"
                  "CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS "
                  "$$BEGIN NEW.stamped := now(); RETURN NEW; END$$;"
                  "CREATE TRIGGER stamp BEFORE INSERT OR UPDATE ON note FOR EACH ROW EXECUTE FUNCTION stamp();"
                  "ALTER TABLE note ENABLE ALWAYS TRIGGER stamp")
    before = file_nodes(dbs, "note")
    code, events, err = sync(capsys, config, "--triggers", "keep")
    assert code == 0, err
    assert done(events) == {"public.note": (0, 20, 0, 5)}
    assert file_nodes(dbs, "note") == before
    with dbs.local.connect(dbs.local_db) as conn:  # the trigger fired on every rewritten row
        assert conn.execute("SELECT count(*) FROM note WHERE stamped > '2021-01-01'").fetchone()[0] == 20

    on_local(dbs, "DELETE FROM note WHERE id > 3; ANALYZE note")
    on_server(dbs, "ANALYZE note")
    code, events, err = sync(capsys, config)  # triggers disabled, a sparse target: truncated and loaded
    assert code == 0, err
    assert done(events) == {"public.note": (17, 3, 0, 0)}  # the 3 left were stamped by the trigger
    assert file_nodes(dbs, "note") != before
    assert same_rows(dbs, "public.note")
    with dbs.local.connect(dbs.local_db) as conn:  # back as it was: ENABLE ALWAYS
        assert conn.execute("SELECT tgenabled FROM pg_trigger WHERE tgname = 'stamp'").fetchone()[0] == "A"


def test_replace_with_where_leaves_exactly_the_selected_rows_and_a_partitioned_root_refills(plain, capsys) -> None:
    dbs, config = plain
    both(dbs, "CREATE TABLE event (id int, day date, body text, PRIMARY KEY (id, day)) PARTITION BY RANGE (day);"
              "CREATE TABLE event_2024 PARTITION OF event FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');"
              "CREATE TABLE event_2025 PARTITION OF event FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')")
    on_server(dbs, "INSERT INTO event SELECT g, date '2024-06-01' + g, 'e' || g FROM generate_series(1, 400) g;"
                   "ANALYZE event")
    on_local(dbs, "INSERT INTO event VALUES (1, date '2024-06-02', 'old'), (9999, '2025-12-01', 'local');"
                  "ANALYZE event")  # sparse: refilled through the partitioned root
    before = file_nodes(dbs, "event_2024", "event_2025")
    code, events, err = sync(capsys, config, "--tables", "event", "--where", "id <= 100")
    assert code == 0, err
    assert done(events) == {"public.event": (99, 1, 0, 1)}
    after = file_nodes(dbs, "event_2024", "event_2025")
    assert all(after[t] != before[t] for t in before), (before, after)  # TRUNCATE reached every partition
    with dbs.local.connect(dbs.local_db) as local, dbs.server.connect(dbs.server_db) as server:
        rows = "SELECT * FROM event WHERE id <= 100 ORDER BY id"
        assert local.execute(rows).fetchall() == server.execute(rows).fetchall()
        assert local.execute("SELECT count(*) FROM event").fetchone()[0] == 100


def test_a_failing_refill_leaves_the_old_rows(plain, capsys) -> None:
    dbs, config = plain
    both(dbs, "CREATE TABLE item (id int PRIMARY KEY, price int)")
    on_server(dbs, "INSERT INTO item SELECT g, g FROM generate_series(1, 300) g; ANALYZE item")
    on_local(dbs, "INSERT INTO item SELECT g, 0 FROM generate_series(1, 50) g; ANALYZE item;"
                  "ALTER TABLE item ADD CONSTRAINT small CHECK (price < 200) NOT VALID")  # sparse: refilled
    with dbs.local.connect(dbs.local_db) as conn:
        old = conn.execute("SELECT * FROM item ORDER BY id").fetchall()
    code, _, err = sync(capsys, config)
    assert code == 1 and "public.item" in err, err
    with dbs.local.connect(dbs.local_db) as conn:
        assert conn.execute("SELECT * FROM item ORDER BY id").fetchall() == old
