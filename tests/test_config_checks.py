"""The one number check behind every numeric key, and the messages the loader gives (no server)."""

from __future__ import annotations

import pytest

from dbconsole.config import ConfigError, check_number, parse_config


def test_check_number_ranges_and_kinds() -> None:
    check_number(0, "f", "k", must_be="x")
    check_number(2.5, "f", "k", above_minimum=True, must_be="x")
    check_number(65535, "f", "k", whole=True, maximum=65535, must_be="x")
    for value, rules in ((True, {}), ("3", {}), (-1, {}), (0, {"above_minimum": True}), (1.5, {"whole": True}),
                         (65536, {"maximum": 65535})):
        with pytest.raises(ConfigError, match="^f: k must be x$"):
            check_number(value, "f", "k", must_be="x", **rules)
    with pytest.raises(ConfigError, match="^SSH port must be a number"):
        check_number("x", "", "SSH port", whole=True, must_be="a number between 1 and 65535")


@pytest.mark.parametrize(("document", "message"), [
    ({"tui": {"refresh_interval": -1}}, "tui.refresh_interval must be a number of seconds >= 0 (0: no live refresh)"),
    ({"profiles": {"p": {"url": "postgresql://h/d", "connect_timeout": 0}}},
     "profiles.p.connect_timeout must be a positive whole number of seconds"),
    ({"profiles": {"p": {"url": "postgresql://h/d", "ssh": {"host": "b", "port": 70000}}}},
     "profiles.p.ssh.port must be a port number (1-65535)"),
    ({"sync": {"retries": -1}}, "sync.retries must be a whole number >= 0"),
    ({"sync": {"stall_timeout": 0}}, "sync.stall_timeout must be a number of seconds > 0"),
    ({"sync": {"batch_size": True}}, "sync.batch_size must be a whole number > 0"),
    ({"sync": {"tables": {"t": {"overlap": -5}}}}, 'sync.tables."t".overlap must be a number of seconds >= 0'),
    ({"sync": {"tables": {"t": {"batch_size": 0}}}}, 'sync.tables."t".batch_size must be a whole number > 0'),
    ({"sync": {"triggers": "keeep"}}, "sync.triggers must be one of disable, keep"),
    ({"sync": {"mode": "upsertt"}}, "sync.mode must be one of upsert, replace, incremental, xmin, mirror (did you mean 'upsert'?)"),
])
def test_each_numeric_and_choice_key_keeps_its_message(document, message) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(document, path=None, environ={})
    assert str(caught.value) == f"config: {message}"
