"""Step 5: confirm. A target that is not local, or mode replace, needs its name typed."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Input, Static

from dbconsole.sync.confirm import confirmation_reason
from dbconsole.sync.counts import RowCounts, describe_counts
from dbconsole.tui.actions import bindings
from dbconsole.tui.widgets.sync.step import WizardStep
from dbconsole.tui.widgets.sync.wording import plural


class ConfirmStep(WizardStep):
    ACTION_SCOPE = "wizard_confirm"
    BINDINGS = bindings("wizard_confirm")
    can_focus = True
    step_id = "confirm"
    title = "Confirm"

    def compose(self) -> ComposeResult:
        yield Static("", id="confirm-text", classes="step-intro")
        yield Input(placeholder="", id="confirm-input")
        yield Static("", classes="step-error", id="confirm-error")

    def enter(self) -> None:
        wizard = self.wizard
        request = wizard.request()
        target = wizard.target.name
        results = wizard.preview_results
        totals = RowCounts.sum(t.counts for t in results)
        text = Text()
        text.append(f"Sync {plural(len(wizard.plan.tables) if wizard.plan else 0, 'table')} from ")
        text.append(wizard.source.name, style="bold")
        text.append(" into ")
        text.append(target, style="bold")
        text.append(f" ({wizard.mode_label()}).\n")
        text.append(f"The dry run: {describe_counts(totals, dry_run=True)}.\n\n")
        box = self.query_one("#confirm-input", Input)
        reason = confirmation_reason(request)
        if reason:
            text.append(f"Because {reason}, type the target's name ", style="yellow")
            text.append(f'"{target}"', style="bold yellow")
            text.append(" to confirm, then press enter.", style="yellow")
            box.display = True
            box.placeholder = target
            box.value = ""
            box.focus()
        else:
            text.append("Press ctrl+n (or Run) to start. escape goes back.")
            box.display = False
            self.focus()  # so this step's keys (ctrl+n Run) are the footer's
        self.query_one("#confirm-text", Static).update(text)
        self.query_one("#confirm-error", Static).update("")

    def blocker(self) -> str | None:
        wizard = self.wizard
        if confirmation_reason(wizard.request()) is None:
            return None
        typed = self.query_one("#confirm-input", Input).value.strip()
        if typed == wizard.target.name:
            return None
        message = f'type "{wizard.target.name}" exactly to confirm' if typed else ""
        self.query_one("#confirm-error", Static).update(message)
        return message or "type the target's name to confirm"

    def contribute(self) -> dict[str, Any]:
        return {}
