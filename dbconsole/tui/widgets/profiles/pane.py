"""The profiles pane: which databases exist, how each is doing, and which two are compared.

Each profile is one option of two lines: a status dot, the name in the profile's accent colour
and the side it is compared on; then its read-only lock, its SSH tunnel and the server version
once connected, and the migration tool and current version once the pair's schemas were read
(with one line under the list saying which of the two is behind). The pane never connects by
itself: the app owns the statuses and the pair and re-renders the pane when they change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from dbconsole.config import Config, Profile
from dbconsole.tui.actions import bindings
from dbconsole.tui.messages import PairChosen

# A glyph per state as well as a colour, so the state reads without colour too.
STATUS_GLYPHS = {
    "unknown": ("○", "dim"),
    "connecting": ("◐", "yellow"),
    "connected": ("●", "green"),
    "error": ("✗", "red"),
    "unusable": ("⊘", "red"),
}
LOCK = "🔒"
FILE = "▤"
TUNNEL = "⇄"


@dataclass
class ProfileStatus:
    state: str = "unknown"
    version: str | None = None
    error: str | None = None
    read_only: bool | None = None  # as the server enforces it, once connected
    migrations: Any = None  # MigrationHistory, once read with the schema (None: none found or not read)
    migrations_read: bool = False  # the schema worker looked (so "no migration table" can be said)
    file: Any = None  # a SQLite profile's SqliteFileInfo, once the file was read


def safe_color(color: str | None) -> str | None:
    """A colour Rich understands, or None: a typo in the config must not break the screen."""
    if not color:
        return None
    from rich.color import Color, ColorParseError

    try:
        Color.parse(color)
    except ColorParseError:
        return None
    return color


def short_version(version: str) -> str:
    """``PostgreSQL 15.18 (Debian 15.18-0+deb12u1)`` → ``pg 15.18``: the pane is narrow."""
    words = version.split()
    if len(words) >= 2 and words[0] == "PostgreSQL":
        return f"pg {words[1]}"
    if len(words) >= 2 and words[0] == "SQLite":
        return f"sqlite {words[1]}"
    return words[0] if words else version


def status_glyph(profile: Profile, status: ProfileStatus) -> tuple[str, str]:
    state = "unusable" if profile.unusable else status.state
    return STATUS_GLYPHS.get(state, STATUS_GLYPHS["unknown"])


def profile_prompt(profile: Profile, status: ProfileStatus, side: str | None) -> Text:
    """Two lines: status, name, side and version; then the lock and the tunnel."""
    glyph, style = status_glyph(profile, status)
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(f"{glyph} ", style=style)
    line.append(profile.name, style=f"bold {safe_color(profile.color) or ''}".strip())
    if side:
        line.append(" ")
        line.append(f" {side} ", style="reverse bold")
    if profile.unusable:
        line.append("  unusable", style="red")
    elif status.version:
        line.append(f"  {short_version(status.version)}", style="dim")
    elif status.state == "error":
        line.append("  unreachable", style="red")
    line.append("\n  ")
    if profile.unusable:
        line.append(profile.unusable, style="red")  # "needs NOPE_PASS": what to do about it
        return line
    details = Text(style="dim")
    details.append(f"{LOCK} read-only" if profile.read_only else "writable")
    if profile.is_sqlite:  # a file, a source only (its size and tables: in the detail, once read)
        details.append(f" · {FILE} SQLite file")
    if profile.ssh is not None:
        details.append(f" · {TUNNEL} ssh tunnel")
    line.append_text(details)
    if status.migrations is not None:
        line.append("\n  ")
        line.append(migration_words(status.migrations), style="dim")
    return line


def migration_words(history: Any) -> str:
    """``prisma 20240301_add_alerts`` (the tool and where the database is), short for the pane."""
    if history.error:
        return f"{history.tool}: unreadable"
    return f"{history.tool} {history.current or '(none applied)'}"


def behind_line(comparison: Any, left: str | None, right: str | None) -> Text:
    """Which of the compared profiles is behind, in the words people use: "local is 2 migrations
    behind server". Tools that keep only the head (alembic) cannot say; the sentence says so."""
    text = Text(no_wrap=False)
    if comparison is None:
        return text
    if comparison.behind in ("left", "right"):
        behind, ahead = (left, right) if comparison.behind == "left" else (right, left)
        missing = comparison.missing_left if comparison.behind == "left" else comparison.missing_right
        if missing:
            noun = "migration" if len(missing) == 1 else "migrations"
            text.append(f"{behind} is {len(missing)} {noun} behind {ahead}", style="yellow")
        else:
            text.append(f"{behind} is behind {ahead}", style="yellow")
        return text
    style = "red" if comparison.behind == "both" else "green" if comparison.summary.startswith("in step") else "dim"
    text.append(f"migrations: {comparison.summary}", style=style)
    return text


def pair_line(config: Config, statuses: dict[str, ProfileStatus], left: str | None, right: str | None,
              migrations: Any = None) -> Text:
    """The compared profiles in one line (``L ● local pg 15 ⇄ R ● server 🔒 ⇄ssh pg 15``), for a
    terminal too narrow for the profiles pane; F2 opens the pane. ``migrations``: the pair's
    MigrationComparison; when one side is behind, the line says so in a few words."""
    line = Text(no_wrap=True, overflow="ellipsis")
    for side, name in (("L", left), ("R", right)):
        if side == "R":
            line.append("   ")
        line.append(f" {side} ", style="reverse bold")
        profile = config.profiles.get(name) if name else None
        if profile is None:
            line.append(" add a second profile (n) to compare" if side == "R" else " none", style="yellow")
            continue
        status = statuses.get(profile.name, ProfileStatus())
        glyph, style = status_glyph(profile, status)
        line.append(f" {glyph} ", style=style)
        line.append(profile.name, style=f"bold {safe_color(profile.color) or ''}".strip())
        if profile.unusable:
            line.append(f" {profile.unusable}", style="red")
            continue
        if profile.read_only:
            line.append(f" {LOCK}")
        if profile.ssh is not None:
            line.append(f" {TUNNEL}", style="dim")
        if status.state == "error":
            line.append(" unreachable", style="red")
        elif status.version:
            line.append(f" {short_version(status.version)}", style="dim")
    if migrations is not None and migrations.behind in ("left", "right"):
        behind = left if migrations.behind == "left" else right
        missing = migrations.missing_left if migrations.behind == "left" else migrations.missing_right
        count = f" {len(missing)}" if missing else ""
        line.append(f"   {behind}{count} migration{'s' if len(missing) != 1 else ''} behind", style="yellow")
    line.append("   F2 profiles", style="dim")
    return line


class ProfileList(OptionList):
    """The focusable list of profiles; its keys act on the highlighted profile."""

    ACTION_SCOPE = "profiles"
    BINDINGS = bindings("profiles")

    @property
    def pane(self) -> ProfilesPane:
        return self.query_ancestor(ProfilesPane)

    @property
    def selected_name(self) -> str | None:
        option = self.highlighted_option
        return option.id if option is not None else None

    def action_set_left(self) -> None:
        if self.selected_name:
            self.post_message(PairChosen("left", self.selected_name))

    def action_set_right(self) -> None:
        if self.selected_name:
            self.post_message(PairChosen("right", self.selected_name))



class ProfilesPane(Vertical):
    """Left pane: the profile list and one line of detail about the highlighted profile."""

    DEFAULT_CLASSES = "pane"

    def compose(self) -> ComposeResult:
        yield ProfileList(id="profile-list")
        yield Static("", id="pair-migrations")
        yield Static("", id="profile-detail")

    def on_mount(self) -> None:
        self.border_title = "Profiles"

    @property
    def selected_name(self) -> str | None:
        return self.query_one(ProfileList).selected_name

    def show(self, config: Config, statuses: dict[str, ProfileStatus], left: str | None, right: str | None,
             migrations: Any = None) -> None:
        """Render every profile; keeps the highlighted one where it was. ``migrations``: the pair's
        MigrationComparison, when the schema worker read one."""
        found = self.query(ProfileList)
        if not found:
            return  # shutting down: the list is already gone
        line = self.query_one("#pair-migrations", Static)
        line.update(behind_line(migrations, left, right))
        line.display = migrations is not None
        plist = found.first()
        keep = plist.selected_name
        plist.clear_options()
        options = []
        for name, profile in config.profiles.items():
            side = "L" if name == left else "R" if name == right else None
            options.append(Option(profile_prompt(profile, statuses.get(name, ProfileStatus()), side), id=name))
        plist.add_options(options)
        names = list(config.profiles)
        if names:
            plist.highlighted = names.index(keep) if keep in names else 0
        self._config = config
        self._statuses = statuses
        self.update_detail()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.update_detail()

    def update_detail(self) -> None:
        detail = self.query_one("#profile-detail", Static)
        config = getattr(self, "_config", None)
        name = self.selected_name
        if config is None or name is None or name not in config.profiles:
            detail.update("")
            return
        profile = config.profiles[name]
        status = self._statuses.get(name, ProfileStatus())
        text = Text(no_wrap=False)
        if profile.description:
            text.append(profile.description + "\n", style="italic")
        text.append(profile.display_url, style="dim")
        if profile.is_sqlite:
            text.append(f"\n{status.file.path}\n{status.file.summary}" if status.file is not None
                        else "\nSQLite file, a read-only source (t reads it)", style="dim")
        if profile.ssh is not None:
            ssh = profile.ssh
            user = f"{ssh.user}@" if ssh.user else ""
            port = f":{ssh.port}" if ssh.port else ""
            text.append(f"\nvia ssh {user}{ssh.host}{port}", style="dim")
        if profile.origin != "file":
            text.append(f"\nfrom ${profile.origin.split(':', 1)[-1]}", style="dim italic")
        history = status.migrations
        if history is not None:
            count = f" ({len(history.applied)} applied)" if history.applied is not None else " (only the head is kept)"
            text.append(f"\nmigrations: {history.tool} at {history.current or '-'}{count}"
                        if not history.error else f"\nmigrations: {history.tool}: {history.error}", style="dim")
        elif status.migrations_read:
            text.append("\nmigrations: no migration table found", style="dim")
        if profile.unusable:
            text.append(f"\nunusable: {profile.unusable}; never connected until that is fixed", style="red")
        elif status.error:
            text.append("\n" + status.error, style="red")
        detail.update(text)
