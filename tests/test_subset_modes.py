"""Subsets and the shapes they cannot take (issue 15 item 2): a declared FK cycle under a subset,
upsert or mirror, is refused with one line naming it and saying what works instead. Nothing is
written. (The modes a subset refuses, and mirror's own behaviour: tests/test_subset_mirror.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from dbconsole.connect import tunnels
from tests.cli_checks import assert_one_line, database_state, run_cli
from tests.profiles import isolate_from_machine, write_config
from tests.test_bad_input import create_cycle


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_from_machine(tmp_path, monkeypatch)
    yield
    tunnels.close_all()


def sync(capsys, config: str, *args: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    return run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local", "--yes", *args)


@pytest.mark.parametrize("deferrable", [False, True])
def test_a_subset_across_a_declared_fk_cycle_is_one_line_and_writes_nothing(empty_dbs, tmp_path, capsys,
                                                                             deferrable) -> None:
    create_cycle(empty_dbs, deferrable=deferrable)
    config = str(write_config(tmp_path, empty_dbs))
    with empty_dbs.local.connect(empty_dbs.local_db) as local:
        before = database_state(local)
    code, out, err = sync(capsys, config, "--subset", "team: id = 1")
    line = assert_one_line(code, err, 1, "foreign keys form a cycle", "public.team", "public.player",
                           "team_captain_fkey", "player_team_id_fkey", "subset", "--mode replace")
    assert "deferring those constraints would not help" in line
    with empty_dbs.local.connect(empty_dbs.local_db) as local:
        assert database_state(local) == before


def test_a_subset_mirror_across_a_declared_fk_cycle_is_refused_like_its_upsert(empty_dbs, tmp_path, capsys) -> None:
    create_cycle(empty_dbs)
    config = str(write_config(tmp_path, empty_dbs))
    with empty_dbs.local.connect(empty_dbs.local_db) as local:
        before = database_state(local)
    code, out, err = sync(capsys, config, "--subset", "player: id = 1", "--mode", "mirror")
    assert_one_line(code, err, 1, "foreign keys form a cycle", "public.team", "public.player", "subset")
    with empty_dbs.local.connect(empty_dbs.local_db) as local:
        assert database_state(local) == before
