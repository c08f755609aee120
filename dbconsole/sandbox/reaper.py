"""A watchdog that cleans up throwaway servers even when their owner is killed outright.

``atexit`` and ``finally`` cover quitting, Ctrl+C, SIGTERM and exceptions, but not SIGKILL or
a power-cut-like crash of the Python process. The demo therefore starts this small process
beside itself, in its own session (so Ctrl+C in the terminal does not reach it), connected by
a pipe: when the pipe closes, for whatever reason, the owner is gone, and the reaper kills the
clusters it was told about, the processes it was told about, and removes the folders.

    python -m dbconsole.sandbox.reaper --data-dir D1 --data-dir D2 --pid P --remove DIR
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from dbconsole.sandbox.cluster import _emergency_cleanup


CLEAN = b"clean"


def start_reaper(data_dirs: Iterable[Path], pids: Iterable[int], remove: Iterable[Path]) -> subprocess.Popen[bytes]:
    """Start the watchdog; keep the returned Popen alive (its stdin is the lifeline).

    After cleaning up yourself, call :func:`dismiss_reaper`, so it does not touch pids that
    may since belong to other processes.
    """
    command = [sys.executable, "-m", "dbconsole.sandbox.reaper"]
    for data_dir in data_dirs:
        command += ["--data-dir", str(data_dir)]
    for pid in pids:
        command += ["--pid", str(pid)]
    for path in remove:
        command += ["--remove", str(path)]
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, close_fds=True)


def dismiss_reaper(reaper: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError, ValueError):
        assert reaper.stdin is not None
        reaper.stdin.write(CLEAN)
        reaper.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        reaper.wait(5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dbconsole.sandbox.reaper")
    parser.add_argument("--data-dir", action="append", default=[], type=Path)
    parser.add_argument("--pid", action="append", default=[], type=int)
    parser.add_argument("--remove", action="append", default=[], type=Path)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    received = b""
    with contextlib.suppress(OSError):
        while chunk := sys.stdin.buffer.read(4096):
            received += chunk  # EOF means the owner is gone; "clean" means it cleaned up itself
    if CLEAN in received:
        return 0
    for pid in args.pid:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    for data_dir in args.data_dir:
        _emergency_cleanup(data_dir, [])
    for path in args.remove:
        shutil.rmtree(path, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
