"""The OpenSSH child never outlives dbconsole: quit, Ctrl+C, SIGTERM, SIGKILL.

A process that holds a tunnel (dbconsole's own connect(), as the CLI and the console use it)
prints its ``ssh`` child's pid and the watchdog's, then ends one of four ways; within seconds
neither may be left. Ctrl+C is sent to dbconsole's process group, as a terminal does: ssh runs
in a session of its own, so the signal never reaches it directly, and dbconsole closes it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import SshEndpoint
from tests.profiles import write_config

ROOT = Path(__file__).resolve().parents[1]
HOLDER = """
import sys, time
from pathlib import Path
from tests.profiles import load
from dbconsole.connect import connect, tunnels
from dbconsole.tunnel.watchdog import lifeline
config = load(Path(sys.argv[1]))
conn = connect(config.profile("server"))
assert conn.execute("SELECT 1").fetchone() == (1,)
tunnel = next(iter(tunnels._tunnels.values()))
print(tunnel._process.pid, lifeline._process.pid, flush=True)
if sys.argv[2] == "quit":
    sys.exit(0)
time.sleep(120)
"""


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")  # exited; only waiting for a (non-reaping) parent


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return _gone(pid)


@pytest.mark.parametrize("ending", ["quit", "ctrl-c", "sigterm", "sigkill"])
def test_no_ssh_process_is_left_behind(tmp_path, dbs, _sshd_server, ending) -> None:
    sshd = SshEndpoint(_sshd_server, "openssh")  # only the OpenSSH transport has a child process
    home = tmp_path / "home"
    home.mkdir()
    config = write_config(tmp_path, dbs, sshd)
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT)}
    env.pop("SSH_AUTH_SOCK", None)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(config), "quit" if ending == "quit" else "hold"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
                              start_new_session=True)
    try:
        assert holder.stdout is not None
        line = holder.stdout.readline()
        assert line, holder.stderr.read() if holder.stderr else ""
        ssh_pid, watchdog_pid = (int(p) for p in line.split())
        if ending != "quit":  # the holder still holds it: it is a running ssh
            assert Path(f"/proc/{ssh_pid}/cmdline").read_bytes().split(b"\0")[0].endswith(b"ssh")
        if ending == "ctrl-c":
            os.killpg(holder.pid, signal.SIGINT)
        elif ending == "sigterm":
            holder.send_signal(signal.SIGTERM)
        elif ending == "sigkill":
            holder.send_signal(signal.SIGKILL)
        holder.wait(30)
        assert _wait_gone(ssh_pid, 10), f"ssh {ssh_pid} still runs after {ending}"
        assert _wait_gone(watchdog_pid, 10), f"the watchdog {watchdog_pid} still runs after {ending}"
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
