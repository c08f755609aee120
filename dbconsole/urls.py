"""The ``user:password@`` part of a connection URL, taken apart and put back in one place.

Why one module: expanding ``${VAR}`` into a password, moving a typed password out to ``.env``,
putting a ``${VAR}`` reference in its place and masking a password for display all need the
same cut of ``scheme://userinfo@host...``. Written four times, the four cuts drifted apart
(one stopped at ``?``, one did not); here there is one rule. As libpq reads it, the user part
is there when an ``@`` comes before the first ``/``, and the host starts after it; the host ends
at ``/``, ``?`` or ``#``. Of the at-signs before that end, the *last* one closes the user part,
so a password with a raw ``@`` is masked whole, while an ``@`` in the query string is not
mistaken for one.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg.conninfo import conninfo_to_dict

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", ""}
URL_SCHEMES = ("postgresql://", "postgres://")


@dataclass(frozen=True)
class UserInfoUrl:
    """A URL cut around its user part; every field is the text as written (no decoding)."""

    scheme: str
    user: str
    password: str | None  # None: no ':' after the user (an empty password is "")
    host_and_rest: str  # "host:port/db?query", everything after the '@'

    def joined(self, user: str | None = None, password: str | None = None, *,
               drop_password: bool = False) -> str:
        """The URL again, with ``user`` and/or ``password`` replaced (text used as given)."""
        new_user = self.user if user is None else user
        new_password = None if drop_password else (self.password if password is None else password)
        userinfo = new_user if new_password is None else f"{new_user}:{new_password}"
        return f"{self.scheme}://{userinfo}@{self.host_and_rest}"


def split_userinfo(url: str) -> UserInfoUrl | None:
    """``url`` cut around its ``user[:password]@``; None when it has no scheme or no user part."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    authority, slash, tail = rest.partition("/")
    first_at = authority.find("@")
    if first_at < 0:
        return None
    ends = [i for i in (authority.find(c, first_at) for c in "?#") if i >= 0]
    last_at = authority.rfind("@", 0, min(ends, default=len(authority)))
    user, colon, password = authority[:last_at].partition(":")
    return UserInfoUrl(scheme=scheme, user=user, password=password if colon else None,
                       host_and_rest=f"{authority[last_at + 1:]}{slash}{tail}")


def looks_like_url(text: str) -> bool:
    """A libpq URL (``postgresql://...``) or a SQLite file URL (``sqlite:///...``) typed where a
    profile name is expected."""
    return text.startswith(URL_SCHEMES) or text.startswith("sqlite://")


def is_local_host(url: str) -> bool:
    """True when the URL's host is this machine: localhost, a loopback address or a socket."""
    try:
        params = conninfo_to_dict(url)
    except Exception:
        return False
    hosts = str(params.get("host") or "").split(",")
    hostaddrs = str(params.get("hostaddr") or "").split(",")
    return all(h in LOCAL_HOSTS or h.startswith("/") for h in hosts) and all(
        a in LOCAL_HOSTS for a in hostaddrs)


def password_of(url: str) -> str | None:
    """The password libpq would use for ``url`` (decoded), or None."""
    try:
        return conninfo_to_dict(url).get("password")
    except Exception:
        return None
