"""Profiles: discovery, expansion, env fallbacks, detection, validation and safe saving (no server)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dbconsole.config import (
    config_from_env, detect_default_profile, load_config, profile_table, save_config, set_env_secret,
    split_password, with_profile, without_profile)
from dbconsole.errors import ConfigError
from dbconsole.redact import mask_url, redact

SAMPLE = """\
default_profile = "local"

[profiles.local]
url = "postgresql://dev@localhost:5432/stockfinder"

[profiles.server]
url = "postgresql://stockfinder:${SERVER_DB_PASSWORD}@localhost:5432/stockfinder"
ssh = { host = "52.79.145.238", port = 22, user = "ubuntu", key = "~/.ssh/id_ed25519" }
color = "red"

[sync]
batch_size = 5000
[sync.tables."public.users"]
preserve_columns = ["updated_at"]
mask = { email = "mask_email" }
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_sample_config_loads_with_secret_from_dotenv(tmp_path: Path) -> None:
    config_path = write(tmp_path / "dbconsole.toml", SAMPLE)
    write(tmp_path / ".env", "SERVER_DB_PASSWORD='s3cr@t/pw'\n")
    config = load_config(config_path, environ={}, cwd=tmp_path)
    server = config.profile("server")
    assert "s3cr%40t%2Fpw" in server.url  # percent-encoded where it lands in the URL
    assert server.display_url == "postgresql://stockfinder:***@localhost:5432/stockfinder"
    assert server.read_only is True and server.ssh is not None and server.ssh.host == "52.79.145.238"
    assert config.profile("local").read_only is False
    assert config.sync.batch_size == 5000
    assert config.sync.tables["public.users"].mask == {"email": "mask_email"}
    assert "s3cr@t/pw" not in repr(server) and "s3cr" not in redact(f"failed: {server.url} s3cr@t/pw")


def test_real_environment_wins_over_dotenv(tmp_path: Path) -> None:
    config_path = write(tmp_path / "dbconsole.toml", SAMPLE)
    write(tmp_path / ".env", "SERVER_DB_PASSWORD=from-file\n")
    config = load_config(config_path, environ={"SERVER_DB_PASSWORD": "from-env"}, cwd=tmp_path)
    assert "from-env" in config.profile("server").url


def test_discovery_order(tmp_path: Path) -> None:
    cwd = tmp_path / "project"
    xdg = tmp_path / "xdg"
    (xdg / "dbconsole").mkdir(parents=True)
    cwd.mkdir()
    write(xdg / "dbconsole" / "dbconsole.toml", '[profiles.xdg]\nurl = "postgresql://localhost/x"\n')
    env = {"XDG_CONFIG_HOME": str(xdg)}
    assert list(load_config(environ=env, cwd=cwd).profiles) == ["xdg"]
    write(cwd / "dbconsole.toml", '[profiles.cwd]\nurl = "postgresql://localhost/x"\n')
    assert list(load_config(environ=env, cwd=cwd).profiles) == ["cwd"]
    other = write(tmp_path / "other.toml", '[profiles.envvar]\nurl = "postgresql://localhost/x"\n')
    assert list(load_config(environ={**env, "DBCONSOLE_CONFIG": str(other)}, cwd=cwd).profiles) == ["envvar"]
    explicit = write(tmp_path / "explicit.toml", '[profiles.flag]\nurl = "postgresql://localhost/x"\n')
    assert list(load_config(explicit, environ={**env, "DBCONSOLE_CONFIG": str(other)}, cwd=cwd).profiles) == ["flag"]


def test_env_fallbacks_without_a_file(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "none"), "POSTGRES_DSN": "postgresql://a@localhost/dev",
           "DB_URL": "postgresql://b@localhost/dev", "SERVER_DATABASE_URL": "postgresql://c:pw1234@localhost:5433/prod"}
    config = load_config(environ=env, cwd=tmp_path)
    assert config.profile("local").url == "postgresql://a@localhost/dev"  # POSTGRES_DSN before DB_URL
    server = config.profile("server")
    assert server.read_only is True, "a hand-made tunnel makes prod look like localhost"
    assert server.origin == "env:SERVER_DATABASE_URL"
    config = config_from_env({"DATABASE_URL": "postgresql://x@localhost/a", "POSTGRES_DSN": "postgresql://y@localhost/b"})
    assert config.profile("local").url.startswith("postgresql://x@")


@pytest.mark.parametrize("url, ssh, expected", [
    ("postgresql://u@localhost/db", None, False),
    ("postgresql://u@127.0.0.1:5433/db", None, False),
    ("postgresql://u@[::1]/db", None, False),
    ("postgresql:///db?host=/var/run/postgresql", None, False),
    ("postgresql://u@db.example.com/db", None, True),
    ("postgresql://u@localhost/db", {"host": "bastion"}, True),
])
def test_read_only_defaults(url: str, ssh: dict | None, expected: bool, tmp_path: Path) -> None:
    table = {"url": url, **({"ssh": ssh} if ssh else {})}
    config = with_profile(load_config(write(tmp_path / "c.toml", ""), environ={}, cwd=tmp_path), "p", table)
    assert config.profile("p").read_only is expected


def test_detection_order(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    marker.mkdir()
    text = f"""default_profile = "local"
[profiles.local]
url = "postgresql://localhost/a"
[profiles.server]
url = "postgresql://db.example.com/a"
[profiles.staging]
url = "postgresql://staging.example.com/a"
[[detect]]
profile = "staging"
hostname = "ip-10-*"
[[detect]]
profile = "server"
path = "{marker}"
"""
    path = write(tmp_path / "c.toml", text)
    assert detect_default_profile(load_config(path, environ={}, cwd=tmp_path), hostname="ip-10-1-2-3") == ("staging", "detect[0]")
    assert detect_default_profile(load_config(path, environ={}, cwd=tmp_path), hostname="laptop") == ("server", "detect[1]")
    config = load_config(path, environ={"ENVIRONMENT": "LOCAL"}, cwd=tmp_path)
    assert detect_default_profile(config, hostname="ip-10-1") == ("local", "$ENVIRONMENT")
    config = load_config(path, environ={"ENVIRONMENT": "local", "DBCONSOLE_PROFILE": "staging"}, cwd=tmp_path)
    assert detect_default_profile(config, hostname="x") == ("staging", "$DBCONSOLE_PROFILE")
    marker.rmdir()
    assert detect_default_profile(load_config(path, environ={}, cwd=tmp_path), hostname="x") == ("local", "default_profile")
    with pytest.raises(ConfigError, match="unknown profile 'nope'"):
        detect_default_profile(load_config(path, environ={"DBCONSOLE_PROFILE": "nope"}, cwd=tmp_path), hostname="x")


@pytest.mark.parametrize("text, message", [
    ('[profiles.a]\nurl = "postgresql://x"\nread_onyl = true\n', "unknown key 'profiles.a.read_onyl' (did you mean 'read_only'?)"),
    ('[profiles.a\nurl = "x"\n', "line 1"),
    ('[profiles.a]\nurl = "postgresql://h:notaport/db"\n', "malformed connection URL"),
    ('[profiles.a]\nurl = "mysql://h/db"\n', "must start with postgresql://"),
    ('[profiles.a]\nurl = "postgresql://h/db"\nread_only = "yes"\n', "read_only must be true or false"),
    ('[profiles.a]\nurl = "postgresql://h/db"\nssh = { port = 22 }\n', "ssh.host is required"),
    ('[sync]\nbatch_size = 0\n', "batch_size must be a whole number > 0"),
    ('[sync]\nmode = "upsret"\n', "did you mean 'upsert'"),
    ('[sync.tables.users]\nmask = { email = "scramble" }\n', "unknown rule 'scramble'"),
    ('default_profile = "prod"\n[profiles.a]\nurl = "postgresql://h/db"\n', "default_profile 'prod' is not a profile"),
    ('[tui]\nauto_diff_rows = -1\n', "tui.auto_diff_rows must be a whole number of rows >= 0 (0: off)"),
    ('[tui]\nauto_diff_rows = "1000"\n', "tui.auto_diff_rows must be a whole number"),
    ('[tui]\nauto_diff_rows = true\n', "tui.auto_diff_rows must be a whole number"),
    ('[tui]\nauto_diff_row = 10\n', "did you mean 'auto_diff_rows'"),
])
def test_bad_config_is_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "bad.toml", text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={}, cwd=tmp_path)
    assert message in str(info.value)
    assert str(path) in str(info.value) or "NOT_THERE" in str(info.value)
    assert "\n" not in str(info.value)


# A missing ${VAR} is no longer a load error (issue 10, item 4): it makes that one profile unusable,
# and using it is the one clear line. These two cases moved here from the table above.
@pytest.mark.parametrize("text, variable", [
    ('[profiles.a]\nurl = "postgresql://u:${NOPE_PASSWORD}@h/db"\n', "NOPE_PASSWORD"),
    ('[profiles.a]\nurl_env = "NOT_THERE"\n', "NOT_THERE"),
])
def test_a_missing_variable_is_one_clear_line_when_the_profile_is_used(tmp_path: Path, text: str,
                                                                       variable: str) -> None:
    path = write(tmp_path / "bad.toml", text)
    profile = load_config(path, environ={}, cwd=tmp_path).profile("a")
    assert profile.unusable == f"needs {variable}"
    with pytest.raises(ConfigError) as info:
        profile.require_usable()
    assert str(info.value) == (f"profile 'a' needs {variable} "
                               "(set it in the environment or in .env beside the config)")


def test_missing_explicit_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml", environ={}, cwd=tmp_path)


def test_round_trip_keeps_references_and_is_private(tmp_path: Path) -> None:
    config_path = write(tmp_path / "dbconsole.toml", SAMPLE)
    env = {"SERVER_DB_PASSWORD": "hunter2-secret"}
    config = load_config(config_path, environ=env, cwd=tmp_path)
    config = with_profile(config, "staging", profile_table(url="postgresql://app:${SERVER_DB_PASSWORD}@staging/db",
                                                          ssh={"host": "bastion", "user": "deploy"}))
    saved = save_config(config)
    assert stat.S_IMODE(os.stat(saved).st_mode) == 0o600
    text = saved.read_text()
    assert "hunter2-secret" not in text and "${SERVER_DB_PASSWORD}" in text
    again = load_config(saved, environ=env, cwd=tmp_path)
    assert list(again.profiles) == ["local", "server", "staging"]
    assert again.profile("server").url == config.profile("server").url
    assert again.sync.tables["public.users"].preserve_columns == ("updated_at",)
    smaller = without_profile(again, "staging")
    save_config(smaller)
    assert list(load_config(saved, environ=env, cwd=tmp_path).profiles) == ["local", "server"]


def test_save_refuses_an_expanded_secret(tmp_path: Path) -> None:
    config_path = write(tmp_path / "dbconsole.toml", SAMPLE)
    config = load_config(config_path, environ={"SERVER_DB_PASSWORD": "hunter2-secret"}, cwd=tmp_path)
    config = with_profile(config, "oops", {"url": "postgresql://u:hunter2-secret@h/db"})
    before = config_path.read_text()
    with pytest.raises(ConfigError, match="refusing to save"):
        save_config(config)
    assert config_path.read_text() == before


def test_form_secrets_go_to_dotenv(tmp_path: Path) -> None:
    url, secret = split_password("postgresql://app:p%40ss@db.example.com:5432/app", "DBCONSOLE_PROD_PASSWORD")
    assert url == "postgresql://app:${DBCONSOLE_PROD_PASSWORD}@db.example.com:5432/app" and secret == "p@ss"
    env_file = tmp_path / ".env"
    write(env_file, "OTHER=1\nDBCONSOLE_PROD_PASSWORD=old\n")
    set_env_secret(env_file, "DBCONSOLE_PROD_PASSWORD", "p@ss")
    assert stat.S_IMODE(os.stat(env_file).st_mode) == 0o600
    write(tmp_path / "dbconsole.toml", f'[profiles.prod]\nurl = "{url}"\n')
    config = load_config(tmp_path / "dbconsole.toml", environ={}, cwd=tmp_path)
    assert "p%40ss" in config.profile("prod").url and "OTHER=1" in env_file.read_text()


def test_mask_url_forms() -> None:
    assert mask_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert mask_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert mask_url("host=h password='a b' user=u") == "host=h password=*** user=u"
    assert mask_url("postgresql://h/db?password=zzz&sslmode=require") == "postgresql://h/db?password=***&sslmode=require"
