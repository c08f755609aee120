"""Pure pieces of the console: no screen, no server."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from dbconsole.config import ConfigError, parse_config
from dbconsole.sync.counts import RowCounts
from dbconsole.sync.events import Progress, TableDone, TableStart
from dbconsole.tui.actions import ACTIONS, bindings, key_label, specs
from dbconsole.tui.screens.profile_form import ProfileFormValues, build_profile, with_password_reference
from dbconsole.tui.screens.wizard import EventThrottle
from dbconsole.tui.widgets.browser.rows import ago


def test_every_action_has_a_unique_id_and_a_description():
    ids = [spec.id for spec in ACTIONS]
    assert len(ids) == len(set(ids))
    assert all(spec.description for spec in ACTIONS)
    for scope in {spec.scope for spec in ACTIONS}:
        keys = [spec.key for spec in specs(scope)]
        assert len(keys) == len(set(keys)), f"two actions share a key in {scope}"
        assert [b.id for b in bindings(scope)] == [s.id for s in specs(scope)]
    assert key_label(next(s for s in ACTIONS if s.key == "slash")) == "/"


def test_throttle_keeps_every_milestone_and_the_latest_progress():
    batches: list[list] = []
    throttle = EventThrottle(batches.append, interval=3600)
    throttle(TableStart("public.a", "upsert", 100))
    for rows in range(1, 50):
        throttle(Progress("public.a", rows, 10.0))
    throttle(TableDone("public.a", RowCounts(49), 1.0))
    throttle.flush()
    events = [e for batch in batches for e in batch]
    assert [e.event for e in events] == ["table_start", "progress", "table_done"]
    assert events[1].rows == 49


@pytest.mark.parametrize("delta, text", [(5, "just now"), (300, "5m ago"), (7200, "2h ago"), (3 * 86400, "3d ago")])
def test_ago_is_short(delta, text):
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert ago(now - timedelta(seconds=delta), now) == text


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


def test_the_headless_core_never_imports_textual():
    code = ("import sys; sys.modules['textual'] = None\n"
            "import dbconsole.config, dbconsole.connect, dbconsole.catalog, dbconsole.compare, dbconsole.sync\n"
            "import dbconsole.sync.engine, dbconsole.sync.state, dbconsole.cli, dbconsole.tui.jobs\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_editing_a_profile_keeps_live_exact_counts():
    config = parse_config({"profiles": {"dev": {"url": "postgresql://a@localhost/x", "live_exact_counts": True}}},
                          path=None, environ={})
    edited, _secrets = build_profile(config, ProfileFormValues(name="dev", url="postgresql://a@localhost/y",
                                                               read_only=False), "dev")
    assert edited.profiles["dev"].live_exact_counts
