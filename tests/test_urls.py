"""The one cut of ``scheme://user:password@host...`` every URL operation shares (no server)."""

from __future__ import annotations

import pytest

from dbconsole.config import expand_url, split_password, with_password_reference
from dbconsole.errors import ConfigError
from dbconsole.redact import mask_url
from dbconsole.urls import UserInfoUrl, is_local_host, looks_like_url, password_of, split_userinfo


def test_split_userinfo_keeps_every_part_as_written() -> None:
    parts = split_userinfo("postgresql://app:p%40ss@db.example.com:5432/app?sslmode=require")
    assert parts == UserInfoUrl("postgresql", "app", "p%40ss", "db.example.com:5432/app?sslmode=require")
    assert parts.joined() == "postgresql://app:p%40ss@db.example.com:5432/app?sslmode=require"


def test_no_password_and_an_empty_password_are_told_apart() -> None:
    assert split_userinfo("postgresql://app@h/db").password is None
    assert split_userinfo("postgresql://app:@h/db").password == ""
    assert split_userinfo("postgresql://app:@h/db").joined(drop_password=True) == "postgresql://app@h/db"


def test_no_scheme_or_no_user_part_is_not_cut() -> None:
    assert split_userinfo("host=h user=u") is None
    assert split_userinfo("postgresql://h:5432/db") is None
    assert split_userinfo("postgresql://h/db?application_name=a@b") is None  # '@' after the path


def test_the_user_part_ends_at_its_last_at_sign() -> None:
    parts = split_userinfo("postgresql://u:a@b@h/db")
    assert (parts.user, parts.password, parts.host_and_rest) == ("u", "a@b", "h/db")


def test_joined_replaces_user_and_password() -> None:
    parts = split_userinfo("postgres://old:pw@h:1/d")
    assert parts.joined(password="${V}") == "postgres://old:${V}@h:1/d"
    assert parts.joined(user="new") == "postgres://new:pw@h:1/d"


def test_the_four_operations_agree_on_the_cut() -> None:
    env = {"PW": "a@b/c:d"}
    expanded = expand_url("postgresql://app:${PW}@h/db", env, "test", "url")
    assert expanded == "postgresql://app:a%40b%2Fc%3Ad@h/db"
    assert password_of(expanded) == "a@b/c:d"
    assert mask_url(expanded) == "postgresql://app:***@h/db"
    moved, secret = split_password(expanded, "V")
    assert (moved, secret) == ("postgresql://app:${V}@h/db", "a@b/c:d")
    assert with_password_reference("postgresql://app:old@h/db", "V") == "postgresql://app:${V}@h/db"
    assert with_password_reference("postgresql://app@h/db", "V") == "postgresql://app:${V}@h/db"


def test_a_reference_already_in_place_is_not_moved_and_no_user_cannot_take_one() -> None:
    assert split_password("postgresql://app:${V}@h/db", "V") == ("postgresql://app:${V}@h/db", None)
    assert split_password("postgresql://app@h/db", "V") == ("postgresql://app@h/db", None)
    with pytest.raises(ConfigError, match="needs a user"):
        with_password_reference("postgresql://h/db", "V")
    with pytest.raises(ConfigError, match="postgresql://"):
        with_password_reference("host=h", "V")


def test_mask_url_with_a_raw_slash_or_question_mark_in_the_password() -> None:
    assert mask_url("postgresql://u:pa/ss@h/db") == "postgresql://u:***@h/db"
    assert mask_url("postgresql://u:pa?ss@h/db") == "postgresql://u:***@h/db"
    assert mask_url("postgresql://u:p[w@h/db") == "postgresql://u:***@h/db"


def test_expansion_outside_the_user_part_is_not_encoded() -> None:
    env = {"HOST": "db.example.com", "DB": "app", "USER": "me@corp"}
    assert expand_url("postgresql://${USER}@${HOST}/${DB}", env, "t", "url") == "postgresql://me%40corp@db.example.com/app"
    assert expand_url("postgresql://${HOST}/${DB}", env, "t", "url") == "postgresql://db.example.com/app"


def test_local_hosts_and_urls() -> None:
    assert is_local_host("postgresql://u@localhost/db") and is_local_host("postgresql://u@127.0.0.1:5/db")
    assert is_local_host("postgresql:///db?host=/var/run/postgresql")
    assert not is_local_host("postgresql://u@db.example.com/db") and not is_local_host("not a url ::")
    assert looks_like_url("postgres://h/db") and not looks_like_url("local")


def test_an_at_sign_in_the_query_string_is_not_a_user_part() -> None:
    parts = split_userinfo("postgresql://u@h:5432?application_name=a@b")
    assert (parts.user, parts.password, parts.host_and_rest) == ("u", None, "h:5432?application_name=a@b")
    assert mask_url("postgresql://u:pw@h?application_name=a@b") == "postgresql://u:***@h?application_name=a@b"
    assert split_userinfo("postgresql://u:p?w@h/db").password == "p?w"  # a raw '?' before the '@'
