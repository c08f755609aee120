"""One dbconsole sync as one Airflow task: the CLI's ``sync --json``, with Airflow's retries around it.

Why it can be retried blindly: the engine commits every batch with its checkpoint, so a task
that failed half-way (a worker lost, the tunnel cut, the target restarted) and is retried by
Airflow resumes from the last committed batch of the same request; the XCom's ``resume_rows``
says how many rows a try found already done. Failures are of two kinds, as the CLI's exit codes
are: a bad request or configuration (exit code 2) fails the task at once
(``AirflowFailException``: retrying cannot help), a failed operation (exit code 1) raises
``AirflowException`` so ``retries`` apply.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from dbconsole.airflow.hook import DbconsoleHook, settings_of
from dbconsole.config import Profile, load_config
from dbconsole.errors import DbconsoleError
from dbconsole.modes import Mode, Strategy
from dbconsole.redact import redact
from dbconsole.sync.confirm import confirmation_reason
from dbconsole.sync.engine import SyncSummary, refuse_read_only_target, run_sync
from dbconsole.sync.event_lines import json_line
from dbconsole.sync.events import Done, SyncEvent, TableStart
from dbconsole.jobs import JOBS_HELP, parse_jobs
from dbconsole.sync.requests import build_request
from dbconsole.sync.triggers import TriggerPolicy

USAGE_EXIT_CODE = 2  # DbconsoleError.exit_code of a bad request or configuration


class DbconsoleSyncOperator(BaseOperator):
    """Run one sync (the request ``dbconsole sync`` builds from the same options) and return its summary.

    The two ends are each a profile of ``config_path`` (``source="server"``) or an Airflow postgres
    connection (``source_conn_id="prod_pg"``, see :mod:`dbconsole.airflow.hook`); with a config,
    its ``[sync]`` rules (masks, per-table modes, retries, subsets) apply as they do for the CLI.
    Options mirror the CLI's: ``tables`` / ``exclude`` (a list or ``"a,b"``, globs allowed),
    ``mode``, ``strategy``, ``where`` (``["users:id < 1000"]``), ``subsets``, ``with_parents``,
    ``batch_size``, ``dry_run``, ``triggers``, ``refresh_matviews``, ``jobs`` (workers inside the
    task, one snapshot: ``--jobs``; a number or ``"auto"``). ``tables``, ``exclude``,
    ``where``, ``subsets`` and ``config_path`` are templated.

    A sync that needs confirmation (mode replace or mirror, or a target that is not a local
    database) runs only with ``confirm_target`` set to the target profile's name: the operator's
    form of typing the name at the CLI's prompt, so a DAG copied onto another target stops.

    Every engine event goes to the task log as one JSON line, the lines of ``sync --json``. The
    return value (the XCom) is the ``done`` event's fields plus ``source``, ``target``,
    ``per_table`` (each ``table_done``) and ``resume_rows`` (rows this try found committed by an
    earlier one, per table).
    """

    template_fields: Sequence[str] = ("tables", "exclude", "where", "subsets", "config_path")
    ui_color = "#c8e6f5"

    def __init__(self, *, source: str | None = None, target: str | None = None, source_conn_id: str | None = None,
                 target_conn_id: str | None = None, config_path: str | None = None,
                 tables: str | Sequence[str] | None = None, exclude: str | Sequence[str] | None = None,
                 mode: Mode | None = None, strategy: Strategy | None = None, where: Sequence[str] = (),
                 subsets: Sequence[str] = (), with_parents: bool = False, batch_size: int | None = None,
                 dry_run: bool = False, triggers: TriggerPolicy | None = None, refresh_matviews: bool = False,
                 confirm_target: str | None = None, jobs: int | str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for end, profile, conn_id in (("source", source, source_conn_id), ("target", target, target_conn_id)):
            if (profile is None) == (conn_id is None):
                raise ValueError(f"{self.task_id}: give exactly one of {end} (a profile of config_path) "
                                 f"or {end}_conn_id (an Airflow connection)")
        if (source is not None or target is not None) and config_path is None:
            raise ValueError(f"{self.task_id}: a profile name needs config_path (the dbconsole.toml)")
        self.source, self.target = source, target
        self.source_conn_id, self.target_conn_id = source_conn_id, target_conn_id
        self.config_path = config_path
        self.tables, self.exclude = tables, exclude
        self.mode, self.strategy = mode, strategy
        self.where, self.subsets = list(where), list(subsets)
        self.with_parents, self.batch_size, self.dry_run = with_parents, batch_size, dry_run
        self.triggers, self.refresh_matviews = triggers, refresh_matviews
        self.confirm_target = confirm_target
        self.jobs = parse_jobs(jobs) if jobs is not None else None
        if jobs is not None and self.jobs is None:
            raise ValueError(f"{self.task_id}: jobs must be {JOBS_HELP}")
        self._cancel = threading.Event()

    def execute(self, context: Any) -> dict[str, Any]:
        try:
            return self._sync()
        except DbconsoleError as exc:
            message = redact(str(exc))
            if exc.exit_code == USAGE_EXIT_CODE:
                raise AirflowFailException(message) from None
            raise AirflowException(message) from None
        finally:
            from dbconsole.connect import tunnels

            tunnels.close_all()

    def on_kill(self) -> None:
        """The task is being stopped: the engine ends at the next block, keeping committed batches."""
        self._cancel.set()

    def _sync(self) -> dict[str, Any]:
        config = load_config(self.config_path) if self.config_path else None
        source = self._end(self.source, self.source_conn_id, config)
        target = self._end(self.target, self.target_conn_id, config)
        refuse_read_only_target(target)
        request = build_request(
            source, target, settings_of(config), tables=self.tables, exclude=self.exclude, mode=self.mode,
            strategy=self.strategy, where=self.where, subsets=self.subsets, with_parents=self.with_parents,
            batch_size=self.batch_size, dry_run=self.dry_run, triggers=self.triggers,
            refresh_matviews=self.refresh_matviews, jobs=self.jobs)
        reason = confirmation_reason(request)
        if reason and self.confirm_target != target.name:
            raise AirflowFailException(f"this sync needs confirm_target={target.name!r} ({reason}); nothing was written")
        resume_rows: dict[str, int] = {}

        def log_event(event: SyncEvent) -> None:
            if isinstance(event, TableStart) and event.resume_rows:
                resume_rows[event.table] = event.resume_rows
            self.log.info("%s", json_line(event))

        summary = run_sync(request, on_event=log_event, cancel=self._cancel)
        if summary.cancelled:
            raise AirflowException("the sync was cancelled; finished batches are kept and a retry resumes")
        return summary_json(summary, source=source, target=target, resume_rows=resume_rows)

    def _end(self, profile: str | None, conn_id: str | None, config: Any) -> Profile:
        if conn_id is not None:
            return DbconsoleHook(conn_id=conn_id).get_profile()
        return DbconsoleHook(profile=profile, config_path=self.config_path).get_profile(config)


def summary_json(summary: SyncSummary, *, source: Profile, target: Profile,
                 resume_rows: dict[str, int]) -> dict[str, Any]:
    """The XCom of a run: the ``done`` event's fields and each table's ``table_done``."""
    done = Done(summary.counts, summary.seconds, tables=len(summary.tables), dry_run=summary.dry_run,
                cancelled=summary.cancelled).to_json()
    done.pop("event")
    per_table = []
    for table in summary.tables:
        data = table.to_json()
        data.pop("event")
        per_table.append(data)
    return {"source": source.name, "target": target.name, **done, "per_table": per_table,
            "resume_rows": resume_rows}
