"""Pure pieces of history and undo: what a run's source is called, how an error is named, and
the config key that bounds the pre-images (no server needed)."""

from __future__ import annotations

import pytest

from dbconsole.config import ConfigError, Profile, SshSettings
from dbconsole.config.validation import parse_config
from dbconsole.errors import ReadOnlyError, SyncError
from dbconsole.sync.journal import error_kind, source_host


def test_source_host_names_host_port_database_and_ssh_hop_but_never_the_password() -> None:
    profile = Profile(name="prod", url="postgresql://app:s3cret-pw@db.internal:6543/shop", read_only=True,
                      ssh=SshSettings(host="bastion.example.com"))
    assert source_host(profile) == "db.internal:6543/shop via ssh bastion.example.com"
    assert "s3cret" not in source_host(profile)
    assert source_host(Profile(name="l", url="postgresql:///app", read_only=False)) == "localhost:5432/app"


def test_error_kind_is_the_error_class_in_snake_case() -> None:
    assert error_kind(SyncError("x")) == "sync"
    assert error_kind(ReadOnlyError("x")) == "read_only"
    assert error_kind(KeyError("x")) == "key"


@pytest.mark.parametrize("value", [-1, 1.5, "3", True])
def test_undo_keep_runs_must_be_a_whole_number_of_runs(value) -> None:
    with pytest.raises(ConfigError, match="sync.undo_keep_runs must be a whole number >= 0"):
        parse_config({"sync": {"undo_keep_runs": value}}, path=None, environ={})


def test_undo_keep_runs_zero_and_unset_parse() -> None:
    assert parse_config({"sync": {"undo_keep_runs": 0}}, path=None, environ={}).sync.undo_keep_runs == 0
    assert parse_config({}, path=None, environ={}).sync.undo_keep_runs is None
