"""The console's profile keys: test (``t``), add (``n``), edit (``e``), delete, health (``h``)
and history (``y``), as a mixin of :class:`~dbconsole.tui.app.DbconsoleApp`.

Kept apart from the app because they only read the app's config and selection and push
screens; what the app owns (the config, statuses, the compared pair) changes only through
:meth:`DbconsoleApp.use_config` and messages. The test runs in a thread worker, as all database
work in the console does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import work

from dbconsole.config import Config, Profile, save_config, without_profile
from dbconsole.errors import DbconsoleError
from dbconsole.reading import describe_probe, error_line, probe
from dbconsole.tui.messages import JobFailed, MigrationsRead, ProfileStatusChanged

if TYPE_CHECKING:
    from dbconsole.tui.widgets.profiles import ProfilesPane


class ProfileActions:
    """The profile actions; mixed into the app, whose attributes below they use."""

    if TYPE_CHECKING:
        config: Config
        left: str | None
        right: str | None
        profiles_pane: ProfilesPane

        def notify(self, message: str, **kwargs: Any) -> None: ...
        def push_screen(self, screen: Any, callback: Any = None) -> Any: ...
        def post_message(self, message: Any) -> bool: ...
        def call_from_thread(self, callback: Any, *args: Any, **kwargs: Any) -> Any: ...
        def use_config(self, config: Config) -> None: ...

    def _selected_profile(self) -> str | None:
        return self.profiles_pane.selected_name

    def action_test_profile(self) -> None:
        name = self._selected_profile()
        if name is None:
            return
        unusable = self.config.profiles[name].unusable
        if unusable:
            self.notify(f"{name} is unusable: {unusable}", severity="warning")
            return
        self.post_message(ProfileStatusChanged(name, "connecting"))
        self._test_profile(name)

    @work(thread=True, group="profile-test", exit_on_error=False)
    def _test_profile(self, name: str) -> None:
        profile = self.config.profiles[name]
        if profile.is_sqlite:
            self._test_sqlite_file(profile)
            return
        try:
            result = probe(profile)
        except Exception as exc:
            message = error_line(exc)
            self.post_message(ProfileStatusChanged(name, "error", error=message))
            self.post_message(JobFailed(f"test {name}", message))
            return
        info = result.info
        self.post_message(ProfileStatusChanged(name, "connected", version=info.version, read_only=info.read_only))
        self._read_migrations(profile)
        self.call_from_thread(self.notify, f"{name}: {describe_probe(profile, result)}", title="connected",
                              timeout=5)

    def _test_sqlite_file(self, profile: Profile) -> None:
        """In the test worker: a SQLite profile has no server; its file is opened read-only and read."""
        from dbconsole.sqlite.info import read_sqlite_file

        try:
            info = read_sqlite_file(profile).info
        except Exception as exc:
            message = error_line(exc)
            self.post_message(ProfileStatusChanged(profile.name, "error", error=message))
            self.post_message(JobFailed(f"test {profile.name}", message))
            return
        self.post_message(ProfileStatusChanged(profile.name, "connected", version=info.version, read_only=True,
                                               file=info))
        self.call_from_thread(self.notify, f"{profile.name}: {info.tested}", title="read", timeout=5)

    def _read_migrations(self, profile: Any) -> None:
        """In the test worker: the profile's migration history (one query), so a profile outside
        the compared pair shows its migration version too. A failure only means nothing shown."""
        from dbconsole.connect import connect
        from dbconsole.schema.migrations import read_migrations

        try:
            with connect(profile, read_only=True, purpose="schema") as conn:
                history = read_migrations(conn)
        except Exception:  # noqa: BLE001 - the test itself already succeeded and said so
            return
        self.post_message(MigrationsRead({profile.name: history}, None))

    def action_health(self) -> None:
        """``h``: the health view of the profile highlighted in the profiles pane."""
        from dbconsole.tui.screens.health import HealthScreen

        if (profile := self._usable_profile(self._selected_profile() or self.right or self.left)) is not None:
            self.push_screen(HealthScreen(profile))

    def action_history(self) -> None:
        """``y``: the sync runs recorded on the profile highlighted in the profiles pane."""
        from dbconsole.tui.screens.history import HistoryScreen

        if (profile := self._usable_profile(self._selected_profile() or self.left)) is not None:
            self.push_screen(HistoryScreen(profile))

    def _usable_profile(self, name: str | None) -> Profile | None:
        """The profile a view opens on, or None (an unusable one is said, in one line)."""
        if name is None:
            return None
        profile = self.config.profiles[name]
        if profile.unusable:
            self.notify(f"{name} is unusable: {profile.unusable}", severity="warning")
            return None
        if profile.is_sqlite:  # health and history are a PostgreSQL server's (a file is never a target)
            self.notify(f"{name} is a SQLite file: health and history are for PostgreSQL profiles", severity="warning")
            return None
        return profile

    def action_add_profile(self) -> None:
        from dbconsole.tui.screens.profile_form import ProfileForm

        self.push_screen(ProfileForm(self.config), self._profile_saved)

    def action_edit_profile(self) -> None:
        from dbconsole.tui.screens.profile_form import ProfileForm

        name = self._selected_profile()
        if name is None:
            return
        profile = self.config.profiles[name]
        if profile.origin != "file":
            self.notify(f"'{name}' comes from ${profile.origin.split(':', 1)[-1]}; add a profile with "
                        "the same name (n) to keep it in the config file", severity="warning")
            return
        self.push_screen(ProfileForm(self.config, name), self._profile_saved)

    def action_delete_profile(self) -> None:
        from dbconsole.tui.screens.confirm import ConfirmScreen

        name = self._selected_profile()
        if name is None:
            return
        profile = self.config.profiles[name]
        if profile.origin != "file":
            self.notify(f"'{name}' comes from ${profile.origin.split(':', 1)[-1]}, not from the config file",
                        severity="warning")
            return

        def answered(yes: bool | None) -> None:
            from dbconsole.config import forget_secrets

            if not yes:
                return
            try:
                new_config = without_profile(self.config, name)
                save_config(new_config)
            except DbconsoleError as exc:
                self.notify(str(exc), severity="error")
                return
            except OSError as exc:
                self.notify(error_line(exc), severity="error")
                return
            self.notify(f"deleted profile {name}; {forget_secrets(profile, new_config)}", timeout=6)
            self.use_config(new_config)

        self.push_screen(ConfirmScreen(f"Delete profile '{name}' from {self.config.save_path}?",
                                       yes="Delete"), answered)

    def _profile_saved(self, new_config: Config | None) -> None:
        if new_config is None:
            return
        self.notify(f"saved {new_config.save_path}", timeout=3)
        self.use_config(new_config)
