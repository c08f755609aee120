"""A team config whose prod password is not set on this machine: prod is unusable, the rest works
(issue 10, item 4), against the real servers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tomli_w

from dbconsole.config import load_config
from dbconsole.connect import connect, tunnels
from dbconsole.errors import ConfigError
from tests.cli_checks import assert_one_line, run_cli
from tests.profiles import isolate_from_machine, write_config

NEEDS = "profile 'prod' needs NOPE_PASS (set it in the environment or in .env beside the config)"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_from_machine(tmp_path, monkeypatch)
    monkeypatch.delenv("NOPE_PASS", raising=False)
    yield
    tunnels.close_all()


def team_config(tmp_path: Path, dbs) -> Path:  # type: ignore[no-untyped-def]
    server = dbs.server
    prod = {"url": f"postgresql://{server.user}:${{NOPE_PASS}}@{server.host}:{server.port}/{dbs.server_db}",
            "read_only": True, "color": "red"}
    return write_config(tmp_path, dbs, extra={"profiles": {"prod": prod}})


def test_profiles_lists_the_unusable_profile_and_check_of_another_works(tmp_path, dbs, capsys) -> None:
    config = str(team_config(tmp_path, dbs))
    code, out, err = run_cli(capsys, "--config", config, "profiles")
    assert code == 0, err
    prod_line = next(line for line in out.splitlines() if line.lstrip("* ").startswith("prod"))
    assert "unusable: needs NOPE_PASS" in prod_line
    assert dbs.server.password not in out

    code, out, err = run_cli(capsys, "--config", config, "profiles", "--json")
    data = {p["name"]: p for p in json.loads(out)}
    assert data["prod"]["unusable"] == "needs NOPE_PASS" and data["prod"]["read_only"] is True
    assert data["local"]["unusable"] is None and data["server_direct"]["unusable"] is None

    code, out, err = run_cli(capsys, "--config", config, "check", "local", "--json")
    assert code == 0 and json.loads(out)["ok"] is True, err
    code, out, err = run_cli(capsys, "--config", config, "tables", "--left", "local", "--right", "server_direct")
    assert code == 0 and "public.users" in out, err


@pytest.mark.parametrize("argv", [
    ["check", "prod"],
    ["check", "prod", "--json"],
    ["tables", "--left", "local", "--right", "prod"],
    ["sync", "--from", "prod", "--to", "local", "--tables", "users", "--yes"],
    ["sync", "--from", "local", "--to", "prod", "--dry-run"],
])
def test_using_the_unusable_profile_is_one_line_and_exit_2(tmp_path, dbs, capsys, argv) -> None:
    config = str(team_config(tmp_path, dbs))
    code, out, err = run_cli(capsys, "--config", config, *argv)
    line = assert_one_line(code, err, 2)
    assert line == f"dbconsole: error: {NEEDS}"
    assert out == ""


def test_the_connect_layer_refuses_an_unusable_profile_and_setting_the_variable_fixes_it(tmp_path, dbs) -> None:
    path = team_config(tmp_path, dbs)
    config = load_config(path, environ={}, cwd=tmp_path)
    with pytest.raises(ConfigError) as info:
        connect(config.profile("prod"))
    assert str(info.value) == NEEDS
    (tmp_path / ".env").write_text((tmp_path / ".env").read_text() + f"NOPE_PASS='{dbs.server.password}'\n")
    config = load_config(path, environ={}, cwd=tmp_path)
    assert config.profile("prod").unusable is None
    with connect(config.profile("prod")) as conn:
        assert conn.execute("SELECT current_setting('default_transaction_read_only')").fetchone()[0] == "on"


def test_every_missing_variable_is_named_and_bad_keys_stay_strict(tmp_path, capsys) -> None:
    path = tmp_path / "dbconsole.toml"
    path.write_text(tomli_w.dumps({"profiles": {
        "dev": {"url": "postgresql://me@localhost/dev"},
        "prod": {"url": "postgresql://app:${NOPE_PASS}@${NOPE_HOST}/app",
                 "ssh": {"host": "${NOPE_BASTION}", "user": "deploy"}},
    }}))
    code, out, err = run_cli(capsys, "--config", str(path), "profiles", "--json")
    assert code == 0, err
    assert {p["name"]: p["unusable"] for p in json.loads(out)} == {
        "dev": None, "prod": "needs NOPE_PASS, NOPE_HOST, NOPE_BASTION"}
    code, _, err = run_cli(capsys, "--config", str(path), "check", "prod")
    assert_one_line(code, err, 2, "profile 'prod' needs NOPE_PASS, NOPE_HOST, NOPE_BASTION (set them in")

    path.write_text(tomli_w.dumps({"profiles": {
        "prod": {"url": "postgresql://app:${NOPE_PASS}@db/app", "read_onyl": True}}}))
    code, _, err = run_cli(capsys, "--config", str(path), "profiles")
    assert_one_line(code, err, 2, "unknown key 'profiles.prod.read_onyl' (did you mean 'read_only'?)")
    path.write_text(tomli_w.dumps({"profiles": {
        "prod": {"url": "postgresql://app:${NOPE_PASS}@db/app", "connect_timeout": "soon"}}}))
    code, _, err = run_cli(capsys, "--config", str(path), "profiles")
    assert_one_line(code, err, 2, "profiles.prod.connect_timeout must be a positive whole number")


def test_a_missing_pair_names_the_unusable_choice_as_such(tmp_path, dbs, capsys) -> None:
    config = str(team_config(tmp_path, dbs))  # local (default), server_direct, prod (needs NOPE_PASS)
    code, _, err = run_cli(capsys, "--config", config, "tables")
    assert_one_line(code, err, 2, "--right", "choose one of server_direct, prod (needs NOPE_PASS)")
