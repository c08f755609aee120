"""Config files pointing at the test servers, written the way a user would write them.

``local`` is the drifted copy on ``pg_local`` (writable), ``server`` is the full copy on
``pg_server`` reached only through the real SSH server (read-only by default, like prod), and
``server_direct`` is the same database without the tunnel, for tests that are about the sync
rather than about SSH. The server password is a ``${VAR}`` reference resolved from a ``.env``
beside the config, so every test also exercises the secret path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomli_w

from dbconsole.config import Config, load_config

PASSWORD_VAR = "TEST_SERVER_DB_PASSWORD"


def write_config(folder: Path, dbs: Any, sshd: Any | None = None, *, extra: dict[str, Any] | None = None,
                 local_read_only: bool | None = None) -> Path:
    """Write ``dbconsole.toml`` and ``.env`` into ``folder``; return the config path."""
    server = dbs.server
    server_url = f"postgresql://{server.user}:${{{PASSWORD_VAR}}}@{server.host}:{server.port}/{dbs.server_db}"
    profiles: dict[str, Any] = {
        "local": {"url": dbs.local_url, "color": "green"},
        "server_direct": {"url": server_url, "read_only": True},
    }
    if local_read_only is not None:
        profiles["local"]["read_only"] = local_read_only
    if sshd is not None:
        profiles["server"] = {
            "url": server_url,
            "ssh": {"host": sshd.host, "port": sshd.port, "user": sshd.user, "key": str(sshd.client_key_path),
                    "known_hosts": str(sshd.known_hosts_path), "transport": getattr(sshd, "transport", "auto")},
            "color": "red",
        }
    document: dict[str, Any] = {"default_profile": "local", "profiles": profiles}
    for key, value in (extra or {}).items():
        if key == "profiles":
            profiles.update(value)
        else:
            document[key] = value
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "dbconsole.toml"
    path.write_text(tomli_w.dumps(document), encoding="utf-8")
    (folder / ".env").write_text(f"{PASSWORD_VAR}='{server.password}'\n", encoding="utf-8")
    return path


def load(path: Path) -> Config:
    return load_config(path, environ={}, cwd=path.parent)


MACHINE_VARS = ("SSH_AUTH_SOCK", "PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "DBCONSOLE_CONFIG",
                "DBCONSOLE_PROFILE", "ENVIRONMENT", "DATABASE_URL", "SERVER_DATABASE_URL")


def isolate_from_machine(tmp_path: Path, monkeypatch: Any) -> None:
    """A test sees no ~/.ssh/config, ssh-agent, PG* or profile variables of this machine."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    for var in MACHINE_VARS:
        monkeypatch.delenv(var, raising=False)
