"""``--jobs`` / ``[sync] jobs`` / ``[sync] split_rows``: values, messages and range counts (no server)."""

from __future__ import annotations

import pytest

from dbconsole.config import ConfigError, parse_config
from dbconsole.jobs import MAX_AUTO_JOBS, parse_jobs, resolve_jobs, usable_cores
from dbconsole.sync.split import MAX_RANGES, range_count
from tests.cli_checks import assert_one_line, run_cli


@pytest.mark.parametrize("value", [0, -1, 65, "many", "2.5", True, 1.5, ""])
def test_a_jobs_value_that_is_not_a_count_or_auto_is_refused(value) -> None:
    assert parse_jobs(value) is None
    with pytest.raises(ConfigError) as caught:
        parse_config({"sync": {"jobs": value}}, path=None, environ={})
    assert str(caught.value) == "config: sync.jobs must be a whole number from 1 to 64, or auto"


def test_jobs_and_split_rows_are_read_from_the_config() -> None:
    settings = parse_config({"sync": {"jobs": "auto", "split_rows": 5000}}, path=None, environ={}).sync
    assert (settings.jobs, settings.split_rows) == ("auto", 5000)
    assert parse_config({"sync": {"jobs": 3}}, path=None, environ={}).sync.jobs == 3
    with pytest.raises(ConfigError, match="sync.split_rows must be a whole number > 0"):
        parse_config({"sync": {"split_rows": 0}}, path=None, environ={})


def test_auto_is_the_usable_cores_at_most_eight() -> None:
    assert resolve_jobs("auto") == min(MAX_AUTO_JOBS, usable_cores()) >= 1
    assert resolve_jobs(None) == 1 and resolve_jobs(5) == 5 and parse_jobs(" AUTO ") == "auto" and parse_jobs("4") == 4


@pytest.mark.parametrize("value", ["0", "x", "100"])
def test_the_cli_refuses_a_bad_jobs_value_in_one_line(value, capsys) -> None:
    code, _, err = run_cli(capsys, "sync", "--from", "a", "--to", "b", "--jobs", value)
    assert_one_line(code, err, 2, "--jobs", "a whole number from 1 to 64, or auto")


def test_ranges_hold_about_split_rows_each_within_bounds() -> None:
    assert range_count(1_000_001, 1_000_000) == 2
    assert range_count(10_000_000, 1_000_000) == 10
    assert range_count(10**12, 1_000) == MAX_RANGES
