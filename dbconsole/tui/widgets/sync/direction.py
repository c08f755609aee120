"""Step 1: which way rows go. A read-only target is refused here, before anything connects."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from dbconsole.config import Profile
from dbconsole.tui.actions import bindings
from dbconsole.tui.widgets.sync.step import WizardStep
from dbconsole.tui.widgets.sync.toggles import ChoiceSet, RadioChoice


class DirectionStep(WizardStep):
    ACTION_SCOPE = "wizard_direction"
    BINDINGS = bindings("wizard_direction")
    step_id = "direction"
    title = "Direction"

    def __init__(self, pairs: list[tuple[Profile, Profile]], chosen: int) -> None:
        super().__init__()
        self.pairs = pairs
        self.chosen = chosen

    def compose(self) -> ComposeResult:
        yield Static("Which way do rows go? The target is written; the source is only read.", classes="step-intro")
        with ChoiceSet(id="direction-set", classes="step-list"):
            for index, (source, target) in enumerate(self.pairs):
                label = Text(f"{source.name}  →  {target.name}")
                if target.read_only:
                    label.append("   (target is read-only: refused)", style="red")
                yield RadioChoice(label, value=index == self.chosen)
        yield Static("space picks · enter goes on · escape closes", classes="step-keys")
        yield Static("", classes="step-error", id="direction-error")

    def enter(self) -> None:
        self.query_one(ChoiceSet).focus()

    def pair(self) -> tuple[Profile, Profile]:
        radio = self.query_one(ChoiceSet)
        index = radio.pressed_index if radio.pressed_index >= 0 else self.chosen
        return self.pairs[index]

    def blocker(self) -> str | None:
        source, target = self.pair()
        error = self.query_one("#direction-error", Static)
        if target.read_only:
            message = (f"{target.name} is read-only: a sync never writes to it. Choose the other direction, "
                       "or edit the profile if it really is a scratch database.")
            error.update(message)
            return message
        error.update("")
        return None

    def contribute(self) -> dict[str, Any]:
        source, target = self.pair()
        return {"source": source, "target": target}
