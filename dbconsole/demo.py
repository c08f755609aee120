"""``dbconsole demo``: a local and a "prod" database of your own in under twenty seconds.

Two throwaway PostgreSQL clusters start on free loopback ports (from the PostgreSQL found on the
machine, else the ``pgserver`` wheel): "server" holds a full stock-screener dataset (one table
of about a million rows) and is reachable only through a real SSH server on loopback with a
generated key, read-only, exactly like prod; "local" holds an older, partial, drifted copy and
a table of its own. A config and a ``.env`` (the passwords) are written to a temp folder and the
console opens on them. Quitting, Ctrl+C, SIGTERM or an error stop everything and remove the
folder; a watchdog process does the same if the demo itself is killed.

The SSH server runs as a child process rather than a thread: the console, a sync and the
tunnel's client side already share this process's interpreter lock.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from dbconsole.errors import DbconsoleError

LOCAL_PASSWORD_VAR = "DBCONSOLE_DEMO_LOCAL_PASSWORD"
SERVER_PASSWORD_VAR = "DBCONSOLE_DEMO_SERVER_PASSWORD"
DATABASE = "stockfinder"
SCALE_VAR = "DBCONSOLE_DEMO_SCALE"  # "test": a small dataset, for the test suite

Say = Callable[[str], None]


@dataclass
class DemoEnvironment:
    """Everything the demo started, and how to stop it."""

    root: Path
    clusters: list = field(default_factory=list)
    sshd: subprocess.Popen | None = None
    ssh_port: int | None = None
    reaper: subprocess.Popen | None = None
    config_path: Path | None = None

    def stop(self) -> None:
        """Stop the SSH server and both clusters, remove every folder; safe to call twice."""
        from dbconsole.connect import tunnels
        from dbconsole.sandbox.reaper import dismiss_reaper

        tunnels.close_all()
        if self.sshd is not None and self.sshd.poll() is None:
            self.sshd.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.sshd.wait(5)
            if self.sshd.poll() is None:
                self.sshd.kill()
                self.sshd.wait(5)
        for cluster in self.clusters:
            with contextlib.suppress(Exception):
                cluster.cleanup()
        shutil.rmtree(self.root, ignore_errors=True)
        if self.reaper is not None:
            dismiss_reaper(self.reaper)
            self.reaper = None


def start_demo(say: Say = print, *, scale=None) -> DemoEnvironment:
    """Start and seed both databases, the SSH server, and write the config. Raises on failure,
    after cleaning up whatever had started."""
    from dbconsole.sandbox.cluster import PgCluster
    from dbconsole.sandbox.pgbin import find_pg_bindir, pg_version
    from dbconsole.sandbox.reaper import start_reaper
    from dbconsole.sandbox.demo_extras import add_demo_extras
    from dbconsole.sandbox.demo_sqlite import write_legacy_sqlite
    from dbconsole.sandbox.seed import SeedScale, seed_local, seed_server
    from dbconsole.sandbox.sshd import spawn_sshd_process

    scale = scale or (SeedScale.TEST if os.environ.get(SCALE_VAR, "").lower() == "test" else SeedScale.DEMO)
    env = DemoEnvironment(root=Path(tempfile.mkdtemp(prefix="dbconsole-demo-")))
    try:
        bindir = find_pg_bindir()
        say(f"PostgreSQL {pg_version(bindir)} from {bindir}")
        env.clusters = [PgCluster("local", bindir), PgCluster("server", bindir)]
        local, server = env.clusters

        def start_and_seed(cluster, seed, label: str) -> None:
            cluster.start()
            say(f"{label} database listening on {cluster.host}:{cluster.port}")
            cluster.create_database(DATABASE)
            with cluster.connect(DATABASE) as conn:
                seed(conn, scale)
                add_demo_extras(conn, label)  # migrations, and what the server's newer ones added
            say(f"{label} database seeded")

        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(start_and_seed, local, seed_local, "local"),
                       pool.submit(start_and_seed, server, seed_server, "server")]
            for future in futures:
                future.result()
        with local.connect(DATABASE) as conn:
            legacy = write_legacy_sqlite(env.root, conn)
        say(f"legacy SQLite file written: {legacy.name}")
        env.sshd, env.ssh_port = spawn_sshd_process(env.root / "ssh", [(server.host, server.port)])
        say(f"SSH server on 127.0.0.1:{env.ssh_port} (key and known_hosts generated)")
        env.reaper = start_reaper([c.data_dir for c in env.clusters], [env.sshd.pid],
                                  [env.root, *[c.dir for c in env.clusters]])
        env.config_path = write_demo_config(env)
        return env
    except BaseException:
        env.stop()
        raise


def write_demo_config(env: DemoEnvironment) -> Path:
    """The demo's dbconsole.toml (secrets as ${VAR}) and the .env that holds them."""
    from dbconsole.sandbox.demo_sqlite import FILE_NAME as LEGACY_FILE
    from dbconsole.sandbox.sshd import CLIENT_KEY_FILE, DEFAULT_USER, KNOWN_HOSTS_FILE

    local, server = env.clusters
    ssh_dir = env.root / "ssh"
    document = {
        "default_profile": "local",
        "profiles": {
            "local": {
                "url": f"postgresql://{local.user}:${{{LOCAL_PASSWORD_VAR}}}@{local.host}:{local.port}/{DATABASE}",
                "color": "green",
                "description": "your laptop's database (an older copy)",
            },
            "server": {
                # With ssh, the URL names the database as the SSH host sees it.
                "url": f"postgresql://{server.user}:${{{SERVER_PASSWORD_VAR}}}@{server.host}:{server.port}/{DATABASE}",
                "ssh": {"host": "127.0.0.1", "port": env.ssh_port, "user": DEFAULT_USER,
                        "key": str(ssh_dir / CLIENT_KEY_FILE), "known_hosts": str(ssh_dir / KNOWN_HOSTS_FILE)},
                "color": "red",
                "description": "production, behind SSH (read-only)",
            },
            "legacy": {
                "url": f"sqlite:///{env.root / LEGACY_FILE}",
                "color": "yellow",
                "description": "the app's SQLite file from before the move to PostgreSQL",
            },
        },
        "sync": {"tables": {
            "public.users": {"mask": {"email": "mask_email"}, "preserve_columns": ["is_active"]}}},
        "tui": {"refresh_interval": 30},
    }
    config_path = env.root / "dbconsole.toml"
    from dbconsole.fsutil import atomic_write

    atomic_write(config_path, tomli_w.dumps(document))
    atomic_write(env.root / ".env", f"{LOCAL_PASSWORD_VAR}='{local.password}'\n{SERVER_PASSWORD_VAR}='{server.password}'\n")
    return config_path


def example_commands(config_path: Path) -> list[str]:
    config = f"dbconsole --config {config_path}"
    return [
        f"{config} profiles",
        f"{config} check server",
        f"{config} tables --left local --right server",
        f"{config} sync --from server --to local --tables users,stocks --dry-run",
        f"{config} sync --from server --to local --tables price_history --with-parents",
        f"{config} diff --left legacy --right local --tables stocks,sectors   # the old SQLite file",
        f"{config}          # the console",
    ]


@contextlib.contextmanager
def _terminate_on_sigterm(on_term: Callable[[], None]) -> Iterator[None]:
    """SIGTERM ends the demo like Ctrl+C does: through the normal clean-up path."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: on_term())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_demo(*, no_tui: bool = False) -> int:
    """The ``dbconsole demo`` command."""
    from rich.console import Console

    console = Console(highlight=False, stderr=True)
    started = time.monotonic()

    def raise_interrupt() -> None:
        raise KeyboardInterrupt

    env: DemoEnvironment | None = None
    with _terminate_on_sigterm(raise_interrupt):
        try:
            with console.status("Starting the demo databases…") as status:
                def say(message: str) -> None:
                    status.update(f"{message}…")
                    console.print(f"  [green]✓[/] {message}  [dim]{time.monotonic() - started:.1f}s[/]")

                env = start_demo(say)
            console.print(f"Ready in {time.monotonic() - started:.1f} s. Config: {env.config_path}")
            if no_tui:
                return _serve_until_interrupted(env, console)
            return _run_console(env)
        except KeyboardInterrupt:
            console.print("Stopping the demo…")
            return 130
        except DbconsoleError:
            raise
        finally:
            if env is not None:
                env.stop()
                console.print("Demo stopped; its servers and files are gone.")


def _serve_until_interrupted(env: DemoEnvironment, console) -> int:
    assert env.config_path is not None
    console.print("\nThe demo is up. Try, in another terminal:\n")
    for command in example_commands(env.config_path):
        print(f"  {command}", flush=True)
    console.print("\nPress Ctrl+C to stop and remove everything.")
    print(f"CONFIG {env.config_path}", flush=True)
    while env.sshd is None or env.sshd.poll() is None:
        time.sleep(0.5)
    console.print("The SSH server stopped unexpectedly; stopping the demo.")
    return 1


def _run_console(env: DemoEnvironment) -> int:
    from dbconsole.tui.app import run_app

    assert env.config_path is not None
    return run_app(config_path=str(env.config_path), demo=True)


if __name__ == "__main__":  # pragma: no cover - python -m dbconsole.demo
    sys.exit(run_demo(no_tui="--no-tui" in sys.argv))
