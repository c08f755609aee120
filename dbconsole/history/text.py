"""How a run is said to a person, the same in the CLI and the console's history view."""

from __future__ import annotations

from dbconsole.history.runs import RunRecord


def when_text(run: RunRecord) -> str:
    """``2026-12-01 13:40 UTC, 12.3 s`` (no duration while it runs or when it died)."""
    started = f"{run.started_at:%Y-%m-%d %H:%M:%S}"
    if run.ended_at is None:
        return started
    return f"{started}, {(run.ended_at - run.started_at).total_seconds():.1f} s"


def outcome_text(run: RunRecord) -> str:
    """``ok``, ``failed (sync): <reason>``, ``interrupted``, ``resumes run 4``..."""
    text = run.outcome if run.outcome != "failed" else f"failed ({run.error_kind or 'error'})"
    if run.outcome == "failed" and run.error:
        text += f": {run.error[:120]}"
    if run.resumes is not None:
        text += f", resumes run {run.resumes}"
    return text
