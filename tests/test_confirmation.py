"""Why a sync asks for the target's name: one rule, worded once, used by the CLI and the wizard.

The bug this guards: with ``[sync] mode = "replace"`` and a localhost target, the CLI worded its
own reason from ``--mode`` only and asked "local is not a local database".
"""

from __future__ import annotations

import builtins
import sys

import pytest

from dbconsole.config import Profile, SyncSettings, TableRules
from dbconsole.sync import SyncRequest
from dbconsole.sync.confirm import confirmation_reason
from tests.cli_checks import assert_one_line, database_state, run_cli
from tests.profiles import write_config

LOCAL = Profile(name="local", url="postgresql://dev@localhost/app", read_only=False)
REMOTE = Profile(name="staging", url="postgresql://app@staging.example.com/app", read_only=False)
SERVER = Profile(name="server", url="postgresql://app@db.example.com/app", read_only=True)
REPLACE_REASON = "mode replace deletes target rows"


def request(target: Profile = LOCAL, **kwargs) -> SyncRequest:
    return SyncRequest(source=SERVER, target=target, **kwargs)


def test_a_plain_sync_into_a_local_database_needs_no_confirmation() -> None:
    assert confirmation_reason(request()) is None
    assert not request().needs_confirmation


def test_replace_from_the_config_default_is_named_as_replace_not_as_a_remote_target() -> None:
    reason = confirmation_reason(request(settings=SyncSettings(mode="replace")))
    assert reason == REPLACE_REASON


def test_replace_from_a_table_rule_or_the_command_line_needs_confirmation() -> None:
    rules = SyncSettings(tables={"public.users": TableRules(mode="replace")})
    assert confirmation_reason(request(settings=rules)) == REPLACE_REASON
    assert confirmation_reason(request(mode="replace")) == REPLACE_REASON


def test_an_explicit_mode_wins_over_the_config_default() -> None:
    assert confirmation_reason(request(mode="upsert", settings=SyncSettings(mode="replace"))) is None


def test_a_target_that_is_not_local_is_named_and_replace_comes_first() -> None:
    assert confirmation_reason(request(REMOTE)) == "staging is not a local database"
    assert confirmation_reason(request(REMOTE, mode="replace")) == REPLACE_REASON


def test_a_dry_run_writes_nothing_and_needs_no_confirmation() -> None:
    assert confirmation_reason(request(REMOTE, mode="replace", dry_run=True)) is None


def test_the_cli_names_replace_from_the_config_for_a_localhost_target(dbs, tmp_path, capsys) -> None:
    config = str(write_config(tmp_path, dbs, extra={"sync": {"mode": "replace"}}))
    with dbs.local.connect(dbs.local_db) as local:
        before = database_state(local)
    code, _out, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local",
                              "--tables", "users")
    line = assert_one_line(code, err, 2, "this sync needs --yes", REPLACE_REASON)
    assert "is not a local database" not in line
    with dbs.local.connect(dbs.local_db) as local:
        assert database_state(local) == before


def test_the_cli_prompt_words_the_same_reason_and_a_wrong_name_writes_nothing(
        dbs, tmp_path, capsys, monkeypatch) -> None:
    config = str(write_config(tmp_path, dbs, extra={"sync": {"mode": "replace"}}))
    prompts: list[str] = []

    def answer(prompt: str) -> str:
        prompts.append(prompt)
        return "not-local"

    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)  # a person at a terminal
    monkeypatch.setattr(builtins, "input", answer)
    with dbs.local.connect(dbs.local_db) as local:
        before = database_state(local)
    code, _out, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local",
                              "--tables", "users")
    assert prompts == [f"{REPLACE_REASON}. Type 'local' to sync into it: "]
    assert_one_line(code, err, 2, "not confirmed; nothing was written")
    with dbs.local.connect(dbs.local_db) as local:
        assert database_state(local) == before
