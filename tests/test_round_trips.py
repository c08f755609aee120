"""Start-up round trips, counted by a relay between dbconsole and the real server (not timed).

Over a link of 30 ms every round trip is 30 ms the user waits; a connection itself costs four
(the SSL probe and the three turns of SCRAM authentication), so ``tables`` may spend one more
per side: the catalog. The read-only check rides on what the server reports at start-up.
"""

from __future__ import annotations

import pytest

from tests.cli_checks import run_cli
from tests.profiles import write_config
from tests.turns import TurnCountingProxy

TABLES_ROUND_TRIPS = 5  # per side: SSL probe + SCRAM (3) + the catalog


@pytest.fixture
def counted(dbs, tmp_path):
    with TurnCountingProxy(dbs.server.host, dbs.server.port) as server, \
            TurnCountingProxy(dbs.local.host, dbs.local.port) as local:
        server_url = f"postgresql://{dbs.server.user}:{dbs.server.password}@127.0.0.1:{server.port}/{dbs.server_db}"
        local_url = dbs.local_url.replace(f":{dbs.local.port}/", f":{local.port}/")
        extra = {"profiles": {"server_counted": {"url": server_url, "read_only": True},
                              "local_counted": {"url": local_url}}}
        yield str(write_config(tmp_path, dbs, extra=extra)), server, local


def test_tables_takes_at_most_five_round_trips_per_side(counted, capsys) -> None:
    config, server, local = counted
    code, out, err = run_cli(capsys, "--config", config, "tables", "--left", "local_counted",
                             "--right", "server_counted", "--json")
    assert code == 0, err
    assert '"public.users"' in out
    assert len(server.turns) == 1 and len(local.turns) == 1, (server.turns, local.turns)
    assert server.turns[0] <= TABLES_ROUND_TRIPS, server.turns
    assert local.turns[0] <= TABLES_ROUND_TRIPS, local.turns


@pytest.fixture
def counted_through_tunnel(dbs, sshd, tmp_path, monkeypatch):
    from dbconsole.connect import tunnels
    from tests.profiles import isolate_from_machine

    isolate_from_machine(tmp_path, monkeypatch)
    with TurnCountingProxy(dbs.server.host, dbs.server.port) as server:
        sshd.allow("127.0.0.1", server.port)  # the SSH server reaches PostgreSQL through the counter
        path = write_config(tmp_path, dbs, sshd)
        text = path.read_text().replace(f":{dbs.server.port}/", f":{server.port}/")
        path.write_text(text.replace(f'host = "{dbs.server.host}"', 'host = "127.0.0.1"'))
        try:
            yield str(path), server
        finally:
            tunnels.close_all()


def test_tables_through_the_tunnel_takes_at_most_five_round_trips_the_probe_included(counted_through_tunnel,
                                                                                     capsys) -> None:
    """OpenSSH's "up" probe already asked the database about SSL; libpq is not made to ask again."""
    config, server = counted_through_tunnel
    code, out, err = run_cli(capsys, "--config", config, "tables", "--left", "local", "--right", "server", "--json")
    assert code == 0, err
    assert '"public.users"' in out
    assert 4 <= server.total <= TABLES_ROUND_TRIPS, server.turns  # at least SCRAM and the catalog: it was counted
