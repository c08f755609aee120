"""Which transport a profile gets, what the OpenSSH child is told, and the host-key rule's edges.

The choice and the command line are pure logic (unit tests); the edges run against the real
SSH server: without an ``ssh`` on PATH the paramiko fallback carries the tunnel, a refused
unknown key leaves ``known_hosts`` untouched (fail closed: nothing is recorded on our own), and
a user's own ``StrictHostKeyChecking accept-new`` for a host is honoured by the OpenSSH transport.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from dbconsole.config import SshSettings
from dbconsole.connect import connect, tunnels
from dbconsole.errors import ConfigError, TunnelError
from dbconsole.tunnel.base import choose_transport
from dbconsole.tunnel.openssh import build_command, write_config
from tests.cli_checks import assert_one_line, run_cli
from tests.profiles import PASSWORD_VAR, isolate_from_machine, load, write_config as write_profiles


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    isolate_from_machine(tmp_path, monkeypatch)
    yield
    tunnels.close_all()


def test_auto_picks_openssh_when_ssh_is_on_path_and_paramiko_otherwise(tmp_path, monkeypatch) -> None:
    assert choose_transport(SshSettings(host="h")) == "openssh"
    assert choose_transport(SshSettings(host="h", password="pw")) == "paramiko"  # BatchMode never asks
    assert choose_transport(SshSettings(host="h", transport="paramiko")) == "paramiko"
    with pytest.raises(TunnelError, match="cannot use ssh.password"):
        choose_transport(SshSettings(host="h", password="pw", transport="openssh"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no ssh client anywhere
    assert choose_transport(SshSettings(host="h")) == "paramiko"
    with pytest.raises(TunnelError, match="no ssh client is on PATH"):
        choose_transport(SshSettings(host="h", transport="openssh"))


def test_the_new_ssh_keys_are_checked(tmp_path) -> None:
    base = {"url": "postgresql://u@db/x", "ssh": {"host": "bastion"}}
    for ssh, message in (({"transport": "putty"}, "transport must be one of auto, openssh, paramiko"),
                         ({"compression": "yes"}, "compression must be true or false"),
                         ({"jump": 3}, "jump must be a string")):
        path = write_profiles(tmp_path, _NoDbs(), extra={"profiles": {"p": {**base, "ssh": {"host": "b", **ssh}}}})
        with pytest.raises(ConfigError, match=message):
            load(path)
    path = write_profiles(tmp_path, _NoDbs(), extra={"profiles": {"p": {**base, "ssh": {
        "host": "b", "jump": "ops@gate:2222,inner", "compression": False, "transport": "paramiko"}}}})
    ssh = load(path).profile("p").ssh
    assert (ssh.jump, ssh.compression, ssh.transport) == ("ops@gate:2222,inner", False, "paramiko")
    assert SshSettings(host="h").compression is True and SshSettings(host="h").transport == "auto"


def test_the_generated_config_lets_the_users_config_win_and_fails_closed(tmp_path) -> None:
    home = Path.home()
    (home / ".ssh").mkdir()
    (home / ".ssh" / "config").write_text("Host *\n  User someone\n")
    text = write_config(tmp_path, None, 7).read_text()
    include = text.index(f"Include {home / '.ssh' / 'config'}")
    defaults = text.index("Host *")
    assert include < defaults  # OpenSSH keeps the first value it reads: the user's
    assert "StrictHostKeyChecking yes" in text and "accept-new" not in text and "BatchMode yes" in text
    assert f"UserKnownHostsFile {home / '.ssh' / 'known_hosts'}" in text and "ConnectTimeout 7" in text
    assert (tmp_path / "ssh_config").stat().st_mode & 0o777 == 0o600


def test_the_command_carries_the_profiles_values_and_the_safety_options(tmp_path) -> None:
    ssh = SshSettings(host="-oProxyCommand=evil", port=2222, user="ops", jump="gate", compression=False)
    command = build_command("/usr/bin/ssh", tmp_path / "cfg", ssh, "/k/id", "/k/known", 40000, "::1", 5432, 10)
    assert command[:2] == ["/usr/bin/ssh", "-N"] and command[-2:] == ["--", "-oProxyCommand=evil"]
    joined = " ".join(command)
    for option in ("-F " + str(tmp_path / "cfg"), "BatchMode=yes", "ExitOnForwardFailure=yes", "ServerAliveInterval=15",
                   "ServerAliveCountMax=3", "ConnectTimeout=10", "Compression=no", "-L 127.0.0.1:40000:[::1]:5432",
                   "-p 2222", "-l ops", "-i /k/id", "UserKnownHostsFile=/k/known", "-J gate"):
        assert option in joined, option
    assert "StrictHostKeyChecking" not in joined  # the generated file sets it, after the user's config


def test_without_an_ssh_client_the_paramiko_fallback_carries_the_tunnel(tmp_path, dbs, _sshd_server, capsys,
                                                                         monkeypatch) -> None:
    from tests.conftest import SshEndpoint

    config = write_profiles(tmp_path, dbs, SshEndpoint(_sshd_server, "auto"))  # type: ignore[arg-type]
    monkeypatch.setenv("PATH", str(tmp_path))
    code, out, err = run_cli(capsys, "--config", str(config), "check", "server", "--json")
    assert code == 0, err
    assert json.loads(out)["tunnel"] is True
    with connect(load(config).profile("server")) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert [t.transport for t in tunnels._tunnels.values()] == ["paramiko"]


def test_a_refused_unknown_key_is_not_recorded(tmp_path, dbs, sshd, capsys) -> None:
    path = write_profiles(tmp_path, dbs, sshd)
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    path.write_text(path.read_text().replace(str(sshd.known_hosts_path), str(empty)))
    code, _, err = run_cli(capsys, "--config", str(path), "check", "server")
    assert_one_line(code, err, 1, "unknown", "SHA256:")
    assert empty.read_text() == ""
    assert not (Path.home() / ".ssh" / "known_hosts").exists()


def test_the_users_own_accept_new_for_a_host_is_honoured_by_openssh(tmp_path, dbs, _sshd_server, capsys) -> None:
    server = _sshd_server
    ssh_dir = Path.home() / ".ssh"
    ssh_dir.mkdir()
    known = ssh_dir / "known_hosts"
    (ssh_dir / "config").write_text(
        f"Host lab\n  HostName {server.host}\n  Port {server.port}\n  User {server.user}\n"
        f"  IdentityFile {server.client_key_path}\n  StrictHostKeyChecking accept-new\n")
    (ssh_dir / "config").chmod(0o600)
    url = f"postgresql://{dbs.server.user}:${{{PASSWORD_VAR}}}@{dbs.server.host}:{dbs.server.port}/{dbs.server_db}"
    path = write_profiles(tmp_path, dbs, extra={"profiles": {"lab": {"url": url, "ssh": {"host": "lab",
                                                                                           "transport": "openssh"}}}})
    code, out, err = run_cli(capsys, "--config", str(path), "check", "lab", "--json")
    assert code == 0, err
    assert server.host_public_key_line in known.read_text()  # recorded by OpenSSH, as the user asked


class _NoDbs:
    """write_config wants test databases; these unit tests only need a config file."""

    class _Server:
        user, password, host, port = "u", "p", "127.0.0.1", 5432

    server = _Server()
    server_db = "x"
    local_url = "postgresql://u@127.0.0.1/x"


def test_a_running_controlmaster_of_the_users_carries_the_forward_and_we_never_become_one(
        tmp_path, dbs, _sshd_server, monkeypatch) -> None:
    import socket
    import subprocess
    import tempfile

    from dbconsole.tunnel.openssh import MasterForward

    server = _sshd_server
    control_dir = Path(tempfile.mkdtemp(prefix="dbc-cm-", dir="/tmp"))  # unix socket paths must stay short
    ssh_dir = Path.home() / ".ssh"
    ssh_dir.mkdir()
    config = ssh_dir / "config"
    config.write_text(
        f"Host lab\n  HostName {server.host}\n  Port {server.port}\n  User {server.user}\n"
        f"  IdentityFile {server.client_key_path}\n  UserKnownHostsFile {server.known_hosts_path}\n"
        f"  ControlMaster auto\n  ControlPath {control_dir}/%C\n")
    config.chmod(0o600)
    url = f"postgresql://{dbs.server.user}:${{{PASSWORD_VAR}}}@{dbs.server.host}:{dbs.server.port}/{dbs.server_db}"
    profile = load(write_profiles(tmp_path, dbs, extra={"profiles": {"lab": {
        "url": url, "ssh": {"host": "lab", "transport": "openssh"}}}})).profile("lab")
    check = ["ssh", "-F", str(config), "-O", "check", "lab"]
    try:
        with connect(profile) as conn:  # no master yet: a connection of our own, and not a master
            assert conn.execute("SELECT 1").fetchone() == (1,)
            assert subprocess.run(check, capture_output=True).returncode != 0
        tunnels.close_all()

        master = subprocess.Popen(["ssh", "-F", str(config), "-M", "-N", "-o", "BatchMode=yes", "lab"],
                                  stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                if subprocess.run(check, capture_output=True).returncode == 0:
                    break
                time.sleep(0.1)
            accepted = server.accepted
            with connect(profile) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
                (tunnel,) = tunnels._tunnels.values()
                assert isinstance(tunnel, MasterForward) and tunnel.is_alive()
                assert server.accepted == accepted  # no new SSH login: the master carried it
            port = tunnel.local_port
            tunnels.close_all()
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=2).close()  # forward taken back
        finally:
            master.terminate()
            master.wait(10)
    finally:
        import shutil

        shutil.rmtree(control_dir, ignore_errors=True)
