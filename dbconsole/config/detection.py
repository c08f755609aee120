"""Which profile this machine is: the default the CLI and the console start on (SPEC order)."""

from __future__ import annotations

import socket

from dbconsole.config.checks import did_you_mean
from dbconsole.config.model import Config
from dbconsole.errors import ConfigError


def detect_default_profile(config: Config, hostname: str | None = None) -> tuple[str | None, str]:
    """The profile this machine should start on, with the reason, in SPEC order."""
    env = config.environ
    chosen = env.get("DBCONSOLE_PROFILE")
    if chosen:
        if chosen not in config.profiles:
            raise ConfigError(f"$DBCONSOLE_PROFILE names unknown profile '{chosen}'"
                              f"{did_you_mean(chosen, config.profiles)}")
        return chosen, "$DBCONSOLE_PROFILE"
    environment = env.get("ENVIRONMENT")
    if environment:
        for name in config.profiles:
            if name.lower() == environment.lower():
                return name, "$ENVIRONMENT"
    host = hostname if hostname is not None else socket.gethostname()
    for index, rule in enumerate(config.detect):
        if rule.matches(host):
            return rule.profile, f"detect[{index}]"
    if config.default_profile:
        return config.default_profile, "default_profile"
    if "local" in config.profiles:
        return "local", "name"
    if config.profiles:
        return next(iter(config.profiles)), "first profile"
    return None, "no profiles"
