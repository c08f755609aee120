"""The lifeline that takes our ``ssh`` children down with dbconsole, even after a SIGKILL.

``atexit`` closes tunnels on quit, Ctrl+C and exceptions, but a SIGTERM (Python's default
handler exits without ``atexit``) or a SIGKILL would leave ``ssh -N`` children forwarding a
port nobody uses. So the first tunnel starts this small process, in a session of its own (Ctrl+C
in the terminal does not reach it), reading a pipe from dbconsole: ``+PID`` registers a child's
process group, ``-PID`` releases it. When the pipe closes, for whatever reason, dbconsole is gone
and every group still registered gets SIGTERM, then SIGKILL. ``PR_SET_PDEATHSIG`` would not do:
it fires when the *thread* that started the child ends, and tunnels are opened from workers.

The file runs by path with ``python -I -S`` and imports nothing of dbconsole, so it costs a bare
interpreter start (~20 ms), once per dbconsole process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


class Lifeline:
    """dbconsole's end of the pipe; thread-safe; starts the watchdog on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None

    def guard(self, pid: int) -> None:
        """From now on, the process group ``pid`` dies with dbconsole."""
        self._send(f"+{pid}\n")

    def release(self, pid: int) -> None:
        """We ended ``pid`` ourselves; the watchdog must not signal a recycled pid later."""
        self._send(f"-{pid}\n")

    def _send(self, line: str) -> None:
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._process = subprocess.Popen(
                    [sys.executable, "-I", "-S", str(Path(__file__).resolve())],
                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    start_new_session=True, close_fds=True)
            assert self._process.stdin is not None
            try:
                self._process.stdin.write(line.encode())
                self._process.stdin.flush()
            except (BrokenPipeError, OSError):
                pass  # the watchdog died (someone killed it); the atexit path still closes tunnels


lifeline = Lifeline()


def _end_groups(pids: set[int]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.killpg(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        if sig == signal.SIGTERM:
            time.sleep(1.0)


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    guarded: set[int] = set()
    for raw in sys.stdin.buffer:  # ends when dbconsole's end of the pipe closes, however it died
        line = raw.strip().decode("ascii", "replace")
        if len(line) > 1 and line[1:].isdigit():
            (guarded.add if line[0] == "+" else guarded.discard)(int(line[1:]))
    if guarded:
        _end_groups(guarded)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
