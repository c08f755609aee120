"""What ``ssh``'s stderr means, as the same one-line errors the paramiko transport raises.

OpenSSH explains failures well but over many lines (a changed host key takes twenty), and the
jump hop's ssh writes into the same stream. :func:`describe_failure` picks the line that says
what went wrong and turns it into one :class:`TunnelError`: which host (hop), what it offered,
and the exact command that fixes it. ``transient`` says whether trying again later may help (a
host down or a connection closed) or not (a host key, a key, a config error).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from dbconsole.errors import TunnelError
from dbconsole.tunnel.base import tunnel_error

_SERVER_KEY = re.compile(r"Server host key: (\S+) (SHA256:\S+)")
_AUTHENTICATING = re.compile(r"Authenticating to (\S+) as '([^']*)'")
_UNKNOWN = re.compile(r"No (\S+) host key is known for (\S+) and you have requested strict checking")
_CHANGED = re.compile(r"Host key for (\S+) has changed and you have requested strict checking")
_CHANGED_FINGERPRINT = re.compile(r"^(SHA256:[A-Za-z0-9+/=]+)\.?$")
_OFFENDING = re.compile(r"Offending \S+ key in (.+):\d+$")
_KEYGEN_FIX = re.compile(r"ssh-keygen -f '([^']+)' -R '([^']+)'")
_DENIED = re.compile(r"^(\S+): Permission denied \(([^)]*)\)")
_CONNECT = re.compile(r"^ssh: connect to host (\S+) port (\d+): (.+)$")
_RESOLVE = re.compile(r"^ssh: Could not resolve hostname (\S+): (.+)$")
_OPEN_FAILED = re.compile(r"channel \d+: open failed: (.+)$")
_BIND = re.compile(r"bind \[?[\d.:]+\]?:\d+: Address already in use|cannot listen to port")
_BAD_CONFIG = re.compile(r"(line \d+: .+|Bad configuration option.+|terminating, \d+ bad configuration options)")
_CLOSED = re.compile(r"(Connection closed by .+|Connection reset by .+|kex_exchange_identification: .+|"
                     r"Connection timed out during banner exchange|banner exchange: .+)")


@dataclass(frozen=True)
class Hop:
    """The SSH host as the error should name it, and how to record its key."""

    host: str
    port: int
    known_hosts: str
    jump: str | None  # how this host is reached, when not directly


def is_local_port_taken(lines: Sequence[str]) -> bool:
    """ssh could not listen on the port we picked (another process took it in between)."""
    return any(_BIND.search(line) for line in lines)


def forward_refusal(lines: Sequence[str]) -> str | None:
    """The reason the SSH host gave for not opening a channel to the database, if it did."""
    for line in reversed(lines):
        match = _OPEN_FAILED.search(line)
        if match:
            return match.group(1).strip()
    return None


def describe_failure(lines: Sequence[str], hop: Hop, timeout: float) -> TunnelError:
    """One error for an ``ssh`` that exited (or never came up); ``lines`` is its stderr."""
    text = [line.strip() for line in lines if line.strip()]
    offered = _offered_keys(text)
    for index, line in enumerate(text):
        if match := _CHANGED.search(line):
            return _changed(text, match.group(1), offered, hop)
        if match := _UNKNOWN.search(line):
            return _unknown(match.group(2), match.group(1), _key_before(text, index, offered), hop)
    said = [line for line in text if not line.startswith("debug")]  # -v lines only supply details
    for line in said:
        if match := _DENIED.search(line):
            who = _authenticating(text) or match.group(1)
            return tunnel_error(f"SSH authentication failed for {who} (server accepts: {match.group(2)}; tried "
                                "ssh.key, the IdentityFiles of ssh config and the agent's keys)", transient=False)
        if match := _BAD_CONFIG.search(line):
            return tunnel_error(f"ssh refused its configuration: {line}", transient=False)
    for line in said:
        if match := _CONNECT.search(line):
            host, port, reason = match.groups()
            if "timed out" in reason.lower():
                return tunnel_error(f"SSH host {host}:{port} did not answer within {timeout:g} s", transient=True)
            return tunnel_error(f"cannot reach SSH host {host}:{port}: {reason.lower()}", transient=True)
        if match := _RESOLVE.search(line):
            host, reason = match.groups()
            temporary = "temporary" in reason.lower()
            return tunnel_error(f"cannot reach SSH host {host}: unknown host name ({reason.lower()})",
                                transient=temporary)
        if reason := _open_failed(line):
            return reason
    for line in said:
        if _CLOSED.search(line):
            return tunnel_error(f"the SSH connection to {hop.host}:{hop.port} failed: {line}", transient=True)
    detail = said[-1] if said else "ssh exited without saying why"
    return tunnel_error(f"SSH tunnel via {hop.host}:{hop.port} failed: {detail}", transient=True)


def _open_failed(line: str) -> TunnelError | None:
    match = _OPEN_FAILED.search(line)
    if not match:
        return None
    reason = match.group(1).strip()
    return tunnel_error(f"the SSH host cannot reach the database ({reason})",
                        transient="connect failed" in reason)


def _offered_keys(text: Sequence[str]) -> list[tuple[int, str, str]]:
    return [(i, m.group(1), m.group(2)) for i, line in enumerate(text) if (m := _SERVER_KEY.search(line))]


def _key_before(text: Sequence[str], index: int, offered: list[tuple[int, str, str]]) -> tuple[str, str] | None:
    before = [(kind, fp) for i, kind, fp in offered if i < index]
    return before[-1] if before else None


def _authenticating(text: Sequence[str]) -> str | None:
    found = [m for line in text if (m := _AUTHENTICATING.search(line))]
    return f"{found[-1].group(2)}@{found[-1].group(1)}" if found else None


def _name_parts(name: str, hop: Hop) -> tuple[str, int]:
    """``[h]:p`` or ``h`` (known_hosts notation) -> (host, port)."""
    if name.startswith("[") and "]:" in name:
        host, port = name[1:].split("]:", 1)
        return host, int(port) if port.isdigit() else hop.port
    return name, 22


def _unknown(name: str, kind: str, key: tuple[str, str] | None, hop: Hop) -> TunnelError:
    offers = f"{key[0]} {key[1]}" if key else f"an {kind} key"
    host, port = _name_parts(name, hop)
    known = hop.known_hosts
    if (host, port) == (hop.host, hop.port) and hop.jump:
        fix = (f"check the fingerprint with the server's admin, then record it with: ssh -J {hop.jump} "
               f"-o UserKnownHostsFile={known} -o StrictHostKeyChecking=accept-new -p {port} -N {host}")
    else:
        fix = f"verify it and record it with: ssh-keyscan -p {port} {host} >> {known}"
    return tunnel_error(f"SSH host key for {name} is unknown (server offers {offers}; not in {known}): {fix}, "
                        "or connect once with ssh", transient=False)


def _changed(text: Sequence[str], name: str, offered: list[tuple[int, str, str]], hop: Hop) -> TunnelError:
    fingerprint = next((m.group(1) for line in text if (m := _CHANGED_FINGERPRINT.match(line))), None)
    kind = offered[-1][1] if offered else "the"
    if fingerprint is None and offered:
        fingerprint = offered[-1][2]
    stored = next((m.group(1) for line in text if (m := _OFFENDING.search(line))), hop.known_hosts)
    fix = next((m for line in text if (m := _KEYGEN_FIX.search(line))), None)
    keygen = f"ssh-keygen -R '{fix.group(2)}' -f '{fix.group(1)}'" if fix else f"ssh-keygen -R '{name}' -f '{stored}'"
    return tunnel_error(
        f"SSH host key for {name} has CHANGED (server offers {kind} {fingerprint or '(fingerprint not shown)'}, "
        f"{stored} holds another): refusing to connect; if the server was really rebuilt, remove the old key "
        f"with: {keygen}", transient=False)
