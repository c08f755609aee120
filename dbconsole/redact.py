"""Keep secrets off the screen, out of logs and out of exception text.

Two tools: :func:`mask_url` hides the password of a connection string that is about to be
shown, and :func:`redact` scrubs any text (an error from libpq, paramiko or our own code) of
every secret value the config has expanded so far. Config registers each password and each
expanded ``${VAR}`` that sits in a password position, so even a driver message that echoes a
DSN cannot leak it.
"""

from __future__ import annotations

import re
import threading

from dbconsole.urls import split_userinfo

MASK = "***"

_lock = threading.Lock()
_secrets: set[str] = set()

# user:password@ inside a URL; the password may hold anything but '@' and '/'.
_URL_PASSWORD = re.compile(r"(?P<pre>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@/\s]*)(?P<post>@)")
# password=... in a libpq keyword/value string, quoted or bare.
_KV_PASSWORD = re.compile(r"(?P<pre>(?<![?&])\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
# user:password@ where the password holds a raw '/', '?' or '#' (not percent-encoded): libpq and
# urlsplit both end the host part early, so the password runs to the last '@'.
_RAW_URL_PASSWORD = re.compile(r"^(?P<pre>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:).*@", re.DOTALL)
# ?password=... in a URL query string.
_QUERY_PASSWORD = re.compile(r"(?P<pre>[?&]password=)(?P<pw>[^&\s]*)", re.IGNORECASE)


def register_secret(value: str | None) -> None:
    """Remember a secret so that :func:`redact` removes it from any text later on."""
    if value and len(value) >= 3:
        with _lock:
            _secrets.add(value)


def mask_url(url: str | None) -> str:
    """Return a connection string fit to show: the password replaced by ``***``."""
    if not url:
        return ""
    if "://" not in url:
        return redact(_KV_PASSWORD.sub(lambda m: m["pre"] + MASK, url))
    parts = split_userinfo(url)
    if parts is None:
        if "@" in url.split("://", 1)[1]:  # a raw '/' in the password ended the user part early
            return redact(_RAW_URL_PASSWORD.sub(lambda m: m["pre"] + MASK + "@", url))
        return redact(url)
    if parts.password is not None:
        url = parts.joined(password=MASK)
    return redact(url)  # redact also masks a ?password= in the query string


def redact(text: str) -> str:
    """Scrub ``text`` of every registered secret and of passwords written inside DSNs."""
    if not text:
        return text
    text = _URL_PASSWORD.sub(lambda m: m["pre"] + MASK + m["post"], text)
    text = _KV_PASSWORD.sub(lambda m: m["pre"] + MASK, text)
    text = _QUERY_PASSWORD.sub(lambda m: m["pre"] + MASK, text)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text
