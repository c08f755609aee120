"""``dbconsole demo``: starts real servers behind a real tunnel, and leaves nothing behind."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

DEMO_ENV = {**os.environ, "DBCONSOLE_DEMO_SCALE": "test", "PYTHONUNBUFFERED": "1"}


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start_demo(tmp_path: Path) -> tuple[subprocess.Popen, Path, list[int], Path]:
    err_path = tmp_path / "demo.err"
    proc = subprocess.Popen([sys.executable, "-m", "dbconsole", "demo", "--no-tui"], stdout=subprocess.PIPE,
                            stderr=open(err_path, "w"), text=True, env=DEMO_ENV, start_new_session=True)
    config_path = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("CONFIG "):
            config_path = Path(line.split(" ", 1)[1].strip())
            break
    assert config_path is not None, err_path.read_text()
    ports = [int(p) for p in re.findall(r"(?:listening on|SSH server on) 127\.0\.0\.1:(\d+)", err_path.read_text())]
    assert len(ports) == 3, err_path.read_text()
    return proc, config_path, ports, err_path


def cli(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dbconsole", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=120)


def assert_all_gone(ports: list[int], root: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(port_open(p) for p in ports) and not root.exists():
            return
        time.sleep(0.2)
    pytest.fail(f"left behind: open ports {[p for p in ports if port_open(p)]}, folder exists: {root.exists()}")


def test_demo_no_tui_serves_a_config_the_cli_accepts_and_sigterm_cleans_up(tmp_path) -> None:
    proc, config, ports, err = start_demo(tmp_path)
    try:
        assert all(port_open(p) for p in ports)
        check = cli(config, "check", "server", "--json")
        assert check.returncode == 0, check.stderr
        info = json.loads(check.stdout)
        assert info["tunnel"] is True and info["read_only"] is True
        tables = cli(config, "tables", "--left", "local", "--right", "server", "--json")
        assert tables.returncode == 0, tables.stderr
        statuses = {r["status"] for r in json.loads(tables.stdout)["tables"]}
        assert "more_right" in statuses and "left_only" in statuses
        refused = cli(config, "sync", "--from", "local", "--to", "server", "--yes")
        assert refused.returncode == 2 and "read-only" in refused.stderr
        legacy = cli(config, "diff", "--left", "legacy", "--right", "local", "--tables", "stocks,sectors", "--json")
        assert legacy.returncode == 0, legacy.stderr  # the old SQLite file: renamed and missing stocks, a fee
        found = {t["table"]: t for t in json.loads(legacy.stdout)["tables"]}
        assert found["public.stocks"]["changed"] >= 1 and found["public.stocks"]["only_right"] >= 1, found
        assert found["public.sectors"]["changed"] == 1 and found["public.sectors"]["only_right"] == 0, found
        synced = cli(config, "sync", "--from", "server", "--to", "local", "--tables", "stocks", "--json")
        assert synced.returncode == 0, synced.stderr
        assert json.loads(synced.stdout.splitlines()[-1])["event"] == "done"
        text = config.read_text()
        assert "${DBCONSOLE_DEMO_SERVER_PASSWORD}" in text and (config.parent / ".env").stat().st_mode & 0o077 == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    assert_all_gone(ports, config.parent)
    assert "Traceback" not in err.read_text()


def test_demo_killed_outright_is_cleaned_up_by_its_watchdog(tmp_path) -> None:
    proc, config, ports, _ = start_demo(tmp_path)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert_all_gone(ports, config.parent, timeout=30)


def test_demo_ctrl_c_cleans_up(tmp_path) -> None:
    proc, config, ports, err = start_demo(tmp_path)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) in (0, 130)
    assert_all_gone(ports, config.parent)
    assert "Traceback" not in err.read_text()
