"""The OpenSSH transport: the user's own ``ssh -N -L``, with our safety options around it.

Why OpenSSH: it honours all of ``~/.ssh/config`` (ProxyJump bastions, certificates, agents,
ControlMaster, HostKeyAlias, Match blocks) and moves bytes faster than paramiko. What we add:

* a forward from ``127.0.0.1:<free port>`` to the database ``host:port``, resolved on the far
  side, with ``ExitOnForwardFailure``, ``BatchMode`` (never a prompt over the console),
  ``ServerAlive*`` (a dead peer ends the tunnel in ~45 s) and ``Compression`` (``ssh.compression``);
* the profile's ``user``/``port``/``key``/``known_hosts``/``jump`` as command-line options (they win);
* a generated config file passed with ``-F``: the user's ``$HOME/.ssh/config`` is included first
  (its values win), then defaults: ``StrictHostKeyChecking yes`` (fail closed unless the user's
  config says otherwise for that host; never ``accept-new`` on our own) and ``$HOME``-based
  ``UserKnownHostsFile``. OpenSSH finds ``~`` through the password database, not ``$HOME``, and a
  jump hop's ssh sees only ``-F``, not our ``-o`` options; the file makes both hops agree with
  the rest of dbconsole;
* "up" means a probe through the forward got an answer from the database (PostgreSQL's SSL
  request: one byte back, nothing logged); a refused channel shows up in ssh's stderr instead;
* the child runs in its own process group, registered with the watchdog (:mod:`.watchdog`), so it
  dies with dbconsole even after a SIGKILL;
* ControlMaster: when the user's own master runs for the host (``ssh -O check``), the forward is
  added to it (``ssh -O forward``, no login, no prompt) and taken back on close; otherwise the
  child is a connection of its own, never a master (``ControlMaster=no``: our exit must not cut
  the user's other sessions).
"""

from __future__ import annotations

import collections
import os
import pwd
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from dbconsole.config import SshSettings
from dbconsole.osuser import expand_user_path, home_dir
from dbconsole.tunnel.base import TransportName, require_key_file, ssh_client, tunnel_error
from dbconsole.tunnel.openssh_errors import Hop, describe_failure, forward_refusal, is_local_port_taken
from dbconsole.tunnel.watchdog import lifeline

SERVER_ALIVE_INTERVAL = 15
SERVER_ALIVE_COUNT_MAX = 3
_PORT_ATTEMPTS = 3
_STDERR_LINES = 400
_SSL_REQUEST = struct.pack("!ii", 8, 80877103)  # PostgreSQL answers one byte, S or N, before any login
_REFUSAL_GRACE = 0.5  # ssh writes "open failed" before it closes our socket; let the reader catch up
_DEFAULT_IDENTITIES = ("id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk")


class OpenSshTunnel:
    """A running ``ssh -N -L`` child; see the module docstring."""

    transport: TransportName = "openssh"

    def __init__(self, process: subprocess.Popen[bytes], local_port: int, stderr: _StderrTail, workdir: Path,
                 hop: Hop) -> None:
        self._process = process
        self.local_port = local_port
        self._stderr = stderr
        self._workdir = workdir
        self._hop = hop
        self._closed = False
        self.database_ssl: bool | None = None  # what the database answered the "up" probe

    @classmethod
    def start(cls, ssh: SshSettings, remote_host: str, remote_port: int, timeout: float) -> OpenSshTunnel:
        """Start ``ssh`` and return once the forward reaches the database port."""
        client = ssh_client()
        if client is None:
            raise tunnel_error("no ssh client on PATH", transient=False)
        key = require_key_file(ssh)
        known_hosts = expand_user_path(ssh.known_hosts) if ssh.known_hosts else None
        workdir = Path(tempfile.mkdtemp(prefix="dbconsole-ssh-"))
        try:
            config_path = write_config(workdir, known_hosts, timeout)
            hop = _hop(client, config_path, ssh, known_hosts)
            through_master = MasterForward.open(client, config_path, ssh, key, known_hosts, remote_host, remote_port,
                                                timeout, workdir)
            if through_master is not None:
                return through_master  # type: ignore[return-value]
            for _attempt in range(_PORT_ATTEMPTS):
                local_port = _free_port()
                command = build_command(client, config_path, ssh, key, known_hosts, local_port,
                                        remote_host, remote_port, timeout)
                tunnel = cls._spawn(command, local_port, workdir, hop)
                try:
                    tunnel._wait_until_up(timeout)
                    return tunnel
                except _PortTaken:
                    tunnel._stop_child()
                except BaseException:
                    tunnel._stop_child()
                    raise
            raise tunnel_error(f"no free local port for the SSH tunnel after {_PORT_ATTEMPTS} tries", transient=True)
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise

    @classmethod
    def _spawn(cls, command: list[str], local_port: int, workdir: Path, hop: Hop) -> OpenSshTunnel:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, start_new_session=True, close_fds=True)
        lifeline.guard(process.pid)
        assert process.stderr is not None
        return cls(process, local_port, _StderrTail(process.stderr), workdir, hop)

    # ------------------------------------------------------------------ Tunnel protocol

    def is_alive(self) -> bool:
        return not self._closed and self._process.poll() is None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop_child()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def why_unreachable(self, remote_host: str, remote_port: int, timeout: float) -> str | None:
        if self._process.poll() is not None:
            return f"the SSH connection is gone ({describe_failure(self._stderr.lines(), self._hop, timeout)})"
        refusal = forward_refusal(self._stderr.lines())
        if refusal:
            return f"the SSH host cannot reach the database at {remote_host}:{remote_port} ({refusal})"
        return None

    # ------------------------------------------------------------------ lifecycle

    def _wait_until_up(self, timeout: float) -> None:
        # ConnectTimeout bounds each hop's TCP connect and banner; the rest is authentication.
        deadline = time.monotonic() + 2 * timeout + 2
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._stderr.finish()
                lines = self._stderr.lines()
                if is_local_port_taken(lines):
                    raise _PortTaken()
                raise describe_failure(lines, self._hop, timeout)
            probe = self._probe(max(0.2, deadline - time.monotonic()))
            if probe == "up":
                return
            if probe == "refused":
                reason = forward_refusal(self._stderr.lines()) or "channel refused"
                raise tunnel_error(f"the SSH host cannot reach the database ({reason})",
                                   transient="connect failed" in reason)
            time.sleep(0.02)
        raise tunnel_error(f"SSH host {self._hop.host}:{self._hop.port} did not set up the tunnel within "
                           f"{2 * timeout + 2:g} s", transient=True)

    def _probe(self, timeout: float) -> str:
        """``up``, ``refused`` (the channel to the database failed) or ``not yet`` (no listener).

        The probe asks the database whether it speaks SSL: PostgreSQL answers ``S`` or ``N`` before
        any login, so an answer proves the whole path. After ``N`` we just close; after ``S`` we
        finish the TLS handshake and close cleanly: either way the server logs nothing (it keeps
        quiet about a client that leaves before sending a startup packet).
        """
        try:
            sock = socket.create_connection(("127.0.0.1", self.local_port), timeout=0.5)
        except OSError:
            return "not yet"
        before = len(self._stderr.lines())
        answer = b""
        try:
            sock.settimeout(timeout)
            sock.sendall(_SSL_REQUEST)
            answer = sock.recv(1)
            if answer == b"S":
                _finish_tls(sock)
        except OSError:
            pass
        finally:
            sock.close()
        if answer:
            self.database_ssl = answer == b"S"
            return "up"  # something on the far side answered (PostgreSQL: S or N)
        deadline = time.monotonic() + _REFUSAL_GRACE
        while time.monotonic() < deadline and not forward_refusal(self._stderr.lines()[before:]):
            time.sleep(0.01)
        return "refused"

    def _stop_child(self) -> None:
        process = self._process
        if process.poll() is None:
            try:
                os.killpg(process.pid, 15)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                process.wait(3)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(process.pid, 9)
                except (ProcessLookupError, PermissionError):
                    pass
                process.wait(3)
        lifeline.release(process.pid)
        self._stderr.finish()


class MasterForward:
    """A forward added to the user's running ControlMaster (``ssh -O forward``), removed on close.

    Users with a second factor on the bastion keep a master connection open; through it no
    login (and no prompt) is needed. The forward lives in their master, so it ends with it;
    dbconsole takes it back with ``ssh -O cancel`` on close (after a SIGKILL it stays until the
    master ends: the watchdog cannot reach into another process's connection).
    """

    transport: TransportName = "openssh"

    def __init__(self, control: list[str], local_port: int, workdir: Path) -> None:
        self._control_args = control
        self.local_port = local_port
        self._workdir = workdir
        self._closed = False
        self.database_ssl: bool | None = None  # not probed

    @classmethod
    def open(cls, client: str, config_path: Path, ssh: SshSettings, key: str | None, known_hosts: str | None,
             remote_host: str, remote_port: int, timeout: float, workdir: Path) -> MasterForward | None:
        """The forward through the user's master, or None when no master runs for this host."""
        local_port = _free_port()
        command = build_command(client, config_path, ssh, key, known_hosts, local_port, remote_host, remote_port,
                                timeout)
        control = [arg for arg in command[1:] if arg not in ("-N", "-v")]
        forward = cls(control, local_port, workdir)
        if not forward._run("check"):
            return None
        if not forward._run("forward"):
            return None  # the master refused it: fall back to a connection of our own
        return forward

    def _run(self, operation: str) -> bool:
        command = [shutil.which("ssh") or "ssh", "-O", operation, *self._control_args]
        try:
            return subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=10).returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False

    def is_alive(self) -> bool:
        return not self._closed and self._run("check")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._run("cancel")
            shutil.rmtree(self._workdir, ignore_errors=True)

    def why_unreachable(self, remote_host: str, remote_port: int, timeout: float) -> str | None:
        if not self._run("check"):
            return "the SSH master connection is gone"
        return None


class _PortTaken(Exception):
    """ssh could not listen on the local port we picked; pick another."""


class _StderrTail:
    """Reads ssh's stderr in a thread (the pipe never fills), keeping the last lines."""

    def __init__(self, stream) -> None:  # type: ignore[no-untyped-def]
        self._lines: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
        self._stream = stream
        self._thread = threading.Thread(target=self._read, name="dbconsole-ssh-stderr", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for raw in self._stream:
                self._lines.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
        except (OSError, ValueError):
            pass

    def lines(self) -> list[str]:
        return list(self._lines)

    def finish(self) -> None:
        """Wait for the last lines once the process has exited (its stderr then closes)."""
        self._thread.join(timeout=2)


# ---------------------------------------------------------------------- command and config


def write_config(workdir: Path, known_hosts: str | None, timeout: float) -> Path:
    """The ``-F`` file: the user's config first (it wins), then our fail-closed defaults for every hop."""
    home = home_dir()
    user_config = home / ".ssh" / "config"
    lines = ["# Written by dbconsole for one tunnel; removed when the tunnel closes."]
    if user_config.is_file():
        lines.append(f"Include {_quote(str(user_config))}")
    known = [known_hosts] if known_hosts else [str(home / ".ssh" / "known_hosts"), str(home / ".ssh" / "known_hosts2")]
    lines += [
        "Host *",
        "  StrictHostKeyChecking yes",
        "  BatchMode yes",
        f"  UserKnownHostsFile {' '.join(_quote(path) for path in known)}",
        f"  ConnectTimeout {max(1, round(timeout))}",
        f"  ServerAliveInterval {SERVER_ALIVE_INTERVAL}",
        f"  ServerAliveCountMax {SERVER_ALIVE_COUNT_MAX}",
    ]
    if _passwd_home() != home:  # OpenSSH's own defaults would look in the password database's home
        lines += [f"  IdentityFile {_quote(str(home / '.ssh' / name))}" for name in _DEFAULT_IDENTITIES]
    path = workdir / "ssh_config"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def build_command(client: str, config_path: Path, ssh: SshSettings, key: str | None, known_hosts: str | None,
                  local_port: int, remote_host: str, remote_port: int, timeout: float) -> list[str]:
    """``ssh -N -L 127.0.0.1:<port>:<db host>:<db port> ... -- <host>``; the profile's values as options."""
    target = f"[{remote_host}]" if ":" in remote_host else remote_host
    command = [client, "-N", "-v", "-F", str(config_path),
               "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes",
               "-o", f"ServerAliveInterval={SERVER_ALIVE_INTERVAL}", "-o", f"ServerAliveCountMax={SERVER_ALIVE_COUNT_MAX}",
               "-o", f"ConnectTimeout={max(1, round(timeout))}",
               "-o", f"Compression={'yes' if ssh.compression else 'no'}",
               "-o", "ControlMaster=no",  # never become a master: our exit would cut the user's sessions
               "-L", f"127.0.0.1:{local_port}:{target}:{remote_port}"]
    if ssh.port:
        command += ["-p", str(ssh.port)]
    if ssh.user:
        command += ["-l", ssh.user]
    if key:
        command += ["-i", key]
    if known_hosts:
        command += ["-o", f"UserKnownHostsFile={_quote(known_hosts)}"]
    if ssh.jump:
        command += ["-J", ssh.jump]
    return command + ["--", ssh.host]


def _hop(client: str, config_path: Path, ssh: SshSettings, known_hosts: str | None) -> Hop:
    """How ssh will see the host (after the config): for error messages only; one fast local ``ssh -G``."""
    command = [client, "-G", "-F", str(config_path)]
    if ssh.port:
        command += ["-p", str(ssh.port)]
    if ssh.jump:
        command += ["-J", ssh.jump]
    resolved: dict[str, str] = {}
    try:
        result = subprocess.run(command + ["--", ssh.host], capture_output=True, text=True, timeout=10,
                                stdin=subprocess.DEVNULL)
        for line in result.stdout.splitlines():
            name, _, value = line.partition(" ")
            resolved.setdefault(name, value)
    except (OSError, subprocess.SubprocessError):
        pass
    port = resolved.get("port", "")
    jump = resolved.get("proxyjump")
    known = known_hosts or resolved.get("userknownhostsfile", "").split(" ")[0] or str(home_dir() / ".ssh" / "known_hosts")
    return Hop(host=resolved.get("hostname", ssh.host), port=int(port) if port.isdigit() else ssh.port or 22,
               known_hosts=known, jump=jump if jump and jump != "none" else None)


def _finish_tls(sock: socket.socket) -> None:
    """A TLS handshake without checks (nothing is sent through it), then a clean close."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with context.wrap_socket(sock) as tls:
            tls.unwrap()
    except (OSError, ValueError):
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _passwd_home() -> Path | None:
    try:
        return Path(pwd.getpwuid(os.getuid()).pw_dir)
    except KeyError:
        return None


def _quote(value: str) -> str:
    return f'"{value}"' if any(c.isspace() for c in value) else value
