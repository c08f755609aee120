"""Words the sync wizard shows, in one place: plurals, mode explanations, console phrasing.

The engine's messages are written for the command line and name its flags (``--with-parents``,
``--mode replace``); the console has no flags, so :func:`console_wording` says the same thing in
the wizard's own terms.
"""

from __future__ import annotations

import re

from dbconsole.modes import Mode

MODE_HELP: dict[Mode, str] = {  # one line each, short enough for the mode list at 80 columns
    "upsert": "insert new rows, update changed ones, keep the rest",
    "replace": "make it equal: deletes rows the source lacks",
    "incremental": "rows whose updated_at moved since the last run",
    "xmin": "rows the source changed since the last run",
    "mirror": "make it equal, writing only rows that differ",
}

_CLI_WORDS = (
    (re.compile(r"\s*\(--with-parents\)"), " (tick FK parents, or press p)"),
    (re.compile(r"--with-parents"), "the FK parents option"),
    (re.compile(r"use --mode replace"), "choose mode replace"),
    (re.compile(r"--mode (\w+)"), r"mode \1"),
    (re.compile(r"--where"), "the Where filter"),
    (re.compile(r"--tables"), "a table list"),
)


def plural(count: int, word: str) -> str:
    """``1 table``, ``2 tables``, ``1,000 tables``."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def console_wording(message: str) -> str:
    """An engine message with its command-line flags put into the wizard's words."""
    for pattern, words in _CLI_WORDS:
        message = pattern.sub(words, message)
    return message
