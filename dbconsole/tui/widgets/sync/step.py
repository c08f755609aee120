"""One step of the sync wizard: what it shows, how it is entered, whether it is done.

The wizard screen (:class:`~dbconsole.tui.screens.wizard.SyncWizard`) only moves between steps;
each step widget knows how to enter itself (focus, refresh), what still stops the user going on
(:meth:`WizardStep.blocker`) and its part of the :class:`~dbconsole.sync.SyncRequest`
(:meth:`WizardStep.contribute`). A step never starts database work itself: it asks the screen,
which owns the workers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

from textual.containers import Vertical

if TYPE_CHECKING:
    from dbconsole.tui.screens.wizard import SyncWizard

StepId = Literal["direction", "tables", "options", "preview", "confirm", "run", "summary"]
STEPS: tuple[StepId, ...] = ("direction", "tables", "options", "preview", "confirm", "run", "summary")


class WizardStep(Vertical):
    """Base of the step widgets; the id of the widget is its ``step_id``."""

    step_id: ClassVar[StepId]
    title: ClassVar[str]

    def __init__(self) -> None:
        super().__init__(id=self.step_id, classes="step")

    @property
    def wizard(self) -> SyncWizard:
        return cast("SyncWizard", self.screen)

    def enter(self) -> None:
        """Called each time the step is shown."""

    def blocker(self) -> str | None:
        """Why Next may not go on yet (shown to the user), or None."""
        return None

    def contribute(self) -> dict[str, Any]:
        """This step's fields of the SyncRequest."""
        return {}
