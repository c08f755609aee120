"""No secret anywhere: not in any command's output (human or JSON, success or failure), not in
exception text, not in the TOML the app saves, not in any file the app writes.

The passwords are distinctive on purpose: a database password full of URL-special characters
(``/ @ : % & =`` and non-ASCII) for a role created for the test, the clusters' own random
passwords, a wrong password, and an SSH password. Each is looked for as written, URL-encoded,
and as any long fragment of it (a password cut at a '/' still leaks its first half).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
import tomli_w

from dbconsole import redact as redact_module
from dbconsole.config import load_config, parse_config, save_config, with_profile, without_profile
from dbconsole.connect import connect, describe_pg_error
from dbconsole.errors import ConfigError, ConnectError, DbconsoleError, SyncError
from dbconsole.sync import SyncRequest
from dbconsole.sync.engine import run_sync
from tests.secret_checks import (  # noqa: F401 - fixtures
    LITERAL_SSH, SECRET, SSH_SECRET, WRONG, fresh_process_state, leaks, leaky_role)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_secret_config(folder: Path, dbs, sshd, role: str) -> Path:
    """A config as a user writes it: passwords in .env behind ${VAR}s, one literal (URL-encoded)."""
    server = dbs.server
    where = f"{server.host}:{server.port}/{dbs.server_db}"
    ssh = {"host": sshd.host, "port": sshd.port, "user": sshd.user, "known_hosts": str(sshd.known_hosts_path),
           "transport": sshd.transport}
    document = {
        "default_profile": "local",
        "profiles": {
            "local": {"url": "postgresql://app:${LOCAL_DB_PASSWORD}@" + f"{dbs.local.host}:{dbs.local.port}/{dbs.local_db}"},
            "leaky": {"url": f"postgresql://{role}:${{LEAKY_PASSWORD}}@{where}", "read_only": True},
            "leaky_literal": {"url": f"postgresql://{role}:{quote(SECRET, safe='')}@{where}", "read_only": True},
            "server": {"url": "postgresql://app:${SERVER_DB_PASSWORD}@" + where,
                       "ssh": {**ssh, "key": str(sshd.client_key_path)}},
            "wrong_pw": {"url": f"postgresql://{role}:${{WRONG_PASSWORD}}@{where}", "read_only": True},
            "unreachable": {"url": f"postgresql://{role}:${{LEAKY_PASSWORD}}@127.0.0.1:{closed_port()}/db",
                            "read_only": True, "connect_timeout": 2},
            "ssh_pw": {"url": f"postgresql://{role}:${{LEAKY_PASSWORD}}@{where}",
                       "ssh": {**ssh, "password": "${SSH_PASSWORD}"}, "connect_timeout": 5},
            "ssh_literal": {"url": f"postgresql://{role}:${{LEAKY_PASSWORD}}@{where}",
                            "ssh": {**ssh, "password": LITERAL_SSH}, "connect_timeout": 5},
        },
        "sync": {"retries": 1},
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "dbconsole.toml"
    path.write_text(tomli_w.dumps(document), encoding="utf-8")
    (folder / ".env").write_text(
        f"LOCAL_DB_PASSWORD='{dbs.local.password}'\nSERVER_DB_PASSWORD='{server.password}'\n"
        f"LEAKY_PASSWORD='{SECRET}'\nWRONG_PASSWORD='{WRONG}'\nSSH_PASSWORD='{SSH_SECRET}'\n", encoding="utf-8")
    return path


def all_secrets(dbs) -> list[str]:
    return [SECRET, WRONG, SSH_SECRET, LITERAL_SSH, dbs.local.password, dbs.server.password,
            dbs.local.superuser_password, dbs.server.superuser_password]


# --------------------------------------------------------------------------- every command, as a process


def cli_commands(config: Path) -> list[list[str]]:
    c = ["--config", str(config)]
    commands = [["profiles"], ["profiles", "--json"]]
    for name in ("local", "server", "leaky", "leaky_literal", "wrong_pw", "unreachable", "ssh_pw", "ssh_literal"):
        commands += [["check", name], ["check", name, "--json"]]
    commands += [
        ["--debug", "check", "wrong_pw"],
        ["tables", "--left", "local", "--right", "leaky", "--exact"],
        ["tables", "--left", "local", "--right", "leaky", "--json"],
        ["tables", "--left", "local", "--right", "wrong_pw", "--json"],
        ["sync", "--from", "leaky", "--to", "local", "--tables", "users"],
        ["sync", "--from", "leaky_literal", "--to", "local", "--tables", "stocks", "--json"],
        ["sync", "--from", "leaky", "--to", "local", "--dry-run", "--json"],
        ["sync", "--from", "wrong_pw", "--to", "local", "--json"],
        ["sync", "--from", "unreachable", "--to", "local"],
        ["sync", "--from", "ssh_pw", "--to", "local", "--json"],
        ["sync", "--from", "leaky", "--to", "local", "--tables", "users", "--where", "id <", "--json"],
        ["sync", "--from", "local", "--to", "leaky", "--json"],
    ]
    return [c + command for command in commands]


def run_process(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dbconsole", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=120)


def isolated_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PG") and k not in ("DATABASE_URL", "SERVER_DATABASE_URL", "SSH_AUTH_SOCK")}
    for name in ("home", "xdg", "tmp", "cwd"):
        (tmp_path / name).mkdir(exist_ok=True)
    env.update(HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "xdg"), TMPDIR=str(tmp_path / "tmp"))
    return env, tmp_path / "cwd"


def files_holding(folder: Path, secret_list: list[str], skip: set[Path]) -> dict[str, list[str]]:
    found = {}
    for path in folder.rglob("*"):
        if path.is_file() and path not in skip:
            text = path.read_bytes().decode("utf-8", errors="replace")
            if hit := leaks(text, secret_list):
                found[str(path)] = hit
    return found


def test_no_command_prints_a_secret_human_or_json_success_or_failure(dbs, sshd, tmp_path, leaky_role) -> None:
    config = write_secret_config(tmp_path / "conf", dbs, sshd, leaky_role)
    env, cwd = isolated_env(tmp_path)
    commands = cli_commands(config)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda args: run_process(args, env, cwd), commands))
    secret_list = all_secrets(dbs)
    outcomes = {}
    for args, result in zip(commands, results):
        shown = " ".join(args[2:])
        outcomes[shown] = result.returncode
        assert not leaks(result.stdout + result.stderr, secret_list), (shown, leaks(result.stdout + result.stderr,
                                                                                    secret_list))
        assert "Traceback" not in result.stderr, (shown, result.stderr)
        if "--json" in args and result.returncode == 0:
            for line in result.stdout.splitlines():  # every line is JSON (every sync event)
                json.loads(line)
    # The sweep covered successes and failures of every kind.
    assert outcomes["check local"] == outcomes["check leaky --json"] == outcomes["check server"] == 0
    assert outcomes["check leaky_literal"] == 0
    assert outcomes["sync --from leaky --to local --tables users"] == 0
    for failing in ("check wrong_pw", "check unreachable", "check ssh_pw", "check ssh_literal",
                    "sync --from wrong_pw --to local --json", "sync --from unreachable --to local",
                    "sync --from leaky --to local --tables users --where id < --json"):
        assert outcomes[failing] == 1, failing
    assert outcomes["sync --from local --to leaky --json"] == 2  # read-only target
    # Nothing the app wrote (under HOME, XDG, TMPDIR or the working directory) holds a secret,
    # and neither does the sync state it keeps in the target database.
    authored = {config, config.parent / ".env"}
    assert files_holding(tmp_path, secret_list, skip=authored) == {}
    with dbs.local_admin() as local:
        state = " ".join(r[0] for r in local.execute(
            "SELECT t::text FROM _dbconsole.history t UNION ALL SELECT t::text FROM _dbconsole.watermark t"))
    assert not leaks(state, secret_list)


@pytest.mark.parametrize("url", [
    f"postgresql://leaky:{SECRET}@db.example:5432/app",  # raw: '/' and '@' break the URL
    f"postgresql://leaky:{quote(SECRET, safe='')}@db.example:99999/app",  # bad port
    f"mysql://leaky:{quote(SECRET, safe='')}@db.example/app",  # wrong scheme
    f"postgresql://leaky:{quote(SECRET, safe='')}@[::1/app",  # broken IPv6 host
    f"host=db.example password='{SECRET}' port=nope",  # keyword form, bad port
    f"host=db.example password={quote(SECRET, safe='')} oops",  # keyword form, junk
    f"postgresql://leaky:Zq7s3crEtA9%zz{quote(SECRET, safe='')}@db.example/app",  # bad percent-encoding
])
def test_malformed_url_holding_a_password_is_reported_without_it(tmp_path, url) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "dbconsole.toml").write_text(tomli_w.dumps({"profiles": {"broken": {"url": url}}}), encoding="utf-8")
    env, cwd = isolated_env(tmp_path)
    for args in (["profiles"], ["profiles", "--json"], ["check", "broken"]):
        result = run_process(["--config", str(folder / "dbconsole.toml"), *args], env, cwd)
        text = result.stdout + result.stderr
        assert not leaks(text, [SECRET]), (args, text)
        if result.returncode:
            assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    # The same URL from the environment, the way .env-only setups hold it.
    env_only = {**env, "DATABASE_URL": url, "SERVER_DATABASE_URL": url}
    result = run_process(["profiles", "--json"], env_only, cwd)
    assert not leaks(result.stdout + result.stderr, [SECRET]), result.stdout + result.stderr


# --------------------------------------------------------------------------- exception text


def test_exception_messages_never_hold_a_secret(dbs, sshd, tmp_path, leaky_role) -> None:
    path = write_secret_config(tmp_path / "conf", dbs, sshd, leaky_role)
    secret_list = all_secrets(dbs)
    errors: list[DbconsoleError] = []

    def expect(kind: type[DbconsoleError], call) -> None:
        redact_module._secrets.clear()  # as in a fresh process: nothing learnt yet
        with pytest.raises(kind) as info:
            call()
        errors.append(info.value)

    config = lambda: load_config(path, environ={}, cwd=path.parent)  # noqa: E731 - reload each time
    expect(ConnectError, lambda: connect(config().profile("wrong_pw")))
    expect(ConnectError, lambda: connect(config().profile("unreachable")))
    expect(ConnectError, lambda: connect(config().profile("ssh_pw")))
    expect(ConnectError, lambda: connect(config().profile("ssh_literal")))
    no_db = with_profile(config(), "no_db", {"url": config().profiles["leaky"].raw["url"] + "_nope",
                                             "read_only": True})
    expect(ConnectError, lambda: connect(no_db.profile("no_db")))
    need_ssl = with_profile(config(), "need_ssl", {"url": config().profiles["leaky"].raw["url"] + "?sslmode=require",
                                                   "read_only": True})
    expect(ConnectError, lambda: connect(need_ssl.profile("need_ssl")))
    expect(SyncError, lambda: run_sync(SyncRequest(source=config().profile("leaky"), target=config().profile("local"),
                                                   tables=("users",), where="id <", settings=config().sync)))
    expect(SyncError, lambda: run_sync(SyncRequest(source=config().profile("wrong_pw"),
                                                   target=config().profile("local"), settings=config().sync)))
    for url in (f"postgresql://u:{SECRET}@h/db", f"postgresql://u:{quote(SECRET, safe='')}@h:0/db",
                f"host=h password='{SECRET}' port=x"):
        expect(ConfigError, lambda: parse_config({"profiles": {"p": {"url": url}}}, path=None, environ={}))
    expect(ConfigError, lambda: parse_config({"profiles": {"p": {"url": "postgresql://u:${PW}@h/db", "colour": "red"}}},
                                             path=None, environ={"PW": SECRET}))
    for error in errors:
        assert not leaks(str(error), secret_list), (type(error).__name__, str(error))
        assert not leaks(repr(error), secret_list)
    assert any("password authentication failed" in str(e) for e in errors)
    # Objects that travel into logs and tracebacks print without their secrets as well.
    loaded = config()
    for thing in (loaded, *loaded.profiles.values(), loaded.profiles["ssh_pw"].ssh, loaded.profiles["ssh_literal"].ssh,
                  SyncRequest(source=loaded.profile("leaky"), target=loaded.profile("local"))):
        assert not leaks(repr(thing), secret_list), repr(thing)


def test_driver_messages_that_echo_a_dsn_are_redacted(dbs) -> None:
    """describe_pg_error() is the one way a driver error reaches a person: a DSN in it loses its
    password whether or not that password was ever seen before (URL, keyword and query forms)."""
    encoded = quote(SECRET, safe="")
    echoes = [
        f'connection to "postgresql://leaky:{encoded}@db.example:5432/app" failed: timeout',
        f"invalid connection option in 'host=db.example password={encoded} sslmode=nope'",
        f"could not connect: host=db.example user=leaky password='{SECRET}' dbname=app",
        f"bad URI postgresql://db.example/app?sslmode=require&password={encoded}",
    ]
    for message in echoes:
        redact_module._secrets.clear()
        assert not leaks(describe_pg_error(psycopg.OperationalError(message)), [SECRET]), message
    # A registered secret is removed from any text, in whatever position it appears.
    redact_module.register_secret(SECRET)
    shown = describe_pg_error(psycopg.OperationalError(f"FATAL: weird server echoing {SECRET} and {SECRET[:-2]}x"))
    assert SECRET not in shown and "***" in shown
    # And a real one: libpq's own message for a wrong password.
    url = dbs.server.url(dbs.server_db, password=SECRET)
    with pytest.raises(psycopg.OperationalError) as info:
        psycopg.connect(url, connect_timeout=5)
    assert not leaks(describe_pg_error(info.value), [SECRET])


# --------------------------------------------------------------------------- the saved TOML


def test_saved_config_holds_references_never_the_secrets(dbs, sshd, tmp_path, leaky_role) -> None:
    path = write_secret_config(tmp_path / "conf", dbs, sshd, leaky_role)
    config = load_config(path, environ={}, cwd=path.parent)
    # A literal password in the file is refused once it is also a ${VAR}'s value: drop that profile.
    config = without_profile(config, "leaky_literal")
    config = with_profile(config, "staging", {"url": "postgresql://app:${SERVER_DB_PASSWORD}@db.example/app",
                                              "ssh": {"host": "bastion", "password": "${SSH_PASSWORD}"}})
    config = with_profile(config, "leaky2", dict(config.profiles["leaky"].raw), old_name="leaky")
    save_config(config)
    text = path.read_text(encoding="utf-8")
    assert "${SERVER_DB_PASSWORD}" in text and "${SSH_PASSWORD}" in text and "${LEAKY_PASSWORD}" in text
    assert not leaks(text, [SECRET, SSH_SECRET, dbs.server.password, dbs.local.password])
    assert load_config(path, environ={}, cwd=path.parent).profiles["leaky2"].url.endswith(dbs.server_db)
    # A password typed where a ${VAR} belongs is refused, and nothing at all is written.
    before = path.read_bytes()
    typed = with_profile(config, "typed", {"url": f"postgresql://app:{quote(dbs.server.password, safe='')}@h/db"})
    with pytest.raises(ConfigError, match="refusing to save"):
        save_config(typed)
    assert path.read_bytes() == before
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")], "a temp file was left behind"
