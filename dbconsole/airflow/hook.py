"""dbconsole profiles from what an Airflow deployment already holds: connections, or a config file.

Why through Airflow's own :class:`~airflow.sdk.Connection` API and not a provider's hook: a
postgres connection is host, port, schema (the database), login, password and extras, all read
the same way whatever secrets backend stores them, so neither the postgres nor the ssh provider
is needed. The connection becomes the same raw profile table a ``dbconsole.toml`` holds and goes
through the config's own validation (:func:`~dbconsole.config.validation.profile_from_raw`), so
read-only defaults, SSH keys and URL checks are the very rules of the CLI.

Postgres connection extras: libpq options (``sslmode``, ``sslrootcert``, ``sslcert``, ``sslkey``,
``target_session_attrs``, ``options``, ...), and dbconsole's own ``read_only`` (default as for a
profile: writable only for a local database without SSH), ``connect_timeout``, and the SSH hop,
either ``ssh_conn_id`` (an ``ssh`` connection: host, port, login, password, extras ``key_file``,
``known_hosts``, ``compress``) or ``ssh`` (a table like a profile's ``ssh``: ``host``, ``port``,
``user``, ``key_file`` or ``key``, ``known_hosts``, ``jump``, ``transport``). The host key is always
checked against ``known_hosts``: a connection asking for ``no_host_key_check`` is refused.
Passwords are registered with dbconsole's redaction and never logged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from airflow.sdk import BaseHook
from psycopg.conninfo import make_conninfo

from dbconsole.config import Config, Profile, SyncSettings, load_config
from dbconsole.config.validation import profile_from_raw
from dbconsole.errors import ConfigError
from dbconsole.redact import register_secret

POSTGRES_CONN_TYPES = ("postgres", "postgresql")
SSH_CONN_TYPES = ("ssh",)
# libpq options a postgres connection's extras may carry into the profile's URL.
LIBPQ_EXTRAS = (
    "sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl", "sslcrldir", "sslsni", "target_session_attrs",
    "options", "gssencmode", "channel_binding", "keepalives", "keepalives_idle", "keepalives_interval",
    "keepalives_count", "tcp_user_timeout", "client_encoding", "require_auth",
)
_URL_VAR = "DBCONSOLE_AIRFLOW_URL"  # private names: the values are never expanded a second time
_SSH_PASSWORD_VAR = "DBCONSOLE_AIRFLOW_SSH_PASSWORD"
_SSH_EXTRA_NAMES = {"key_file": "key"}  # the ssh provider's names -> a profile's ssh keys


class ConnectionLike(Protocol):
    """What is read from an Airflow connection (``airflow.sdk.Connection`` has all of it)."""

    conn_id: str
    conn_type: str
    host: str | None
    port: int | None
    schema: str | None
    login: str | None
    password: str | None

    @property
    def extra_dejson(self) -> dict[str, Any]: ...


def profile_from_connection(conn: ConnectionLike, *, ssh_conn: ConnectionLike | None = None,
                            name: str | None = None) -> Profile:
    """The profile for a postgres connection (and the ssh connection its ``ssh_conn_id`` names).

    ``name`` is how messages and ``pg_stat_activity`` call it (default: the connection id).
    """
    where = f"Airflow connection '{conn.conn_id}'"
    if conn.conn_type not in POSTGRES_CONN_TYPES:
        raise ConfigError(f"{where}: conn_type is {conn.conn_type!r}, dbconsole needs a postgres connection")
    extras = dict(conn.extra_dejson or {})
    if extras.get("iam"):
        raise ConfigError(f"{where}: IAM authentication is not supported; give the connection a password")
    params: dict[str, Any] = {"host": conn.host or None, "port": conn.port or None, "dbname": conn.schema or None,
                              "user": conn.login or None, "password": conn.password or None}
    params.update({key: extras[key] for key in LIBPQ_EXTRAS if extras.get(key) is not None})
    register_secret(conn.password)
    url = make_conninfo(**{k: v for k, v in params.items() if v is not None})
    raw: dict[str, Any] = {"url_env": _URL_VAR}
    env = {_URL_VAR: url}
    if extras.get("read_only") is not None:
        raw["read_only"] = _as_bool(extras["read_only"], where, "read_only")
    if extras.get("connect_timeout") is not None:
        raw["connect_timeout"] = _as_int(extras["connect_timeout"], where, "connect_timeout")
    if ssh_conn is not None and extras.get("ssh"):
        raise ConfigError(f"{where}: give the SSH hop as ssh_conn_id or as ssh, not both")
    if ssh_conn is not None:
        raw["ssh"], env_ssh = _ssh_from_connection(ssh_conn)
        env.update(env_ssh)
    elif extras.get("ssh"):
        raw["ssh"], env_ssh = _ssh_from_table(extras["ssh"], where)
        env.update(env_ssh)
    return profile_from_raw(name or conn.conn_id, raw, env, where=where, origin=f"airflow:{conn.conn_id}")


def _ssh_from_connection(conn: ConnectionLike) -> tuple[dict[str, Any], dict[str, str]]:
    where = f"Airflow connection '{conn.conn_id}'"
    if conn.conn_type not in SSH_CONN_TYPES:
        raise ConfigError(f"{where}: conn_type is {conn.conn_type!r}, the SSH hop needs an ssh connection")
    extras = dict(conn.extra_dejson or {})
    table: dict[str, Any] = {"host": conn.host, "port": conn.port, "user": conn.login}
    for name in ("key_file", "known_hosts", "jump", "transport"):
        if extras.get(name):
            table[name] = extras[name]
    if extras.get("compress") is not None:
        table["compression"] = _as_bool(extras["compress"], where, "compress")
    _refuse_unchecked_host_keys(extras, where)
    if extras.get("private_key"):
        raise ConfigError(f"{where}: a private_key held in the connection is not supported; "
                          "put the key in a file on the worker and name it in key_file")
    ssh, env = _ssh_from_table(table, where)
    if conn.password:
        register_secret(conn.password)
        ssh["password"] = "${" + _SSH_PASSWORD_VAR + "}"
        env[_SSH_PASSWORD_VAR] = conn.password
    return ssh, env


def _ssh_from_table(table: Any, where: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A profile's ``ssh`` table from the extras' names; a password goes through a private variable."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: extra 'ssh' must be a table (host, port, user, key_file, known_hosts)")
    _refuse_unchecked_host_keys(table, where)
    ssh: dict[str, Any] = {}
    env: dict[str, str] = {}
    for key, value in table.items():
        if value is None or key == "no_host_key_check":
            continue
        key = _SSH_EXTRA_NAMES.get(key, key)
        if key == "port":
            value = _as_int(value, where, "ssh port")
        if key == "password":
            register_secret(str(value))
            env[_SSH_PASSWORD_VAR] = str(value)
            value = "${" + _SSH_PASSWORD_VAR + "}"
        ssh[key] = value
    return ssh, env


def _refuse_unchecked_host_keys(extras: Mapping[str, Any], where: str) -> None:
    if extras.get("no_host_key_check") not in (None, False, "false", "False"):
        raise ConfigError(f"{where}: dbconsole always checks the SSH host key; remove no_host_key_check "
                          "and give known_hosts (default ~/.ssh/known_hosts)")


def _as_bool(value: Any, where: str, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ConfigError(f"{where}: extra {key!r} must be true or false, not {value!r}")


def _as_int(value: Any, where: str, key: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: extra {key!r} must be a whole number, not {value!r}") from None


class DbconsoleHook(BaseHook):
    """One end of a sync: an Airflow postgres connection (``conn_id``), or a profile of a config file.

    ``DbconsoleHook(conn_id="prod_pg")`` reads the connection (and the ssh connection its
    ``ssh_conn_id`` extra names) when :meth:`get_profile` is called, that is on the worker, so
    secrets come from the deployment's secrets backend at run time. ``DbconsoleHook(profile="server",
    config_path="/opt/dbconsole/dbconsole.toml")`` takes the profile from the file (``.env`` beside
    it, ``${VAR}`` from the worker's environment), as ``dbconsole --config`` does.
    """

    conn_name_attr = "conn_id"
    conn_type = "postgres"
    hook_name = "dbconsole"

    def __init__(self, conn_id: str | None = None, *, profile: str | None = None,
                 config_path: str | os.PathLike[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if (conn_id is None) == (profile is None):
            raise ConfigError("DbconsoleHook needs exactly one of conn_id (an Airflow connection) "
                              "or profile (a profile of config_path)")
        if profile is not None and config_path is None:
            raise ConfigError(f"profile {profile!r} needs config_path (the dbconsole.toml that defines it)")
        self.conn_id = conn_id
        self.profile_name = profile
        self.config_path = Path(config_path) if config_path is not None else None

    def get_config(self) -> Config | None:
        """The dbconsole config file, when one was named (its ``[sync]`` rules apply to the run)."""
        return load_config(self.config_path) if self.config_path is not None else None

    def get_profile(self, config: Config | None = None) -> Profile:
        """The usable profile (an unusable one fails naming the variables it needs)."""
        if self.conn_id is not None:
            conn = self.get_connection(self.conn_id)
            ssh_id = (conn.extra_dejson or {}).get("ssh_conn_id")
            ssh_conn = self.get_connection(ssh_id) if ssh_id else None
            return profile_from_connection(conn, ssh_conn=ssh_conn)
        config = config if config is not None else self.get_config()
        assert config is not None and self.profile_name is not None
        return config.profile(self.profile_name).require_usable()


def settings_of(config: Config | None) -> SyncSettings:
    """A config file's ``[sync]`` rules, or the defaults when the ends are Airflow connections only."""
    return config.sync if config is not None else SyncSettings()
