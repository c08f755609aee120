"""Which two profiles a command means when the user names one or none of them.

``dbconsole tables`` and ``dbconsole sync`` compare or copy between two profiles. On a machine
whose config says which profile it is (``$DBCONSOLE_PROFILE``, a detect rule, ``default_profile``)
and that has exactly one other profile, typing both names is ceremony: "here" is this machine's
profile and "there" is the other. Anything less clear is refused with the choices named, never
guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

from dbconsole.config import Config
from dbconsole.errors import UsageError


@dataclass(frozen=True)
class PairRoles:
    """The options that name the two sides, and which of them is this machine's side."""

    here_option: str   # "--left" / "--to": defaults to this machine's profile
    there_option: str  # "--right" / "--from": defaults to the one other profile


TABLES_ROLES = PairRoles(here_option="--left", there_option="--right")
SYNC_ROLES = PairRoles(here_option="--to", there_option="--from")


def choose_pair(config: Config, here: str | None, there: str | None, roles: PairRoles) -> tuple[str, str]:
    """(here, there) profile names (or URLs), filling in what was left out when it is unambiguous."""
    if here and there:
        return here, there
    default, _ = config.default()
    if not here:
        if there and default and default != there:
            here = default
        elif not there and default:
            here = default
        else:
            others = [name for name in config.profiles if name != there]
            if len(others) != 1:
                raise UsageError(_ambiguous(config, roles.here_option, others))
            here = others[0]
    if not there:
        others = [name for name in config.profiles if name != here]
        if len(others) != 1:
            raise UsageError(_ambiguous(config, roles.there_option, others))
        there = others[0]
    return here, there


def _ambiguous(config: Config, option: str, choices: list[str]) -> str:
    """One line naming the choices; an unusable one says so (it is a choice, just not yet a working one)."""
    if not choices:
        return f"the following arguments are required: {option} (the config has no other profile to default to)"
    named = [f"{name} ({config.profiles[name].unusable})" if config.profiles[name].unusable else name
             for name in choices]
    return (f"the following arguments are required: {option} (the config does not say which; "
            f"choose one of {', '.join(named)})")
