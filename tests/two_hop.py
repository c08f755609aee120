"""A bastion and an inner SSH host that only the bastion can reach, for ProxyJump tests.

The inner server listens on a unix socket (no TCP port at all), and the bastion routes the name
``inner.internal:22`` to that socket; ``inner.internal`` does not resolve on this machine. So a
client reaches the inner host through the bastion or not at all, and the name is resolved on the
far side. The bastion runs as a child process so a test can SIGKILL it mid-sync and bring it back
on the same port with the same keys. The client's side is written the way a user writes it:
``$HOME/.ssh/config`` with ``ProxyJump bastion`` and ``$HOME/.ssh/known_hosts``.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dbconsole.sandbox.sshd import LoopbackSSHServer, spawn_sshd_process

INNER_NAME = "inner.internal"


@dataclass
class TwoHop:
    bastion_dir: Path
    bastion_port: int
    inner: LoopbackSSHServer
    socket_path: Path
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def bastion(self) -> subprocess.Popen[str]:
        return self.processes[-1]

    @property
    def bastion_key_path(self) -> Path:
        return self.bastion_dir / "client_ed25519_key"

    @property
    def bastion_host_key_line(self) -> str:
        return " ".join((self.bastion_dir / "ssh_host_ed25519_key.pub").read_text().split()[:2])

    @property
    def bastion_name(self) -> str:
        return f"[127.0.0.1]:{self.bastion_port}"

    def kill_bastion(self) -> None:
        self.bastion.kill()
        self.bastion.wait(10)

    def start_bastion(self) -> None:
        proc, port = spawn_sshd_process(self.bastion_dir, [], port=self.bastion_port or None,
                                        routes={(INNER_NAME, 22): self.socket_path})
        self.bastion_port = port
        self.processes.append(proc)

    def write_client_files(self, home: Path, *, bastion_key: str | None = None, inner_key: str | None = None,
                           proxy_jump: bool = True) -> Path:
        """``$HOME/.ssh/config`` and ``known_hosts`` naming both hosts; a key line may be replaced."""
        ssh_dir = home / ".ssh"
        ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        config = (f"Host bastion\n  HostName 127.0.0.1\n  Port {self.bastion_port}\n  User tunnel\n"
                  f"  IdentityFile {self.bastion_key_path}\n\n"
                  f"Host inner\n  HostName {INNER_NAME}\n  User tunnel\n  IdentityFile {self.inner.client_key_path}\n"
                  + ("  ProxyJump bastion\n" if proxy_jump else ""))
        _write_private(ssh_dir / "config", config)
        lines = []
        if bastion_key != "":
            lines.append(f"{self.bastion_name} {bastion_key or self.bastion_host_key_line}")
        if inner_key != "":
            lines.append(f"{INNER_NAME} {inner_key or self.inner.host_public_key_line}")
        _write_private(ssh_dir / "known_hosts", "".join(line + "\n" for line in lines))
        return ssh_dir


def _write_private(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o600)


@contextlib.contextmanager
def two_hop(workdir: Path, db_host: str, db_port: int) -> Iterator[TwoHop]:
    """Start the inner server (forwarding only to the database) and the bastion in front of it."""
    socket_dir = Path(tempfile.mkdtemp(prefix="dbc-2hop-", dir="/tmp"))  # unix paths must stay short
    inner = LoopbackSSHServer(workdir / "inner", [(db_host, db_port)], unix_path=socket_dir / "inner.sock")
    hops = TwoHop(bastion_dir=workdir / "bastion", bastion_port=0, inner=inner, socket_path=socket_dir / "inner.sock")
    try:
        inner.start()
        hops.start_bastion()
        yield hops
    finally:
        for process in hops.processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
        inner.stop()
        shutil.rmtree(socket_dir, ignore_errors=True)
