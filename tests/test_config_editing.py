"""The profile form's logic, now in the config package: what typed values become (no screen, no server)."""

from __future__ import annotations

import pytest

from dbconsole.config import ConfigError, ProfileFormValues, build_profile, parse_config, with_password_reference


def empty_config(tmp_path):
    return parse_config({"profiles": {}}, path=tmp_path / "dbconsole.toml", environ={})


def test_a_literal_password_becomes_a_reference(tmp_path):
    config, secrets = build_profile(empty_config(tmp_path), ProfileFormValues(
        name="prod-eu", url="postgresql://app:p%40ss@db.example:5432/app"), None)
    raw = config.profiles["prod-eu"].raw
    assert raw["url"] == "postgresql://app:${DBCONSOLE_PROD_EU_PASSWORD}@db.example:5432/app"
    assert secrets == {"DBCONSOLE_PROD_EU_PASSWORD": "p@ss"}
    assert config.profiles["prod-eu"].url == "postgresql://app:p%40ss@db.example:5432/app"


def test_the_password_box_wins_and_ssh_is_validated(tmp_path):
    config, secrets = build_profile(empty_config(tmp_path), ProfileFormValues(
        name="server", url="postgresql://app@localhost/app", password="typed", ssh_host="bastion",
        ssh_port="2222", ssh_user="ubuntu", ssh_key="~/.ssh/id"), None)
    profile = config.profiles["server"]
    assert profile.ssh.host == "bastion" and profile.ssh.port == 2222 and profile.read_only
    assert secrets == {"DBCONSOLE_SERVER_PASSWORD": "typed"}
    with pytest.raises(ConfigError, match="SSH port"):
        build_profile(empty_config(tmp_path), ProfileFormValues(name="x", url="postgresql://a@h/d",
                                                                ssh_host="h", ssh_port="99999"), None)
    with pytest.raises(ConfigError, match="needs a user"):
        with_password_reference("postgresql://localhost/db", "V")


def test_editing_a_profile_keeps_live_exact_counts():
    config = parse_config({"profiles": {"dev": {"url": "postgresql://a@localhost/x", "live_exact_counts": True}}},
                          path=None, environ={})
    edited, _secrets = build_profile(config, ProfileFormValues(name="dev", url="postgresql://a@localhost/y",
                                                               read_only=False), "dev")
    assert edited.profiles["dev"].live_exact_counts
