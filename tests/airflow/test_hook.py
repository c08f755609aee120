"""Profiles from Airflow connections: the postgres fields and extras, the SSH hop, and refusals."""

from __future__ import annotations

import json

import pytest

from dbconsole.errors import ConfigError
from tests.airflow.conftest import AIRFLOW_MISSING, SKIP_REASON

pytestmark = [pytest.mark.airflow, pytest.mark.skipif(AIRFLOW_MISSING, reason=SKIP_REASON)]

SECRET = "s3cr3t-Pa55word"


def connection(conn_id: str, conn_type: str, **fields):
    from airflow.sdk import Connection

    extra = fields.pop("extra", None)
    return Connection(conn_id=conn_id, conn_type=conn_type, extra=json.dumps(extra) if extra else None, **fields)


def test_a_postgres_connection_becomes_a_read_only_profile_with_its_libpq_options(airflow_env) -> None:
    from dbconsole.airflow import profile_from_connection

    conn = connection("prod_pg", "postgres", host="db.internal", port=5433, schema="shop", login="reader",
                      password=SECRET, extra={"sslmode": "verify-full", "sslrootcert": "/etc/ca.pem",
                                              "cursor": "dictcursor", "connect_timeout": 7})
    profile = profile_from_connection(conn)
    assert profile.name == "prod_pg" and profile.origin == "airflow:prod_pg"
    assert profile.read_only  # not a local database: read-only, as a profile of the config would be
    assert profile.connect_timeout == 7
    for part in ("host=db.internal", "port=5433", "dbname=shop", "user=reader", "sslmode=verify-full",
                 "sslrootcert=/etc/ca.pem"):
        assert part in profile.url, part
    assert "cursor" not in profile.url  # the postgres provider's own extras are not libpq's
    assert SECRET not in profile.display_url and SECRET not in repr(profile)


def test_a_local_connection_is_writable_and_read_only_can_be_set_either_way(airflow_env) -> None:
    from dbconsole.airflow import profile_from_connection

    local = connection("dev", "postgres", host="127.0.0.1", port=5432, schema="dev", login="app")
    assert not profile_from_connection(local).read_only
    pinned = connection("dev", "postgres", host="127.0.0.1", schema="dev", extra={"read_only": "true"})
    assert profile_from_connection(pinned).read_only
    scratch = connection("scratch", "postgres", host="scratch.internal", schema="s", extra={"read_only": False})
    assert not profile_from_connection(scratch).read_only


def test_the_ssh_hop_comes_from_an_ssh_connection_or_from_the_extras(airflow_env) -> None:
    from dbconsole.airflow import profile_from_connection

    pg = connection("prod_pg", "postgres", host="10.0.0.5", schema="shop", login="reader", password=SECRET)
    ssh = connection("bastion", "ssh", host="bastion.example", port=2222, login="ubuntu",
                     extra={"key_file": "/keys/id_ed25519", "known_hosts": "/keys/known_hosts", "compress": "false"})
    hop = profile_from_connection(pg, ssh_conn=ssh).ssh
    assert hop is not None
    assert (hop.host, hop.port, hop.user, hop.key, hop.known_hosts, hop.compression) == (
        "bastion.example", 2222, "ubuntu", "/keys/id_ed25519", "/keys/known_hosts", False)
    inline = connection("prod_pg", "postgres", host="10.0.0.5", schema="shop",
                        extra={"ssh": {"host": "bastion.example", "user": "ubuntu", "key_file": "/k",
                                       "transport": "paramiko"}})
    hop = profile_from_connection(inline).ssh
    assert hop is not None and (hop.host, hop.user, hop.key, hop.transport) == ("bastion.example", "ubuntu", "/k",
                                                                                 "paramiko")


def test_an_ssh_password_is_kept_out_of_every_text(airflow_env) -> None:
    from dbconsole.airflow import profile_from_connection

    pg = connection("prod_pg", "postgres", host="10.0.0.5", schema="shop")
    ssh = connection("bastion", "ssh", host="bastion.example", login="ubuntu", password=SECRET + "-ssh")
    profile = profile_from_connection(pg, ssh_conn=ssh)
    assert profile.ssh is not None and profile.ssh.password == SECRET + "-ssh"
    assert SECRET not in repr(profile) and SECRET not in repr(profile.ssh)


@pytest.mark.parametrize(("conn_args", "ssh_args", "fragment"), [
    ({"conn_type": "mysql"}, None, "dbconsole needs a postgres connection"),
    ({"extra": {"iam": True}}, None, "IAM authentication is not supported"),
    ({}, {"conn_type": "http"}, "the SSH hop needs an ssh connection"),
    ({}, {"extra": {"no_host_key_check": True}}, "always checks the SSH host key"),
    ({"extra": {"ssh": {"host": "b", "no_host_key_check": "true"}}}, None, "always checks the SSH host key"),
    ({}, {"extra": {"private_key": "-----BEGIN OPENSSH PRIVATE KEY-----"}}, "put the key in a file"),
    ({"extra": {"ssh": {"host": "b", "prot": 22}}}, None, "did you mean 'port'"),
    ({"extra": {"read_only": "maybe"}}, None, "'read_only' must be true or false"),
])
def test_what_cannot_be_honoured_is_one_clear_error(airflow_env, conn_args, ssh_args, fragment) -> None:
    from dbconsole.airflow import profile_from_connection

    pg_fields = {"conn_type": "postgres", "host": "10.0.0.5", "schema": "shop", "password": SECRET, **conn_args}
    pg = connection("prod_pg", pg_fields.pop("conn_type"), **pg_fields)
    ssh = None
    if ssh_args is not None:
        ssh_fields = {"conn_type": "ssh", "host": "bastion", **ssh_args}
        ssh = connection("bastion", ssh_fields.pop("conn_type"), **ssh_fields)
    with pytest.raises(ConfigError) as raised:
        profile_from_connection(pg, ssh_conn=ssh)
    assert fragment in str(raised.value)
    assert SECRET not in str(raised.value)
