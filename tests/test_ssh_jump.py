"""ProxyJump: a database behind a bastion, reached through both SSH transports.

The fixtures start a bastion and an inner SSH host that only the bastion can reach (see
tests/two_hop.py); ``$HOME/.ssh/config`` says ``ProxyJump bastion`` the way users write it.
check / tables / sync work through both hops, the inner host is provably unreachable without
the bastion, an unknown or changed host key on either hop is refused with the fix, and killing
the bastion mid-sync resumes the run once it is back.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import asyncssh
import pytest

from dbconsole.connect import tunnels
from dbconsole.sync.events import Notice
from tests.cli_checks import assert_one_line, run_cli
from tests.profiles import PASSWORD_VAR, isolate_from_machine, load, write_config
from tests.sync_checks import assert_target_holds_source
from tests.test_faults import PRICE_TABLES, price_sync, run_with_fault
from tests.two_hop import INNER_NAME, TwoHop, two_hop

TRANSPORTS = ["openssh", "paramiko"]


@pytest.fixture(scope="module")
def hops(pg_server, tmp_path_factory) -> TwoHop:
    with two_hop(tmp_path_factory.mktemp("two_hop"), pg_server.host, pg_server.port) as started:
        yield started


@pytest.fixture(params=TRANSPORTS)
def transport(request) -> str:
    return request.param


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    isolate_from_machine(tmp_path, monkeypatch)
    yield
    tunnels.close_all()


def _server_url(dbs) -> str:
    server = dbs.server
    return f"postgresql://{server.user}:${{{PASSWORD_VAR}}}@{server.host}:{server.port}/{dbs.server_db}"


def _config(tmp_path: Path, dbs, transport: str, **ssh) -> Path:
    return write_config(tmp_path, dbs, extra={"profiles": {"inner": {
        "url": _server_url(dbs), "ssh": {"host": "inner", "transport": transport, **ssh}}}})


def _other_key_line() -> str:
    return " ".join(asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().split()[:2])


def test_check_tables_and_sync_through_the_bastion(hops, dbs, tmp_path, capsys, transport) -> None:
    hops.write_client_files(Path.home())
    config = str(_config(tmp_path, dbs, transport))
    accepted = hops.inner.accepted
    code, out, err = run_cli(capsys, "--config", config, "check", "inner", "--json")
    assert code == 0, err
    assert json.loads(out)["tunnel"] is True and json.loads(out)["read_only"] is True
    assert hops.inner.accepted > accepted  # the inner host really carried it

    code, out, err = run_cli(capsys, "--config", config, "tables", "--left", "local", "--right", "inner", "--json")
    assert code == 0, err
    assert "public.price_history" in {row["table"] for row in json.loads(out)["tables"]}

    code, out, err = run_cli(capsys, "--config", config, "sync", "--from", "inner", "--to", "local",
                             "--tables", "price_history", "--with-parents", "--yes", "--json")
    assert code == 0, err
    assert_target_holds_source(dbs, PRICE_TABLES)


def test_ssh_jump_key_names_the_bastion_without_proxyjump_in_the_config(hops, dbs, tmp_path, capsys,
                                                                        transport) -> None:
    hops.write_client_files(Path.home(), proxy_jump=False)
    config = str(_config(tmp_path, dbs, transport, jump="bastion"))
    code, out, err = run_cli(capsys, "--config", config, "check", "inner", "--json")
    assert code == 0, err


def test_the_inner_host_cannot_be_reached_without_the_bastion(hops, dbs, tmp_path, capsys, transport) -> None:
    hops.write_client_files(Path.home(), proxy_jump=False)
    assert not hops.socket_path.with_suffix(".port").exists() and hops.inner.port is None  # no TCP port at all
    config = str(_config(tmp_path, dbs, transport))
    code, _, err = run_cli(capsys, "--config", config, "check", "inner")
    assert_one_line(code, err, 1, "cannot reach SSH host", INNER_NAME, "unknown host name")


@pytest.mark.parametrize("hop", ["bastion", "inner"])
def test_an_unknown_host_key_on_either_hop_is_refused_with_the_fix(hops, dbs, tmp_path, capsys, transport,
                                                                   hop) -> None:
    hops.write_client_files(Path.home(), **{f"{hop}_key": ""})
    config = str(_config(tmp_path, dbs, transport))
    code, _, err = run_cli(capsys, "--config", config, "check", "inner")
    name = hops.bastion_name if hop == "bastion" else INNER_NAME
    line = assert_one_line(code, err, 1, "host key", "unknown", name, "ssh-ed25519", "SHA256:",
                           str(Path.home() / ".ssh" / "known_hosts"))
    assert ("ssh-keyscan" in line) if hop == "bastion" else ("-J bastion" in line), line


@pytest.mark.parametrize("hop", ["bastion", "inner"])
def test_a_changed_host_key_on_either_hop_is_refused_with_the_fix(hops, dbs, tmp_path, capsys, transport,
                                                                  hop) -> None:
    hops.write_client_files(Path.home(), **{f"{hop}_key": _other_key_line()})
    config = str(_config(tmp_path, dbs, transport))
    code, _, err = run_cli(capsys, "--config", config, "check", "inner")
    name = hops.bastion_name if hop == "bastion" else INNER_NAME
    assert_one_line(code, err, 1, "CHANGED", name, "SHA256:", f"ssh-keygen -R '{name}'")


@pytest.mark.parametrize("transport", ["openssh", pytest.param("paramiko", marks=pytest.mark.slow)])
def test_the_bastion_killed_mid_sync_the_run_resumes_when_it_is_back(pg_server, dbs, tmp_path, transport) -> None:
    with two_hop(tmp_path / "hops", pg_server.host, pg_server.port) as own:
        own.write_client_files(Path.home())
        config = load(_config(tmp_path, dbs, transport))

        def kill_the_bastion() -> None:
            own.kill_bastion()
            threading.Timer(1.5, own.start_bastion).start()

        events = run_with_fault(price_sync(config, source="inner"), kill_the_bastion)
        assert any(isinstance(e, Notice) and e.kind == "retry" for e in events)
        assert_target_holds_source(dbs, PRICE_TABLES)
