"""The sync's typed vocabulary, without a server: row counts, their one sentence, modes, event JSON."""

from __future__ import annotations

import dataclasses

import pytest

from dbconsole.cli_parser import build_parser
from dbconsole.config import ConfigError, parse_config
from dbconsole.modes import SYNC_MODES
from dbconsole.sync.counts import RowCounts, describe_counts
from dbconsole.sync.events import Done, Notice, TableDone
from dbconsole.sync.state import Checkpoint
from dbconsole.tui.widgets.sync.wording import MODE_HELP


def test_row_counts_add_and_total() -> None:
    first, second = RowCounts(1, 2, 3, 4), RowCounts(10, 20, 30, 40)
    assert first + second == RowCounts(11, 22, 33, 44)
    assert (first + second).total == 66  # deletes are target rows, not source rows read
    assert RowCounts.of_batch(100, 7, 3) == RowCounts(7, 3, 90, 0)
    assert RowCounts.sum([first, second, RowCounts()]) == first + second
    assert RowCounts.sum([]) == RowCounts()
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.inserted = 5  # type: ignore[misc]


def test_counts_have_one_sentence_for_runs_and_dry_runs() -> None:
    assert describe_counts(RowCounts(1200, 3, 40)) == "insert 1,200, update 3, unchanged 40"
    assert describe_counts(RowCounts(1, 0, 0, 2), dry_run=True) == (
        "would insert 1, would update 0, unchanged 0, would delete 2")
    assert describe_counts(RowCounts(5, 1, 0), sep=" · ") == "insert 5 · update 1 · unchanged 0"


def test_count_events_keep_the_flat_json_shape_of_the_spec() -> None:
    done = TableDone("public.users", RowCounts(5, 4, 3, 2), 1.5, dry_run=True)
    assert done.to_json() == {"event": "table_done", "table": "public.users", "inserted": 5, "updated": 4,
                              "unchanged": 3, "deleted": 2, "seconds": 1.5, "dry_run": True,
                              "rows_read": 0, "ranges_skipped": 0, "strategy": "copy"}
    # The keys SPEC named first keep their place; issue 12's rows_read / ranges_skipped / strategy follow.
    assert list(done.to_json()) == ["event", "table", "inserted", "updated", "unchanged", "deleted", "seconds",
                                    "dry_run", "rows_read", "ranges_skipped", "strategy"]
    assert (done.inserted, done.updated, done.unchanged, done.deleted) == (5, 4, 3, 2)
    final = Done(RowCounts(1, 0, 0, 0), 0.25, tables=1)
    assert final.to_json() == {"event": "done", "inserted": 1, "updated": 0, "unchanged": 0, "deleted": 0,
                               "seconds": 0.25, "tables": 1, "dry_run": False, "cancelled": False}
    assert Notice("public.users", "x", kind="retry").to_json()["kind"] == "retry"


def test_a_checkpoint_is_built_by_keyword_and_holds_counts() -> None:
    point = Checkpoint(fingerprint="abc", rows_done=10, counts=RowCounts(4, 1, 5))
    assert (point.last_key, point.fast_path, point.watermark) == (None, False, None)
    assert point.counts.total == point.rows_done
    with pytest.raises(TypeError):
        Checkpoint("abc", None, 0)  # type: ignore[misc]


def test_every_face_lists_the_same_modes() -> None:
    assert SYNC_MODES == ("upsert", "replace", "incremental", "xmin", "mirror")
    assert tuple(MODE_HELP) == SYNC_MODES
    for mode in SYNC_MODES:
        assert build_parser().parse_args(["sync", "--mode", mode]).mode == mode
        assert parse_config({"profiles": {}, "sync": {"mode": mode}}, path=None, environ={}).sync.mode == mode
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sync", "--mode", "mirrror"])
    with pytest.raises(ConfigError, match="upsert, replace, incremental, xmin, mirror"):
        parse_config({"profiles": {}, "sync": {"mode": "mirrror"}}, path=None, environ={})
