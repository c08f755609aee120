"""The sync wizard's step widgets (one per step) and the run's progress display."""

from dbconsole.tui.widgets.sync.confirm import ConfirmStep
from dbconsole.tui.widgets.sync.direction import DirectionStep
from dbconsole.tui.widgets.sync.options import OptionsStep
from dbconsole.tui.widgets.sync.preview import PreviewStep
from dbconsole.tui.widgets.sync.progress import RunProgress, bar_cell
from dbconsole.tui.widgets.sync.run import RunRecord, RunStep
from dbconsole.tui.widgets.sync.step import STEPS, StepId, WizardStep
from dbconsole.tui.widgets.sync.summary import SummaryStep
from dbconsole.tui.widgets.sync.tables import TablesStep

__all__ = ["STEPS", "ConfirmStep", "DirectionStep", "OptionsStep", "PreviewStep", "RunProgress", "RunRecord",
           "RunStep", "StepId", "SummaryStep", "TablesStep", "WizardStep", "bar_cell"]
