"""The command palette: every action of the registry that makes sense on the current screen.

Why it reads the registry: the palette, the footer and the help screen then always agree. An
action is offered when a widget (or the screen, or the app) that owns its scope is alive on the
current screen; choosing it runs the action on that owner, exactly as its key would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from dbconsole.tui.actions import ACTIONS, SCOPE_TITLES, ActionSpec, key_label


class ActionCommands(Provider):
    """Offers each registered action whose owner is on screen, labelled with its key."""

    def _owners(self) -> dict[str, Any]:
        screen = self.screen
        owners: dict[str, Any] = {"app": self.app}
        scope = getattr(screen, "ACTION_SCOPE", None)
        if scope:
            owners[scope] = screen
        for node in screen.query("*"):
            scope = getattr(node, "ACTION_SCOPE", None)
            if scope and scope not in owners:
                owners[scope] = node
        return owners

    def _commands(self) -> Iterator[tuple[str, str, Callable[[], Any]]]:
        owners = self._owners()
        for spec in ACTIONS:
            owner = owners.get(spec.scope)
            if owner is None or not spec.palette or spec.action == "command_palette":
                continue
            yield self._label(spec), self._help(spec), partial(owner.run_action, spec.action)
        app = self.app
        extra = getattr(app, "palette_extras", None)
        if extra is not None:
            yield from extra(self.screen)

    @staticmethod
    def _label(spec: ActionSpec) -> str:
        return f"{spec.description}"

    @staticmethod
    def _help(spec: ActionSpec) -> str:
        where = SCOPE_TITLES.get(spec.scope, spec.scope)
        return f"{spec.help + ' · ' if spec.help else ''}{where} · key {key_label(spec)}"

    async def discover(self) -> Hits:
        for label, help_text, callback in self._commands():
            yield DiscoveryHit(label, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for label, help_text, callback in self._commands():
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, matcher.highlight(label), callback, help=help_text)
