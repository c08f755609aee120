"""Where a paramiko tunnel goes: ``~/.ssh/config`` applied to a profile, and the host-key rule.

paramiko reads OpenSSH's config format but acts on little of it; this module applies Host
aliases, HostName, Port, User, IdentityFile, UserKnownHostsFile, ProxyCommand and ProxyJump
(``ssh.jump`` or the config's), with ``~`` resolved through ``$HOME`` like the rest of dbconsole.
The host key must match ``known_hosts`` exactly; unknown or changed keys are refused with the
command that fixes it, the same rule (and nearly the same words) as the OpenSSH transport.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from dbconsole.config import SshSettings
from dbconsole.osuser import expand_user_path, home_dir, login_name
from dbconsole.tunnel.base import require_key_file, tunnel_error


@dataclass(frozen=True)
class ResolvedSsh:
    """SSH settings after ``~/.ssh/config`` has been applied to the profile's values."""

    alias: str
    hostname: str
    port: int
    user: str
    key_files: tuple[str, ...]
    password: str | None = field(repr=False)  # never in a log through repr()
    known_hosts_files: tuple[str, ...]
    proxy_command: str | None
    compression: bool = True
    jump: tuple[ResolvedSsh, ...] = ()  # ProxyJump hops, in order (ssh.jump or the config's ProxyJump)
    jump_spec: str | None = None


def resolve_ssh(ssh: SshSettings) -> ResolvedSsh:
    """Apply ``~/.ssh/config`` (Host alias, HostName, Port, User, IdentityFile, ProxyJump, ...)."""
    config = _user_config()
    resolved = _resolve(config, ssh, default_known_hosts=None)
    spec = ssh.jump or config.lookup(ssh.host).get("proxyjump")
    if not spec or spec == "none":
        return resolved
    hops = tuple(_resolve(config, _jump_settings(part), default_known_hosts=ssh.known_hosts)
                 for part in spec.split(","))
    return dataclasses.replace(resolved, jump=hops, jump_spec=spec, proxy_command=None)


def _user_config() -> paramiko.SSHConfig:
    config_path = home_dir() / ".ssh" / "config"
    if not config_path.is_file():
        return paramiko.SSHConfig()
    try:
        return paramiko.SSHConfig.from_path(str(config_path))
    except Exception as exc:
        raise tunnel_error(f"cannot read {config_path}: {exc.__class__.__name__}", transient=False) from None


def _jump_settings(part: str) -> SshSettings:
    """``[user@]host[:port]`` -> settings for that hop (everything else from the config)."""
    user, _, hostport = part.strip().rpartition("@")
    host, port = hostport, None
    if hostport.startswith("[") and "]" in hostport:
        host, _, rest = hostport[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif hostport.count(":") == 1:
        host, port = hostport.split(":")
    if port is not None and not port.isdigit():
        raise tunnel_error(f"bad ProxyJump hop {part!r}: the port must be a number", transient=False)
    return SshSettings(host=host, user=user or None, port=int(port) if port else None)


def _resolve(config: paramiko.SSHConfig, ssh: SshSettings, default_known_hosts: str | None) -> ResolvedSsh:
    """One hop. A jump hop sees the config's UserKnownHostsFile, else the profile's, like OpenSSH's does."""
    found = config.lookup(ssh.host)
    given_key = require_key_file(ssh)
    if given_key:
        key_files: tuple[str, ...] = (given_key,)
    else:
        key_files = tuple(expand_user_path(k) for k in found.get("identityfile", [])
                          if Path(expand_user_path(k)).is_file())
    if ssh.known_hosts:
        known = (expand_user_path(ssh.known_hosts),)
    else:
        configured = found.get("userknownhostsfile")
        configured_files = configured.split() if isinstance(configured, str) else list(configured or [])
        fallback = expand_user_path(default_known_hosts) if default_known_hosts else str(home_dir() / ".ssh" / "known_hosts")
        known = tuple(expand_user_path(p) for p in configured_files) or (fallback,)
        known = known + ("/etc/ssh/ssh_known_hosts",)
    return ResolvedSsh(
        alias=ssh.host,
        hostname=found.get("hostname", ssh.host),
        port=int(ssh.port or found.get("port", 22)),
        user=ssh.user or found.get("user") or login_name(),
        key_files=key_files,
        password=ssh.password,
        known_hosts_files=known,
        proxy_command=found.get("proxycommand"),
        compression=ssh.compression,
    )


def _host_key_names(hostname: str, port: int) -> list[str]:
    return [hostname] if port == 22 else [f"[{hostname}]:{port}"]


def verify_host_key(resolved: ResolvedSsh, offered: paramiko.PKey, via: str | None = None) -> None:
    """Fail closed unless ``known_hosts`` holds exactly the key the server offered.

    ``via`` is the ProxyJump spec the host is reached through (the fix command then uses it).
    """
    names = _host_key_names(resolved.hostname, resolved.port)
    if resolved.alias != resolved.hostname:
        names += _host_key_names(resolved.alias, resolved.port)
    fingerprint = offered.fingerprint  # "SHA256:..."
    known_types: set[str] = set()
    for path in resolved.known_hosts_files:
        if not Path(path).is_file():
            continue
        try:
            host_keys = paramiko.HostKeys(path)
        except (OSError, paramiko.SSHException, ValueError) as exc:
            raise tunnel_error(f"cannot read known_hosts file {path}: {exc.__class__.__name__}", transient=False) from None
        for name in names:
            entry = host_keys.lookup(name)
            if not entry:
                continue
            stored = entry.get(offered.get_name())
            if stored is not None:
                if stored.asbytes() == offered.asbytes():
                    return
                raise tunnel_error(
                    f"SSH host key for {names[0]} has CHANGED (server offers {offered.get_name()} {fingerprint}, "
                    f"{path} holds another): refusing to connect; if the server was really rebuilt, "
                    f"remove the old key with: ssh-keygen -R '{names[0]}' -f '{path}'", transient=False)
            known_types.update(entry.keys())
    if known_types:
        raise tunnel_error(
            f"SSH host key for {names[0]} does not match known_hosts (server offers {offered.get_name()} "
            f"{fingerprint}, known_hosts holds {', '.join(sorted(known_types))}): refusing to connect", transient=False)
    known = resolved.known_hosts_files[0]
    if via:
        fix = (f"check the fingerprint with the server's admin, then record it with: ssh -J {via} "
               f"-o UserKnownHostsFile={known} -o StrictHostKeyChecking=accept-new -p {resolved.port} -N "
               f"{resolved.hostname}")
    else:
        fix = f"verify it and record it with: ssh-keyscan -p {resolved.port} {resolved.hostname} >> {known}"
    raise tunnel_error(f"SSH host key for {names[0]} is unknown (server offers {offered.get_name()} {fingerprint}; "
                      f"not in {known}): {fix}, or connect once with ssh", transient=False)
