"""The snapshot age guard's rules, without a server (issue 17, item 2)."""

from __future__ import annotations

import pytest

from dbconsole.sync.snapshot_guard import ASSUMED_ROWS_PER_SECOND, DEFAULT_MAX_SNAPSHOT_AGE, SnapshotGuard, plan_warning

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_only_a_read_only_source_is_guarded_and_zero_turns_it_off() -> None:
    assert SnapshotGuard.for_source(True, None).max_age == DEFAULT_MAX_SNAPSHOT_AGE == 1800
    assert SnapshotGuard.for_source(True, 5).max_age == 5
    assert SnapshotGuard.for_source(False, 5).max_age is None
    assert SnapshotGuard.for_source(True, 0).max_age is None


def test_due_once_the_snapshot_is_as_old_as_the_limit() -> None:
    clock = Clock()
    guard = SnapshotGuard(60, clock=clock)
    guard.taken()
    clock.now += 59.9
    assert not guard.due()
    clock.now += 0.1
    assert guard.due()
    notice = guard.renewed_notice("public.users")
    assert "public.users and the tables after it are read at a later moment" in notice and guard.renewals == 1
    guard.taken()
    assert not guard.due()
    off = SnapshotGuard(None, clock=clock)
    clock.now += 10**6
    assert not off.due()


def test_the_plan_warns_when_the_run_may_outlive_one_snapshot() -> None:
    one_minute = 60 * ASSUMED_ROWS_PER_SECOND
    assert plan_warning(120, [one_minute, None]) is None
    warning = plan_warning(60, [one_minute // 2, one_minute // 2])
    assert warning and "may take longer than max_snapshot_age (1m00s" in warning and "fresh snapshot" in warning
    single = plan_warning(60, [one_minute])
    assert single and "always read in one snapshot" in single
    assert plan_warning(None, [10**12, 10**12]) is None
