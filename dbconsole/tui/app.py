"""The console: profiles on the left, the compare browser in the middle, screens on top.

The app owns the state that several widgets show (the config, each profile's status, which two
profiles are compared, whether a sync is running) and turns messages from workers into
changes on screen. Screens (wizard, inspector, profile form, help, welcome) are pushed on top
and report back through their dismiss value.
"""

from __future__ import annotations

import os
import sys
from functools import partial
from typing import Any

from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.widgets import Header

from dbconsole.config import Config, load_config
from dbconsole.connect import tunnels
from dbconsole.errors import ConfigError
from dbconsole.tui.actions import bindings
from dbconsole.tui.commands import ActionCommands
from dbconsole.tui.messages import JobFailed, MigrationsRead, PairChosen, ProfileStatusChanged, SyncStateChanged
from dbconsole.tui.profile_actions import ProfileActions
from dbconsole.tui.widgets.browser import BrowserGrid, CompareBrowser
from dbconsole.tui.widgets.footer import KeysFooter
from dbconsole.tui.widgets.profiles import ProfileList, ProfilesPane, ProfileStatus, pair_line

DEFAULT_REFRESH_SECONDS = 60.0
# The engine and the counts run in threads of this process. With CPython's default 5 ms GIL
# switch interval, every hop of a key press through the event loop may wait up to 5 ms for a
# busy worker thread to let go, and a key needs dozens of hops: keys felt 150-450 ms slow during
# a big sync. A shorter interval hands the GIL back to the UI quickly; the engine loses little.
UI_SWITCH_INTERVAL = 0.0005
THEMES = {"dark": "textual-dark", "light": "textual-light"}


def default_pair(config: Config) -> tuple[str | None, str | None]:
    """Left: the profile this machine is (``config.default()``); right: "server", else the next one."""
    names = list(config.profiles)
    if not names:
        return None, None
    try:
        left, _reason = config.default()
    except ConfigError:
        left = None
    if left not in config.profiles:
        left = names[0]
    others = [n for n in names if n != left]
    usable = [n for n in others if not config.profiles[n].unusable]  # a working pair first
    right = "server" if "server" in usable else (usable[0] if usable else others[0] if others else None)
    return left, right


class DbconsoleApp(ProfileActions, App[int]):
    """The full-screen console. Pass a loaded ``config`` (tests) or a ``config_path``."""

    CSS_PATH = "dbconsole.tcss"
    TITLE = "dbconsole"
    ACTION_SCOPE = "app"
    BINDINGS = bindings("app")
    COMMANDS = App.COMMANDS | {ActionCommands}

    def __init__(self, config: Config | None = None, config_path: str | os.PathLike[str] | None = None, *,
                 refresh_interval: float | None = None, demo: bool = False, watch_css: bool = False) -> None:
        super().__init__(watch_css=watch_css)
        self.demo = demo
        self.config = config if config is not None else load_config(config_path)
        self.statuses: dict[str, ProfileStatus] = {name: ProfileStatus() for name in self.config.profiles}
        self.left, self.right = default_pair(self.config)
        tui = self.config.tui
        self.refresh_seconds = float(refresh_interval if refresh_interval is not None
                                     else tui.get("refresh_interval", DEFAULT_REFRESH_SECONDS))
        self.running_syncs: set[tuple[str, str]] = set()
        self._last_target: str | None = None  # the profile the last sync wrote into
        # The pair's migration comparison, with the (left, right) it was made for.
        self.pair_migrations: tuple[tuple[str, str], Any] | None = None
        theme = str(tui.get("theme", "dark"))
        self.theme = THEMES.get(theme, theme if theme in self.available_themes else "textual-dark")

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        # Kept by reference: the app's own queries only see the screen on top (a wizard, say).
        self._profiles_pane = ProfilesPane(id="profiles")
        self._browser = CompareBrowser(id="browser")
        with Horizontal(id="main"):
            yield self._profiles_pane
            yield self._browser
        yield KeysFooter()

    def on_mount(self) -> None:
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(UI_SWITCH_INTERVAL)
        self.sub_title = self._subtitle()
        self.browser.set_refresh_interval(self.refresh_seconds)
        self.browser.configure_content(self.config.sync, int(self.config.tui.get("auto_diff_rows", 0)))
        self.show_profiles()
        self.browser.query_one(BrowserGrid).focus()
        if not self.config.profiles:
            self._open_welcome()
        else:
            self.apply_pair()
        if self.demo:
            self.notify("server is read-only behind a real SSH hop; local is an older copy. "
                        "c shows which rows differ, space marks, s syncs, ? lists every key.",
                        title="dbconsole demo", timeout=12)

    def on_unmount(self) -> None:
        sys.setswitchinterval(getattr(self, "_switch_interval", 0.005))

    @property
    def browser(self) -> CompareBrowser:
        return self._browser

    @property
    def profiles_pane(self) -> ProfilesPane:
        return self._profiles_pane

    def _subtitle(self) -> str:
        if self.demo:
            return "demo: throwaway databases, gone when you quit"
        path = self.config.path
        return str(path) if path else "profiles from environment variables"

    def show_profiles(self) -> None:
        if not self.profiles_pane.is_mounted:
            return  # a late status message while the app shuts down
        self.profiles_pane.show(self.config, self.statuses, self.left, self.right, self._pair_comparison())
        self.show_pair_line()

    def apply_pair(self) -> None:
        """Point the browser at the current left/right profiles and read both."""
        profiles = self.config.profiles
        left = profiles.get(self.left) if self.left else None
        right = profiles.get(self.right) if self.right else None
        self.browser.paused = self._pair_syncing()
        self.browser.set_pair(left, right)
        self.show_profiles()

    def _pair_syncing(self) -> bool:
        pair = {self.left, self.right}
        return any(set(p) & pair for p in self.running_syncs)

    # ------------------------------------------------------------------ messages

    def on_profile_status_changed(self, message: ProfileStatusChanged) -> None:
        status = self.statuses.setdefault(message.name, ProfileStatus())
        status.state = message.state
        if message.version:
            status.version = message.version
        if message.read_only is not None:
            status.read_only = message.read_only
        if message.file is not None:
            status.file = message.file
        status.error = message.error if message.state == "error" else None
        if message.name in self.config.profiles:
            self.show_profiles()

    def on_migrations_read(self, message: MigrationsRead) -> None:
        """The schema worker read the pair's migration tables: the pane shows them and who is behind."""
        for name, history in message.histories.items():
            status = self.statuses.setdefault(name, ProfileStatus())
            status.migrations = history
            status.migrations_read = True
        names = tuple(message.histories)
        if len(names) == 2:
            self.pair_migrations = ((names[0], names[1]), message.comparison)
        self.show_profiles()

    def on_pair_chosen(self, message: PairChosen) -> None:
        if message.name not in self.config.profiles:
            return
        if message.side == "left":
            if message.name == self.right:
                self.right = self.left
            self.left = message.name
        else:
            if message.name == self.left:
                self.left = self.right
            self.right = message.name
        self.notify(f"comparing {self.left} ⇄ {self.right}", timeout=2)
        self.apply_pair()

    def on_job_failed(self, message: JobFailed) -> None:
        self.notify(message.message, title=f"{message.kind} failed", severity="error", timeout=8)

    def on_sync_state_changed(self, message: SyncStateChanged) -> None:
        if message.running:
            self.running_syncs.add(message.profiles)
        else:
            self.running_syncs.discard(message.profiles)
        self.browser.paused = self._pair_syncing()
        self.browser.update_status()
        if not message.running:
            self._last_target = message.profiles[1]
            self.browser.refresh_counts("live", written=message.profiles[1])

    def palette_extras(self, screen: Any) -> Any:
        """Palette entries that name a profile: compare it on either side (main screen only)."""
        if screen is not self.screen_stack[0]:
            return
        for name in self.config.profiles:
            for side in ("left", "right"):
                if getattr(self, side) != name:
                    yield (f"Compare {name} as {side}", f"put profile {name} on the {side} of the browser",
                           partial(self.post_message, PairChosen(side, name)))

    # ------------------------------------------------------------------ actions: everywhere

    def action_help(self) -> None:
        from dbconsole.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    NARROW_BELOW = 110

    def on_resize(self) -> None:
        self.call_after_refresh(self.fold_profiles)  # once the new size is in place

    def fold_profiles(self) -> None:
        """On a narrow terminal the profiles pane folds away while the tables have the focus."""
        narrow = self.size.width < self.NARROW_BELOW
        pane = self.profiles_pane
        show = not narrow or pane.has_focus_within
        if pane.display != show:
            pane.display = show
        self.show_pair_line()

    def show_pair_line(self) -> None:
        """While the pane is folded, the two compared profiles' status stays in one line."""
        if not self.browser.is_mounted:
            return
        folded = not self.profiles_pane.display
        self.browser.show_pair_line(pair_line(self.config, self.statuses, self.left, self.right,
                                              self._pair_comparison()) if folded else None)

    def _pair_comparison(self) -> Any:
        """The migration comparison of the pair shown now (None: not read, or made for another pair)."""
        if self.pair_migrations is not None and self.pair_migrations[0] == (self.left, self.right):
            return self.pair_migrations[1]
        return None

    def action_focus_profiles(self) -> None:
        self.profiles_pane.display = True
        self.profiles_pane.query_one(ProfileList).focus()
        self.show_pair_line()

    def action_focus_browser(self) -> None:
        self.browser.query_one(BrowserGrid).focus()

    def action_swap_sides(self) -> None:
        if self.left and self.right:
            self.left, self.right = self.right, self.left
            self.apply_pair()

    async def action_quit(self) -> None:
        """Quit; while a sync runs, ask first (as escape does) and quit once it has stopped."""
        running = next((s for s in self.screen_stack if getattr(s, "running", False) and hasattr(s, "ask_quit")), None)
        if running is not None and not running.cancel_event.is_set():
            running.ask_quit()
            return
        self.quit_now()

    def quit_now(self) -> None:
        """Stop a running sync at its next block, close tunnels, leave."""
        for screen in self.screen_stack:
            cancel = getattr(screen, "cancel_event", None)
            if cancel is not None:
                cancel.set()
        self.workers.cancel_all()
        tunnels.close_all()
        self.exit(0)

    def use_config(self, config: Config) -> None:
        """Adopt a new config (after a save): keep statuses and the pair where still valid."""
        from dbconsole.tui.screens.welcome import WelcomeScreen

        old_pair = (self.left, self.right)
        old_profiles = self.config.profiles
        self.config = config
        self.browser.configure_content(config.sync, int(config.tui.get("auto_diff_rows", 0)))
        self.statuses = {name: (self.statuses.get(name, ProfileStatus())
                                if old_profiles.get(name) == config.profiles[name] else ProfileStatus())
                         for name in config.profiles}
        if self.left not in config.profiles or self.right not in config.profiles or self.right is None:
            left, right = default_pair(config)
            self.left = self.left if self.left in config.profiles else left
            if self.right not in config.profiles or self.right == self.left:
                others = [n for n in config.profiles if n != self.left]
                self.right = "server" if "server" in others else (others[0] if others else None)
        self.sub_title = self._subtitle()
        changed = (self.left, self.right) != old_pair or any(
            old_profiles.get(n) != config.profiles.get(n) for n in (self.left, self.right) if n)
        if isinstance(self.screen, WelcomeScreen) and config.profiles:
            self.pop_screen()
        if changed:
            self.apply_pair()
        else:
            self.show_profiles()
        if not config.profiles:
            self._open_welcome()

    def _open_welcome(self) -> None:
        from dbconsole.tui.screens.welcome import WelcomeScreen

        self.push_screen(WelcomeScreen(str(self.config.save_path)))

    # ------------------------------------------------------------------ actions: tables

    def action_inspect(self) -> None:
        from dbconsole.tui.screens.inspector import Inspector

        row = self.browser.current_row()
        if row is None:
            return
        profiles = self.config.profiles
        from dbconsole.diff import default_source
        from dbconsole.diff.columns import rules_for

        browser = self.browser
        left, right = profiles.get(self.left or ""), profiles.get(self.right or "")
        masks = dict(rules_for(row.name, self.config.sync).mask)
        source = default_source(left, right) if left and right else "right"
        self.push_screen(Inspector(row, left, right, content=browser.content_of(row.name),
                                   check_content=lambda: browser.check_content([row.name], say_why=True),
                                   masks={source: masks} if masks else {},
                                   schema_diffs=browser.schema_diffs.get(row.name),
                                   schema_compared=browser.schema_compared))

    def _pair_usable(self) -> bool:
        if not (self.left and self.right):
            self.notify("choose two profiles to sync between (l / r in the profiles pane)", severity="warning")
            return False
        for name in (self.left, self.right):
            unusable = self.config.profiles[name].unusable
            if unusable:
                self.notify(f"{name} is unusable: {unusable}", severity="warning")
                return False
        return True

    def open_subset_wizard(self, root: Any, subset: str) -> None:
        """The inspector's "copy this row and what it needs": the wizard with a subset prefilled."""
        from dbconsole.tui.screens.inspector_subset import subset_tables

        if not self._pair_usable():
            return
        rows = list(self.browser.rows.values())
        self._push_wizard(subset_tables(rows) or [root], rows, subset=subset)

    def action_sync(self) -> None:
        if not self._pair_usable():
            return
        browser = self.browser
        marked = browser.marked_names()
        if not marked:
            current = browser.current_name()
            marked = [current] if current is not None else []
        if not marked:
            self.notify("mark tables with space first", severity="warning")
            return
        self._push_wizard(marked, list(browser.rows.values()))

    def _push_wizard(self, marked: list[Any], rows: list[Any], *, subset: str = "") -> None:
        from dbconsole.tui.screens.wizard import SyncWizard

        assert self.left and self.right
        profiles = self.config.profiles
        wizard = SyncWizard(self.config, profiles[self.left], profiles[self.right], marked, tables=rows,
                            subset=subset)

        def finished(result: Any) -> None:
            target, self._last_target = self._last_target, None
            self.browser.refresh_counts("live", written=target)

        self.push_screen(wizard, finished)


def run_app(config_path: str | None = None, *, demo: bool = False) -> int:
    """Entry point of ``dbconsole`` with no command (and of the demo): run until the user quits;
    close tunnels."""
    app = DbconsoleApp(config_path=config_path, demo=demo)
    try:
        result = app.run()
    finally:
        tunnels.close_all()
    return int(result or 0) if app.return_code in (None, 0) else int(app.return_code or 1)
