"""A decoded TOML document checked key by key and turned into a :class:`Config`.

Everything that can be checked without the variables' values (keys, types, ranges, url vs
url_env) is strict, so a typo still stops the load; only a missing ``${VAR}`` waits until the
profile is used. The profile form goes through the same :func:`parse_config`, so it cannot save
what the loader would later refuse.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dbconsole.config.checks import (
    check_choice, check_keys, check_number, check_positive_int, did_you_mean, expect, validate_url)
from dbconsole.config.expansion import expand, expand_url, missing_variables, unusable_profile
from dbconsole.config.model import (
    DEFAULT_CONNECT_TIMEOUT, DETECT_KEYS, MASK_RULES, PROFILE_KEYS, RELATION_KEYS, SSH_KEYS, SSH_TRANSPORTS, SUBSET_KEYS,
    SYNC_KEYS, SYNC_MODES, STRATEGIES, TABLE_KEYS, TOP_KEYS, TRIGGER_POLICIES, TUI_KEYS, Config, DetectRule, Profile,
    SshSettings, SubsetRules, SyncSettings, TableRules, VirtualRelation)
from dbconsole.errors import ConfigError
from dbconsole.jobs import JOBS_HELP, parse_jobs
from dbconsole.redact import register_secret
from dbconsole.sqlite import is_sqlite_url, sqlite_path
from dbconsole.urls import is_local_host

_SSH_TEXT_KEYS = ("host", "user", "key", "password", "known_hosts", "jump")


def parse_config(data: Mapping[str, Any], *, path: Path | None, environ: Mapping[str, str]) -> Config:
    """Validate a decoded TOML document; every error names the file and the key."""
    where = str(path) if path else "config"
    check_keys(data, TOP_KEYS, where, "")
    raw_profiles = expect(data.get("profiles", {}), dict, where, "profiles")
    profiles: dict[str, Profile] = {}
    for name, raw in raw_profiles.items():
        raw = expect(raw, dict, where, f"profiles.{name}")
        profiles[name] = profile_from_raw(name, raw, environ, where=where)

    default_profile = data.get("default_profile")
    if default_profile is not None:
        expect(default_profile, str, where, "default_profile")
        if default_profile not in profiles:
            raise ConfigError(f"{where}: default_profile '{default_profile}' is not a profile"
                              f"{did_you_mean(default_profile, profiles)}")

    detect = [_parse_detect(rule, i, profiles, where)
              for i, rule in enumerate(expect(data.get("detect", []), list, where, "detect"))]
    sync = _parse_sync(data.get("sync", {}), where)
    tui = expect(data.get("tui", {}), dict, where, "tui")
    check_keys(tui, TUI_KEYS, where, "tui.")
    if tui.get("refresh_interval") is not None:
        check_number(tui["refresh_interval"], where, "tui.refresh_interval",
                     must_be="a number of seconds >= 0 (0: no live refresh)")
    if tui.get("auto_diff_rows") is not None:
        check_number(tui["auto_diff_rows"], where, "tui.auto_diff_rows", whole=True,
                     must_be="a whole number of rows >= 0 (0: off)")
    if tui.get("theme") not in (None, "dark", "light"):
        raise ConfigError(f"{where}: tui.theme must be \"dark\" or \"light\"")
    return Config(path=path, profiles=profiles, default_profile=default_profile, detect=detect,
                  sync=sync, tui=dict(tui), raw=copy.deepcopy(dict(data)), environ=environ)


def profile_from_raw(name: str, raw: Mapping[str, Any], env: Mapping[str, str], *, where: str,
                     origin: str = "file") -> Profile:
    """Validate one profile table; a ``${VAR}`` that is not set makes it unusable, not an error."""
    key = f"profiles.{name}"
    check_keys(raw, PROFILE_KEYS, where, key + ".")
    if ("url" in raw) == ("url_env" in raw):
        raise ConfigError(f"{where}: {key} needs exactly one of 'url' or 'url_env'")
    options = _profile_options(raw, where, key)
    ssh_raw = expect(raw["ssh"], dict, where, f"{key}.ssh") if "ssh" in raw else None
    if ssh_raw is not None:
        _check_ssh_shape(ssh_raw, where, f"{key}.ssh")
    missing = missing_variables(raw, env, where, key)
    if missing:
        return unusable_profile(name, raw, options, missing, origin)
    if "url_env" in raw:
        url = env[raw["url_env"]]
    else:
        url = expand_url(raw["url"], env, where, f"{key}.url")
    if is_sqlite_url(url):
        return sqlite_profile(name, url, raw, options, where=where, origin=origin)
    validate_url(url, where, f"{key}.url")
    ssh = _parse_ssh(ssh_raw, env, where, f"{key}.ssh") if ssh_raw is not None else None
    read_only = options.pop("read_only")
    if read_only is None:
        read_only = not (ssh is None and is_local_host(url))
    return Profile(name=name, url=url, read_only=read_only, ssh=ssh, origin=origin,
                   raw=copy.deepcopy(dict(raw)), **options)


def sqlite_profile(name: str, url: str, raw: Mapping[str, Any], options: dict[str, Any], *, where: str,
                   origin: str) -> Profile:
    """A ``sqlite:///path`` profile: a read-only source file; what makes no sense for one is refused."""
    key = f"profiles.{name}"
    try:
        sqlite_path(url)
    except ValueError as exc:
        raise ConfigError(f"{where}: {key}.url: {exc}") from None
    if "ssh" in raw:
        raise ConfigError(f"{where}: {key}.ssh: a SQLite profile is a local file, it cannot go through SSH")
    if options.pop("read_only") is False:
        raise ConfigError(f"{where}: {key}.read_only: a SQLite profile is always read-only "
                          "(dbconsole reads SQLite, it never writes it)")
    if options.get("live_exact_counts"):
        raise ConfigError(f"{where}: {key}.live_exact_counts: a SQLite profile's counts are always exact")
    return Profile(name=name, url=url, read_only=True, origin=origin, raw=copy.deepcopy(dict(raw)), **options)


def _profile_options(raw: Mapping[str, Any], where: str, key: str) -> dict[str, Any]:
    """The settings that hold no ``${VAR}``: checked the same whether the profile is usable or not."""
    read_only = raw.get("read_only")
    if read_only is not None:
        expect(read_only, bool, where, f"{key}.read_only")
    timeout = raw.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT)
    check_number(timeout, where, f"{key}.connect_timeout", whole=True, above_minimum=True,
                 must_be="a positive whole number of seconds")
    for name in ("color", "description"):
        if raw.get(name) is not None:
            expect(raw[name], str, where, f"{key}.{name}")
    live_exact = expect(raw.get("live_exact_counts", False), bool, where, f"{key}.live_exact_counts")
    return {"read_only": read_only, "connect_timeout": timeout, "color": raw.get("color"),
            "description": raw.get("description"), "live_exact_counts": live_exact}


def _check_ssh_shape(raw: Mapping[str, Any], where: str, key: str) -> None:
    check_keys(raw, SSH_KEYS, where, key + ".")
    if "host" not in raw:
        raise ConfigError(f"{where}: {key}.host is required")
    for name in _SSH_TEXT_KEYS:
        if name in raw:
            expect(raw[name], str, where, f"{key}.{name}")
    _ssh_link_options(raw, where, key)


def _ssh_link_options(raw: Mapping[str, Any], where: str, key: str) -> dict[str, Any]:
    """``ssh.compression`` (true/false) and ``ssh.transport`` (auto | openssh | paramiko), checked."""
    values: dict[str, Any] = {}
    if "compression" in raw:
        values["compression"] = expect(raw["compression"], bool, where, f"{key}.compression")
    if "transport" in raw:
        transport = expect(raw["transport"], str, where, f"{key}.transport")
        if transport not in SSH_TRANSPORTS:
            raise ConfigError(f"{where}: {key}.transport must be one of {', '.join(SSH_TRANSPORTS)}, not {transport!r}")
        values["transport"] = transport
    return values


def _parse_ssh(raw: Mapping[str, Any], env: Mapping[str, str], where: str, key: str) -> SshSettings:
    values: dict[str, Any] = _ssh_link_options(raw, where, key)
    for name in _SSH_TEXT_KEYS:
        if name in raw:
            values[name] = expand(expect(raw[name], str, where, f"{key}.{name}"), env, where, f"{key}.{name}")
    if "port" in raw:
        port = raw["port"]
        if isinstance(port, str):
            port = expand(port, env, where, f"{key}.port")
            port = int(port) if port.isdigit() else port
        check_number(port, where, f"{key}.port", whole=True, above_minimum=True, maximum=65535,
                     must_be="a port number (1-65535)")
        values["port"] = port
    if not values["host"]:
        raise ConfigError(f"{where}: {key}.host is empty")
    register_secret(values.get("password"))
    return SshSettings(**values)


def _parse_detect(rule: Any, index: int, profiles: Mapping[str, Profile], where: str) -> DetectRule:
    key = f"detect[{index}]"
    rule = expect(rule, dict, where, key)
    check_keys(rule, DETECT_KEYS, where, key + ".")
    profile = expect(rule.get("profile"), str, where, f"{key}.profile")
    if profile not in profiles:
        raise ConfigError(f"{where}: {key}.profile '{profile}' is not a profile"
                          f"{did_you_mean(profile, profiles)}")
    if "hostname" not in rule and "path" not in rule:
        raise ConfigError(f"{where}: {key} needs 'hostname' or 'path'")
    hostname = rule.get("hostname")
    path = rule.get("path")
    if hostname is not None:
        expect(hostname, str, where, f"{key}.hostname")
    if path is not None:
        expect(path, str, where, f"{key}.path")
    return DetectRule(profile=profile, hostname=hostname, path=path)


def _parse_sync(raw: Any, where: str) -> SyncSettings:
    raw = expect(raw, dict, where, "sync")
    check_keys(raw, SYNC_KEYS, where, "sync.")
    batch_size = raw.get("batch_size")
    if batch_size is not None:
        check_positive_int(batch_size, where, "sync.batch_size")
    retries = raw.get("retries")
    if retries is not None:
        check_number(retries, where, "sync.retries", whole=True, must_be="a whole number >= 0")
    mode = raw.get("mode")
    if mode is not None:
        check_choice(mode, SYNC_MODES, where, "sync.mode")
    strategy = raw.get("strategy")
    if strategy is not None:
        check_choice(strategy, STRATEGIES, where, "sync.strategy")
    stall = raw.get("stall_timeout")
    if stall is not None:
        check_number(stall, where, "sync.stall_timeout", above_minimum=True, must_be="a number of seconds > 0")
    max_age = raw.get("max_snapshot_age")
    if max_age is not None:
        check_number(max_age, where, "sync.max_snapshot_age", must_be="a number of seconds >= 0 (0: no limit)")
    triggers = raw.get("triggers")
    if triggers is not None:
        check_choice(triggers, TRIGGER_POLICIES, where, "sync.triggers", suggest=False)
    jobs = raw.get("jobs")
    if jobs is not None:
        jobs = parse_jobs(jobs)
        if jobs is None:
            raise ConfigError(f"{where}: sync.jobs must be {JOBS_HELP}")
    split_rows = raw.get("split_rows")
    if split_rows is not None:
        check_positive_int(split_rows, where, "sync.split_rows")
    undo_keep_runs = raw.get("undo_keep_runs")
    if undo_keep_runs is not None:
        check_number(undo_keep_runs, where, "sync.undo_keep_runs", whole=True,
                     must_be="a whole number >= 0 (0: keep no pre-images)")
    tables = {}
    for name, table_raw in expect(raw.get("tables", {}), dict, where, "sync.tables").items():
        tables[name] = _parse_table_rules(table_raw, where, f'sync.tables."{name}"')
    subsets = {name: _parse_subset(rules, where, f"sync.subsets.{name}")
               for name, rules in expect(raw.get("subsets", {}), dict, where, "sync.subsets").items()}
    return SyncSettings(batch_size=batch_size, mode=mode, retries=retries,
                        stall_timeout=float(stall) if stall is not None else None, tables=tables, triggers=triggers,
                        max_snapshot_age=float(max_age) if max_age is not None else None,
                        strategy=strategy,
                        subsets=subsets, jobs=jobs, split_rows=split_rows, undo_keep_runs=undo_keep_runs)


def _parse_subset(raw: Any, where: str, key: str) -> SubsetRules:
    """``[sync.subsets.NAME]``: root and where are required; the rest are lists and tables of strings."""
    raw = expect(raw, dict, where, key)
    check_keys(raw, SUBSET_KEYS, where, key + ".")
    for name in ("root", "where"):
        if name not in raw:
            raise ConfigError(f"{where}: {key} needs {name} = \"...\"")
        expect(raw[name], str, where, f"{key}.{name}")
    exclude = expect(raw.get("exclude", []), list, where, f"{key}.exclude")
    if not all(isinstance(e, str) for e in exclude):
        raise ConfigError(f"{where}: {key}.exclude must be a list of table names")
    limits = expect(raw.get("limits", {}), dict, where, f"{key}.limits")
    for table, limit in limits.items():
        expect(limit, str, where, f'{key}.limits."{table}"')
    relations = []
    for index, relation in enumerate(expect(raw.get("relations", []), list, where, f"{key}.relations")):
        label = f"{key}.relations[{index}]"
        relation = expect(relation, dict, where, label)
        check_keys(relation, RELATION_KEYS, where, label + ".")
        for side in ("from", "to"):
            if not isinstance(relation.get(side), str) or relation[side].count(".") < 1:
                raise ConfigError(f"{where}: {label} needs {side} = \"schema.table.column\"")
        relations.append(VirtualRelation(source=relation["from"], target=relation["to"]))
    return SubsetRules(root=raw["root"], where=raw["where"], relations=tuple(relations), exclude=tuple(exclude),
                       limits=dict(limits))


def _parse_table_rules(raw: Any, where: str, key: str) -> TableRules:
    raw = expect(raw, dict, where, key)
    check_keys(raw, TABLE_KEYS, where, key + ".")
    if "mode" in raw:
        check_choice(raw["mode"], SYNC_MODES, where, f"{key}.mode")
    preserve = expect(raw.get("preserve_columns", []), list, where, f"{key}.preserve_columns")
    if not all(isinstance(c, str) for c in preserve):
        raise ConfigError(f"{where}: {key}.preserve_columns must be a list of column names")
    mask = expect(raw.get("mask", {}), dict, where, f"{key}.mask")
    for column, rule in mask.items():
        if not isinstance(rule, str) or not (rule in MASK_RULES or rule.startswith("fixed:")):
            allowed = ", ".join(MASK_RULES + ("fixed:VALUE",))
            raise ConfigError(f"{where}: {key}.mask.{column}: unknown rule {rule!r} (use one of {allowed})")
    for name in ("where", "cursor"):
        if name in raw:
            expect(raw[name], str, where, f"{key}.{name}")
    overlap = raw.get("overlap")
    if overlap is not None:
        check_number(overlap, where, f"{key}.overlap", must_be="a number of seconds >= 0")
    batch_size = raw.get("batch_size")
    if batch_size is not None:
        check_positive_int(batch_size, where, f"{key}.batch_size")
    return TableRules(mode=raw.get("mode"), where=raw.get("where"), preserve_columns=tuple(preserve),
                      mask=dict(mask), cursor=raw.get("cursor"),
                      overlap=float(overlap) if overlap is not None else None, batch_size=batch_size)
