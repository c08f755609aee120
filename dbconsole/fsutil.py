"""Writing files the way a crash cannot hurt them.

Config, ``.env``, sync state exports and logs are written through :func:`atomic_write`: the new
content goes to a temporary file in the same folder, is flushed and fsynced, gets mode 0600, and
replaces the old file with one ``rename``. A reader sees the old file or the new one, never half
of either, and a crash mid-write leaves the old file intact.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

PRIVATE_MODE = 0o600


def atomic_write(path: str | os.PathLike[str], text: str, *, mode: int = PRIVATE_MODE) -> None:
    """Replace ``path`` with ``text`` atomically, the result readable only by its owner."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(target.parent)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (a no-op where directories cannot be opened)."""
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
