"""A real SSH server on 127.0.0.1 that does nothing but forward ports to an allow-list.

Why: dbconsole reaches server databases through an SSH hop (``ssh -L``), and the demo and the
tests must exercise that path for real: host-key checking against ``known_hosts``, public-key
authentication, ``direct-tcpip`` channels, dropped connections, a server killed mid-sync. The
machine's own sshd cannot be assumed, so this one is built on asyncssh and runs its event loop
in a background thread (or in a child process, ``python -m dbconsole.sandbox.sshd``, which a
test can SIGKILL).

It accepts exactly one user with exactly one ed25519 client key, no passwords, no shells, no
exec, no remote forwarding; local forwarding only to the (host, port) pairs it was given.
For two-hop (ProxyJump) tests a server can listen on a unix socket instead of a port (so no
client can reach it except through a bastion), and a bastion can *route* a (host, port) name
such as ``inner.internal:22`` to such a socket.
Forwarded bytes are relayed by asyncssh's transport-level forwarder in whole SSH packets, so
there is no per-byte Python on the path. Keys live in a work folder and are reused when the
server is restarted there, so a client's ``known_hosts`` stays valid across restarts.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterable, Mapping
from pathlib import Path

import asyncssh

from dbconsole.sandbox.errors import SandboxError

LOOPBACK = "127.0.0.1"
DEFAULT_USER = "tunnel"
HOST_KEY_FILE = "ssh_host_ed25519_key"
CLIENT_KEY_FILE = "client_ed25519_key"
KNOWN_HOSTS_FILE = "known_hosts"
_START_TIMEOUT = 30.0


class LoopbackSSHServer:
    """An SSH server on ``host`` (127.0.0.1) that only forwards to allowed targets.

    ``workdir`` receives the host key, the client key pair and ``known_hosts`` (mode 0600),
    created on first use and reused afterwards. ``allow`` lists the (host, port) targets a
    client may open with ``direct-tcpip``; ``localhost`` and ``127.0.0.1`` are the same target.
    ``port`` pins the listening port; otherwise a free one is chosen at the first start and
    kept for every restart. ``unix_path`` listens on that unix socket instead (no port, no
    ``known_hosts`` written: the client names the host, so the test writes that line).
    ``routes`` maps a (host, port) a client may ask for to a unix socket the server connects to.
    """

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        allow: Iterable[tuple[str, int]] = (),
        *,
        user: str = DEFAULT_USER,
        port: int | None = None,
        host: str = LOOPBACK,
        unix_path: str | os.PathLike[str] | None = None,
        routes: Mapping[tuple[str, int], str | os.PathLike[str]] | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port
        self.user = user
        self._allowed = {_target(h, p) for h, p in allow}
        self.unix_path = Path(unix_path) if unix_path is not None else None
        self._routes = {_target(h, p): str(path) for (h, p), path in (routes or {}).items()}
        self._host_key = _load_or_create_key(self.workdir / HOST_KEY_FILE)
        self._client_key = _load_or_create_key(self.workdir / CLIENT_KEY_FILE)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self.accepted = 0  # SSH connections accepted since start: proves a hop really carried a test

    # ------------------------------------------------------------------------------ files

    @property
    def client_key_path(self) -> Path:
        """The private key a client must present (OpenSSH format, readable by paramiko)."""
        return self.workdir / CLIENT_KEY_FILE

    @property
    def known_hosts_path(self) -> Path:
        """A ``known_hosts`` file naming this server; written once the port is known."""
        return self.workdir / KNOWN_HOSTS_FILE

    @property
    def host_public_key_line(self) -> str:
        """``ssh-ed25519 AAAA...``: the host key as it appears after the host in known_hosts."""
        return _public_line(self._host_key)

    # ------------------------------------------------------------------------------ control

    def allow(self, host: str, port: int) -> None:
        """Also allow forwarding to ``host:port`` (takes effect for new channels at once)."""
        self._allowed = self._allowed | {_target(host, port)}

    def is_allowed(self, host: str, port: int) -> bool:
        return _target(host, port) in self._allowed

    def route(self, host: str, port: int) -> str | None:
        """The unix socket that (host, port) is routed to, if it is."""
        return self._routes.get(_target(host, port))

    def is_running(self) -> bool:
        return self._acceptor is not None

    def start(self) -> LoopbackSSHServer:
        """Start listening (in a daemon thread); returns once connections are accepted."""
        if self.is_running():
            return self
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=_run_loop, args=(loop,), name="dbconsole-sshd", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            self._call(self._listen(), timeout=_START_TIMEOUT)
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            self._stop_loop()
            raise SandboxError(f"the SSH server could not listen on {self.host}:{self.port or 0}: {exc}") from None
        except BaseException:
            self._stop_loop()
            raise
        if self.unix_path is None:
            self._write_known_hosts()
        return self

    def stop(self) -> None:
        """Stop listening, close every client connection, and join the thread."""
        if self._loop is None:
            return
        try:
            if self._acceptor is not None:
                self._call(self._shutdown(close_listener=True), timeout=10)
        finally:
            self._acceptor = None
            self._stop_loop()
            if self.unix_path is not None:
                self.unix_path.unlink(missing_ok=True)

    def drop_connections(self) -> None:
        """Abort every open client connection, as a network drop would, but keep listening."""
        if self._loop is not None:
            self._call(self._shutdown(close_listener=False), timeout=10)

    def connection_count(self) -> int:
        """How many SSH client connections are open right now."""
        return len(self._connections)

    def __enter__(self) -> LoopbackSSHServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------ internals

    def _call(self, coro: Coroutine[object, object, None], timeout: float) -> None:
        """Run ``coro`` on the server's loop and wait for it."""
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _listen(self) -> None:
        sock = None
        if self.unix_path is not None:
            self.unix_path.unlink(missing_ok=True)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(str(self.unix_path))
            self.unix_path.chmod(0o600)
        self._acceptor = await asyncssh.create_server(
            lambda: _ForwardOnlyServer(self),
            self.host,
            self.port or 0,
            sock=sock,
            server_host_keys=[self._host_key],
            reuse_address=True,
            allow_scp=False,
            agent_forwarding=False,
            x11_forwarding=False,
            login_timeout=30,
        )
        if sock is None:
            self.port = self._acceptor.get_port()

    async def _shutdown(self, *, close_listener: bool) -> None:
        if close_listener and self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
        connections = list(self._connections)
        for conn in connections:
            conn.abort()
        if connections:
            await asyncio.wait([asyncio.ensure_future(c.wait_closed()) for c in connections], timeout=5)

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=10)
        if not loop.is_running():
            loop.close()

    def _write_known_hosts(self) -> None:
        names = [f"[{self.host}]:{self.port}"]
        if self.port == 22:
            names.append(self.host)
        lines = "".join(f"{name} {self.host_public_key_line}\n" for name in names)
        _write_private(self.known_hosts_path, lines.encode())

    def _check_client(self, username: str, key: asyncssh.SSHKey) -> bool:
        return username == self.user and key.public_data == self._client_key.public_data

    def _track(self, conn: asyncssh.SSHServerConnection) -> None:
        self._connections.add(conn)
        self.accepted += 1

    def _untrack(self, conn: asyncssh.SSHServerConnection) -> None:
        self._connections.discard(conn)


class _ForwardOnlyServer(asyncssh.SSHServer):
    """Per-connection policy: one user, one key, direct-tcpip to allowed targets, nothing else."""

    def __init__(self, owner: LoopbackSSHServer) -> None:
        self._owner = owner
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._owner._track(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._owner._untrack(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True  # authentication is always required

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return self._owner._check_client(username, key)

    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str, orig_port: int) -> object:
        routed = self._owner.route(dest_host, dest_port)
        if routed is not None and self._conn is not None:
            return self._conn.forward_unix_connection(routed)  # asyncssh awaits it and relays
        if self._owner.is_allowed(dest_host, dest_port):
            return True  # asyncssh opens the TCP connection and relays it
        raise asyncssh.ChannelOpenError(
            asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED,
            f"forwarding to {dest_host}:{dest_port} is not allowed",
        )


# ---------------------------------------------------------------------------- child process


# Every child started here, so that none outlives the interpreter (even if its caller forgot it).
_spawned: set[subprocess.Popen[str]] = set()


def spawn_sshd_process(
    workdir: str | os.PathLike[str],
    allow: Iterable[tuple[str, int]],
    port: int | None = None,
    *,
    user: str = DEFAULT_USER,
    routes: Mapping[tuple[str, int], str | os.PathLike[str]] | None = None,
) -> tuple[subprocess.Popen[str], int]:
    """Run the server in a child process (so it can be SIGKILLed); returns (process, port).

    The child uses the key files in ``workdir`` (creating them if needed), so restarting it
    there on the same port keeps ``known_hosts`` and the client key valid. Its log goes to
    ``workdir/sshd.log``. Processes still running at interpreter exit are killed.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "dbconsole.sandbox.sshd", "--workdir", str(workdir), "--user", user]
    for host, target_port in allow:
        cmd += ["--allow", f"{host}:{target_port}"]
    for (host, target_port), path in (routes or {}).items():
        cmd += ["--route", f"{host}:{target_port}={path}"]
    if port:
        cmd += ["--port", str(port)]
    log_path = workdir / "sshd.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True)
    _spawned.add(proc)
    try:
        line = _read_line(proc, _START_TIMEOUT)
        if not line.startswith("READY "):
            raise SandboxError(f"the SSH server process did not start: {_log_tail(log_path) or line or 'no output'}")
        return proc, int(line.split()[1])
    except BaseException:
        _kill(proc)
        raise
    finally:
        assert proc.stdout is not None
        proc.stdout.close()


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The child's first stdout line, or "" if it exits or stays silent for ``timeout`` seconds."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=0.1):
                return proc.stdout.readline().strip()
            if proc.poll() is not None:
                return ""
    return ""


def _kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


@atexit.register
def _kill_spawned() -> None:
    for proc in list(_spawned):
        _kill(proc)


def _log_tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(lines[-3:])


def main(argv: list[str] | None = None) -> int:
    """``python -m dbconsole.sandbox.sshd``: print ``READY <port>`` and serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m dbconsole.sandbox.sshd", description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", required=True, help="folder for keys and known_hosts (reused)")
    parser.add_argument("--allow", action="append", default=[], metavar="HOST:PORT", help="forwarding target")
    parser.add_argument("--port", type=int, default=None, help="listening port (default: a free one)")
    parser.add_argument("--user", default=DEFAULT_USER, help="the only accepted user name")
    parser.add_argument("--route", action="append", default=[], metavar="HOST:PORT=SOCKET",
                        help="forward channels for HOST:PORT to a unix socket")
    args = parser.parse_args(argv)
    routes: dict[tuple[str, int], str] = {}
    for item in args.route:
        name, _, path = item.partition("=")
        host, _, port = name.rpartition(":")
        if not host or not port.isdigit() or not path:
            parser.error(f"--route wants HOST:PORT=SOCKET, not {item!r}")
        routes[(host, int(port))] = path
    allow = []
    for item in args.allow:
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            parser.error(f"--allow wants HOST:PORT, not {item!r}")
        allow.append((host, int(port)))

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server = LoopbackSSHServer(args.workdir, allow, user=args.user, port=args.port, routes=routes)
    try:
        server.start()
    except SandboxError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"READY {server.port}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


# ---------------------------------------------------------------------------- helpers


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    loop.run_forever()


def _target(host: str, port: int) -> tuple[str, int]:
    return (LOOPBACK if host == "localhost" else host, int(port))


def _load_or_create_key(path: Path) -> asyncssh.SSHKey:
    """Read an ed25519 private key, or create it (and its .pub) readable by the owner only."""
    if path.exists():
        return asyncssh.read_private_key(path)
    key = asyncssh.generate_private_key("ssh-ed25519", comment=f"dbconsole-sandbox-{path.name}")
    _write_private(path, key.export_private_key("openssh"))
    _write_private(path.with_name(path.name + ".pub"), key.export_public_key("openssh"))
    return key


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` with mode 0600 atomically (a concurrent reader never sees half a file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def _public_line(key: asyncssh.SSHKey) -> str:
    algorithm, blob = key.export_public_key("openssh").decode().split()[:2]
    return f"{algorithm} {blob}"


if __name__ == "__main__":
    raise SystemExit(main())
