"""Profiles: where each environment's database lives and how careful to be with it.

A package of layers, each importing only the ones above it in this list:

- :mod:`~dbconsole.config.checks`: the small checks (keys, types, numbers, choices, URLs);
- :mod:`~dbconsole.config.model`: the dataclasses (Profile, SyncSettings, Config...) and key names;
- :mod:`~dbconsole.config.expansion`: ``${VAR}`` from the environment and ``.env``; unusable profiles;
- :mod:`~dbconsole.config.validation`: a decoded TOML document checked and turned into a Config;
- :mod:`~dbconsole.config.loading`: finding and reading the file, or profiles from env variables;
- :mod:`~dbconsole.config.detection`: which profile this machine is;
- :mod:`~dbconsole.config.secrets`: secrets kept in ``.env``, and the guard before a save;
- :mod:`~dbconsole.config.editing`: adding, editing, removing and saving profiles (the form's logic).

Every public name is re-exported here, so ``from dbconsole.config import X`` is the way in.
"""

from dbconsole.config.checks import check_number
from dbconsole.config.detection import detect_default_profile
from dbconsole.config.editing import (
    ProfileFormValues, build_profile, profile_table, save_config, save_profile, split_password, values_from_profile,
    with_password_reference, with_profile, without_profile)
from dbconsole.config.expansion import expand, expand_url, load_environ, secret_references
from dbconsole.config.loading import config_from_env, find_config, load_config
from dbconsole.config.model import (
    CONFIG_NAME, DEFAULT_CONNECT_TIMEOUT, DETECT_KEYS, LOCAL_ENV_VARS, MASK_RULES, PROFILE_KEYS, SERVER_ENV_VAR,
    SSH_KEYS, SYNC_KEYS, SYNC_MODES, TABLE_KEYS, TOP_KEYS, TRIGGER_POLICIES, TUI_KEYS, Config, DetectRule, Profile,
    SshSettings, SubsetRules, SyncSettings, TableRules, VirtualRelation, adhoc_profile, default_config_path)
from dbconsole.config.secrets import env_var_name, forget_secrets, remove_env_secret, set_env_secret
from dbconsole.config.validation import parse_config
from dbconsole.errors import ConfigError
from dbconsole.urls import LOCAL_HOSTS, is_local_host, looks_like_url

__all__ = [
    "CONFIG_NAME", "DEFAULT_CONNECT_TIMEOUT", "DETECT_KEYS", "LOCAL_ENV_VARS", "LOCAL_HOSTS", "MASK_RULES",
    "PROFILE_KEYS", "SERVER_ENV_VAR", "SSH_KEYS", "SYNC_KEYS", "SYNC_MODES", "TABLE_KEYS", "TOP_KEYS",
    "TRIGGER_POLICIES", "TUI_KEYS", "Config", "ConfigError", "DetectRule", "Profile", "ProfileFormValues",
    "SshSettings", "SubsetRules", "SyncSettings", "TableRules", "VirtualRelation", "adhoc_profile", "build_profile", "check_number",
    "config_from_env", "default_config_path", "detect_default_profile", "env_var_name", "expand", "expand_url",
    "find_config", "forget_secrets", "is_local_host", "load_config", "load_environ", "looks_like_url",
    "parse_config", "profile_table", "remove_env_secret", "save_config", "save_profile", "secret_references",
    "set_env_secret", "split_password", "values_from_profile", "with_password_reference", "with_profile",
    "without_profile",
]
