"""The files the app writes: the config and ``.env`` are 0600, replaced atomically, never left
half-written or accompanied by a stray temp file, and a password survives the trip through
``.env`` whatever characters it holds (quotes, backslashes, ``#``, ``$``, even ``${HOME}``).

(A reader racing a writer, and a writer killed mid-save, are in tests/test_faults.py.)
"""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from psycopg import sql

from dbconsole import fsutil
from dbconsole.config import load_config, save_config, set_env_secret, with_profile
from dbconsole.connect import connect
from dbconsole.config import ProfileFormValues, save_profile
from tests.profiles import write_config

NASTY = "a'b\"c\\d $e${HOME}f#g=h`id`$(x)€\\"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".dbconsole"))


def test_save_makes_the_config_private_and_leaves_no_temp_file(tmp_path, dbs) -> None:
    path = write_config(tmp_path, dbs)
    path.chmod(0o644)
    env_path = tmp_path / ".env"
    env_path.chmod(0o644)
    config = load_config(path, environ={}, cwd=tmp_path)
    for i in range(5):
        config = with_profile(config, f"p{i}", {"url": f"postgresql://me@localhost/db{i}"})
        save_config(config)
        set_env_secret(env_path, f"P{i}_PASSWORD", f"pw-{i}")
    assert mode(path) == 0o600 and mode(env_path) == 0o600
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env", "dbconsole.toml"]
    assert set(load_config(path, environ={}, cwd=tmp_path).profiles) >= {"local", "p0", "p4"}


def test_save_into_a_new_config_folder(tmp_path) -> None:
    """The first save of a fresh install creates $XDG_CONFIG_HOME/dbconsole/dbconsole.toml."""
    environ = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    config = load_config(None, environ=environ, cwd=tmp_path)
    config = with_profile(config, "local", {"url": "postgresql://me@localhost/db"})
    target = save_config(config)
    assert target == tmp_path / "xdg" / "dbconsole" / "dbconsole.toml"
    assert mode(target) == 0o600 and leftovers(target.parent) == []


def test_a_save_that_fails_midway_keeps_the_old_file_and_no_temp_file(tmp_path, dbs, monkeypatch) -> None:
    path = write_config(tmp_path, dbs)
    before = path.read_bytes()
    config = with_profile(load_config(path, environ={}, cwd=tmp_path), "new", {"url": "postgresql://me@localhost/x"})

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fsutil.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        save_config(config)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_env_lines_the_user_wrote_are_kept(tmp_path) -> None:
    env_path = tmp_path / ".env"
    env_path.write_text("# mine\nexport DEBUG=1\nAPI_PASSWORD='old'\nOTHER=x\n", encoding="utf-8")
    set_env_secret(env_path, "API_PASSWORD", "new")
    set_env_secret(env_path, "SECOND_PASSWORD", "two")
    assert env_path.read_text(encoding="utf-8") == (
        "# mine\nexport DEBUG=1\nAPI_PASSWORD='new'\nOTHER=x\nSECOND_PASSWORD='two'\n")


def test_a_password_with_every_awkward_character_survives_dotenv_and_logs_in(dbs, tmp_path) -> None:
    """Saved through the profile form's code path into .env, read back by the loader (python-dotenv
    would expand ``${HOME}`` inside it), and accepted by the server: in process and by the CLI."""
    role = f"nasty_{secrets.token_hex(3)}"
    with dbs.server.admin_connect() as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(NASTY)))
    try:
        path = write_config(tmp_path, dbs)
        config = load_config(path, environ={}, cwd=tmp_path)
        url = f"postgresql://{role}@{dbs.server.host}:{dbs.server.port}/{dbs.server_db}"
        save_profile(config, ProfileFormValues(name="nasty", url=url, password=NASTY, read_only=True), None)
        assert NASTY not in path.read_text(encoding="utf-8")
        assert mode(path) == 0o600 and mode(tmp_path / ".env") == 0o600 and leftovers(tmp_path) == []

        reloaded = load_config(path, environ={}, cwd=tmp_path)
        with connect(reloaded.profile("nasty")) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (role,)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        result = subprocess.run([sys.executable, "-m", "dbconsole", "--config", str(path), "check", "nasty", "--json"],
                                capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
        assert result.returncode == 0, result.stderr
        assert NASTY not in result.stdout + result.stderr
    finally:
        with dbs.server.admin_connect() as admin:
            admin.execute(sql.SQL("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = {}").format(
                sql.Literal(role)))
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
