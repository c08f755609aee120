"""Every action of the console, named once.

Why a registry: the footer, the ``?`` help screen and the command palette all read from this
list, so a key can never do one thing while the help says another. Each widget or screen that
owns actions declares its ``ACTION_SCOPE`` and builds its ``BINDINGS`` with :func:`bindings`;
the palette finds the live owner of a scope and runs the action there.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class ActionSpec:
    """One user-visible action: a stable id, its key, the Textual action and what it does."""

    id: str
    key: str
    action: str
    description: str
    scope: str
    show: bool = True
    priority: bool = False
    palette: bool = True
    key_display: str | None = None
    help: str = ""  # a longer line for the help screen and the command palette


SCOPE_TITLES = {
    "app": "Everywhere",
    "profiles": "Profiles pane",
    "browser": "Compare browser",
    "filter": "Filter box",
    "wizard": "Sync wizard",
    "wizard_fields": "Sync wizard: lists and fields",
    "wizard_direction": "Sync wizard: direction",
    "wizard_preview": "Sync wizard: dry run",
    "wizard_confirm": "Sync wizard: confirm",
    "wizard_run": "Sync wizard: run",
    "wizard_summary": "Sync wizard: summary",
    "inspector": "Inspector",
    "health": "Health view",
    "history": "History view",
    "type_name": "Confirm by name",
    "form": "Profile form",
    "welcome": "Welcome",
}

ACTIONS: tuple[ActionSpec, ...] = (
    # Everywhere
    ActionSpec("app.help", "question_mark", "help", "Help", "app", key_display="?"),
    # the same, for where "?" is typed text (the SQL box, a form): help stays in the footer
    ActionSpec("app.help_f1", "f1", "help", "Help", "app", key_display="F1", palette=False),
    ActionSpec("app.palette", "ctrl+p", "command_palette", "Commands", "app", show=False),
    ActionSpec("app.quit", "ctrl+q", "quit", "Quit", "app", priority=True),
    ActionSpec("app.theme", "f9", "toggle_theme", "Light/dark theme", "app", show=False),
    ActionSpec("app.focus_profiles", "f2", "focus_profiles", "Profiles pane", "app", show=False),
    ActionSpec("app.focus_browser", "f3", "focus_browser", "Tables pane", "app", show=False),
    # Profiles pane
    ActionSpec("profiles.left", "l", "set_left", "As left", "profiles", help="compare the highlighted profile on the left"),
    ActionSpec("profiles.right", "r", "set_right", "As right", "profiles", help="compare the highlighted profile on the right"),
    ActionSpec("profiles.test", "t", "app.test_profile", "Test", "profiles", help="connect to the highlighted profile and show its server"),
    ActionSpec("profiles.add", "n", "app.add_profile", "New", "profiles", help="add a profile (saved to the config file)"),
    ActionSpec("profiles.edit", "e", "app.edit_profile", "Edit", "profiles", help="edit the highlighted profile"),
    ActionSpec("profiles.delete", "d", "app.delete_profile", "Delete", "profiles", help="delete the highlighted profile from the config file"),
    ActionSpec("profiles.health", "h", "app.health", "Health", "profiles",
               help="the highlighted profile's server: sizes, connections, long queries, locks, replication, vacuum"),
    ActionSpec("profiles.history", "y", "app.history", "History", "profiles",
               help="the sync runs recorded on the highlighted profile (as a target); undo one from there"),
    ActionSpec("profiles.down", "j", "cursor_down", "Down", "profiles", show=False, palette=False),
    ActionSpec("profiles.up", "k", "cursor_up", "Up", "profiles", show=False, palette=False),
    ActionSpec("profiles.quit", "q", "app.quit", "Quit", "profiles", show=False, palette=False),
    # Compare browser
    ActionSpec("browser.filter", "slash", "filter", "Filter", "browser", key_display="/"),
    ActionSpec("browser.mark", "space", "mark", "Mark", "browser"),
    ActionSpec("browser.mark_all", "a", "mark_all", "Mark all", "browser", help="mark every table shown (again: unmark them)"),
    ActionSpec("browser.inspect", "enter", "app.inspect", "Inspect", "browser", help="rows of this table on both sides, and a read-only SQL box"),
    ActionSpec("browser.sync", "s", "app.sync", "Sync…", "browser", help="open the sync wizard with the marked tables"),
    ActionSpec("browser.refresh", "ctrl+r", "refresh", "Count", "browser",
               help="exact row counts of the marked tables (none marked: every table shown), one at a time"),
    ActionSpec("browser.content", "c", "check_content", "Content", "browser",
               help="content diff of the marked tables (none marked: the highlighted one): which rows differ, "
                    "by checksums on the servers; the content column shows same / ≠ N rows"),
    ActionSpec("browser.content_all", "C", "check_all_content", "Content (all)", "browser", show=False,
               key_display="C", help="content diff of every table shown, one table at a time"),
    ActionSpec("browser.swap", "x", "app.swap_sides", "Swap", "browser", help="swap the left and right profiles"),
    ActionSpec("browser.stop", "escape", "stop_or_clear", "Stop counts / clear filter", "browser", show=False,
               help="stop the exact counts and content diffs under way; when none run, clear the filter"),
    ActionSpec("browser.health", "h", "app.health", "Health", "browser", show=False,
               help="health view of the profile highlighted in the profiles pane (F2 goes there)"),
    ActionSpec("browser.history", "y", "app.history", "History", "browser", show=False,
               help="sync history of the profile highlighted in the profiles pane (F2 goes there)"),
    ActionSpec("browser.down", "j", "cursor_down", "Down", "browser", show=False, palette=False),
    ActionSpec("browser.up", "k", "cursor_up", "Up", "browser", show=False, palette=False),
    ActionSpec("browser.add_profile", "n", "app.add_profile", "New profile", "browser", show=False,
               help="add a profile (also from the profiles pane)"),
    ActionSpec("browser.edit_profile", "e", "app.edit_profile", "Edit profile", "browser", show=False,
               help="edit the profile highlighted in the profiles pane (F2 goes there)"),
    ActionSpec("browser.delete_profile", "d", "app.delete_profile", "Delete profile", "browser", show=False,
               help="delete the profile highlighted in the profiles pane, after a confirmation"),
    ActionSpec("browser.quit", "q", "app.quit", "Quit", "browser", show=False, palette=False),
    # Filter box
    ActionSpec("filter.clear", "escape", "clear_filter", "Clear filter", "filter", palette=False),
    # Sync wizard
    # Sync wizard. enter also goes on from Direction, Tables and Options (bound on their widgets);
    # each step's own keys live on its step widget, so the footer says what the step's button says.
    ActionSpec("wizard.next", "ctrl+n", "next", "Next", "wizard", priority=True,
               help="next step (enter too, on Direction, Tables and Options)"),
    ActionSpec("wizard.back", "escape", "back", "Back", "wizard", help="previous step"),
    ActionSpec("wizard.enter", "enter", "screen.next", "Next", "wizard_fields", show=False, palette=False,
               help="next step, from the Direction, Tables and Options fields (space toggles)"),
    ActionSpec("wizard.leave", "escape", "screen.leave", "Close", "wizard_direction", help="close the wizard"),
    ActionSpec("wizard.add_parents_preview", "p", "screen.add_parents", "Add FK parents", "wizard_preview",
               help="tick FK parents, plan and dry-run again (the dry run found rows whose parents are missing)"),
    ActionSpec("wizard.start", "ctrl+n", "screen.start", "Run", "wizard_confirm", priority=True,
               help="start the sync (once the target's name is typed, when asked)"),
    ActionSpec("wizard.cancel", "escape", "screen.cancel_run", "Cancel sync", "wizard_run",
               help="ask, then stop the run at its next block (committed batches are kept)"),
    ActionSpec("wizard.close", "ctrl+n", "screen.close", "Close", "wizard_summary", priority=True,
               help="close the wizard"),
    ActionSpec("wizard.close_escape", "escape", "screen.close", "Close", "wizard_summary", show=False,
               palette=False),
    ActionSpec("wizard.retry", "r", "screen.retry", "Run again (resume)", "wizard_summary",
               help="after a failure or a cancel: run the same sync again, resuming from the checkpoints"),
    ActionSpec("wizard.add_parents", "p", "screen.add_parents", "Add parents and retry", "wizard_summary",
               help="tick FK parents, plan and dry-run again (the run stopped on missing parent rows)"),
    # Inspector
    ActionSpec("inspector.run", "ctrl+r", "run_query", "Run query", "inspector", priority=True),
    ActionSpec("inspector.side", "ctrl+o", "switch_side", "Other side", "inspector", priority=True),
    ActionSpec("inspector.cancel", "ctrl+c", "cancel_query", "Cancel query", "inspector", priority=True),
    ActionSpec("inspector.differing", "ctrl+d", "differing_rows", "Differing rows", "inspector", priority=True,
               help="the rows a content diff found, side by side with the differing cells highlighted "
                    "(runs the diff when none ran); again: back to the first rows"),
    ActionSpec("inspector.close", "escape", "close", "Close", "inspector"),
    ActionSpec("inspector.down", "ctrl+down", "scroll_both(1)", "Both down", "inspector", show=False, priority=True,
               help="move both sides' previews down one row, lined up by key"),
    ActionSpec("inspector.up", "ctrl+up", "scroll_both(-1)", "Both up", "inspector", show=False, priority=True,
               help="move both sides' previews up one row, lined up by key"),
    ActionSpec("inspector.copy_key", "ctrl+l", "copy_key", "Copy key", "inspector", priority=True,
               help="copy the key of the highlighted preview row (as a WHERE clause) to the clipboard"),
    ActionSpec("inspector.subset", "ctrl+s", "subset_row", "Sync this row", "inspector", priority=True,
               help="copy this row and what it needs: opens the sync wizard with a subset rooted at the "
                    "highlighted row (its key as the filter)"),
    # Health view
    ActionSpec("health.refresh", "ctrl+r", "refresh", "Refresh now", "health"),
    ActionSpec("health.threshold", "t", "threshold", "Long-query threshold", "health",
               help="step the time after which a running query counts as long (30s, 1m, 5m, 1s, 5s, 10s)"),
    ActionSpec("health.close", "escape", "close", "Close", "health"),
    ActionSpec("health.quit", "q", "close", "Close", "health", show=False, palette=False),
    # History view
    ActionSpec("history.undo", "u", "undo", "Undo run", "history",
               help="undo the highlighted run (after typing the profile's name): its overwritten and deleted "
                    "rows put back, its inserted rows removed, in one transaction; sequences are not rewound"),
    ActionSpec("history.refresh", "ctrl+r", "refresh", "Refresh", "history"),
    ActionSpec("history.close", "escape", "close", "Close", "history"),
    ActionSpec("history.quit", "q", "close", "Close", "history", show=False, palette=False),
    ActionSpec("type_name.cancel", "escape", "cancel", "Cancel", "type_name", palette=False),
    # Profile form
    ActionSpec("form.save", "ctrl+s", "save", "Save", "form", priority=True),
    ActionSpec("form.test", "ctrl+t", "test", "Test", "form", priority=True),
    ActionSpec("form.cancel", "escape", "cancel", "Cancel", "form"),
    # Welcome
    ActionSpec("welcome.add", "n", "app.add_profile", "Add a profile", "welcome"),
    ActionSpec("welcome.quit", "q", "app.quit", "Quit", "welcome", palette=False, show=False),
)


def specs(scope: str) -> list[ActionSpec]:
    return [spec for spec in ACTIONS if spec.scope == scope]


def bindings(scope: str) -> list[Binding]:
    """The Textual bindings of one scope, built from the registry."""
    return [
        Binding(spec.key, spec.action, spec.description, show=spec.show, priority=spec.priority,
                id=spec.id, key_display=spec.key_display)
        for spec in specs(scope)
    ]


def key_label(spec: ActionSpec) -> str:
    """How a key reads in the help screen: ``ctrl+r`` → ``^r``, ``slash`` → ``/``."""
    if spec.key_display:
        return spec.key_display
    key = spec.key
    names = {"space": "space", "enter": "enter", "escape": "esc", "question_mark": "?", "slash": "/"}
    if key in names:
        return names[key]
    if key.startswith("ctrl+"):
        return "^" + key[5:]
    return key
