"""The diff's pure parts: range cutting, the bisect/stream decisions, column forms, report shape."""

from __future__ import annotations

import datetime as dt
import decimal
import json

from dbconsole.catalog import Column
from dbconsole.diff.columns import canonical_type, rendering_of
from dbconsole.diff.model import DiffReport, RowDifference, TableDiff
from dbconsole.diff.ranges import KeyRange, first_level_parts, pick_boundaries
from dbconsole.diff.render import key_text, table_summary
from dbconsole.diff.strategy import Checksum, RangeCompare, Step, Tuning, decide, split_step

TUNING = Tuning(rows_per_range=100, fanout=4, leaf_rows=10, dense_fraction=0.5, stream_rows=1000, max_depth=3)


def col(type_name: str, builtin: bool = True) -> Column:
    return Column("c", type_name, 0, False, False, False, "", builtin)


def compare(rows_left: int, rows_right: int, differs: bool, depth: int = 0) -> RangeCompare:
    left = Checksum(rows_left, 1, 2)
    right = Checksum(rows_right, 1, 2 if not differs else 3)
    return RangeCompare(KeyRange(depth=depth), left, right)


def test_split_cuts_a_range_at_its_boundaries_in_order() -> None:
    parent = KeyRange(("10",), ("90",), depth=1)
    children = parent.split([("30",), ("60",)])
    assert [(c.lower, c.upper, c.depth) for c in children] == [
        (("10",), ("30",), 2), (("30",), ("60",), 2), (("60",), ("90",), 2)]
    assert KeyRange().split([]) == [KeyRange(None, None, 1)]
    assert str(children[0]) == "[10 .. 30)" and str(KeyRange()) == "[-inf .. +inf)"


def test_pick_boundaries_is_even_distinct_and_never_cuts_at_the_first_key() -> None:
    keys = [(str(i),) for i in range(100)]
    cuts = pick_boundaries(keys, 4)
    assert cuts == [("25",), ("50",), ("75",)]
    assert pick_boundaries([("a",)] * 50 + [("b",)] * 50, 10) == [("b",)]  # duplicates collapse
    assert pick_boundaries([("a",)] * 10, 5) == []  # one value: one range
    assert pick_boundaries([], 8) == [] and pick_boundaries(keys, 1) == []


def test_first_level_parts_scales_with_the_estimate_and_is_capped() -> None:
    assert first_level_parts(None, rows_per_range=100, max_ranges=50) == 1
    assert first_level_parts(80, rows_per_range=100, max_ranges=50) == 1
    assert first_level_parts(250, rows_per_range=100, max_ranges=50) == 3
    assert first_level_parts(10**9, rows_per_range=100, max_ranges=50) == 50


def test_decide_same_one_sided_stream_and_bisect() -> None:
    siblings = [compare(100, 100, False), compare(0, 40, True), compare(8, 9, True), compare(500, 500, True),
                compare(300, 300, False), compare(300, 300, False), compare(300, 300, False), compare(300, 300, False)]
    steps = [step for _, step in decide(siblings, TUNING)]
    assert steps == [Step.SAME, Step.ONE_SIDED, Step.STREAM, Step.BISECT] + [Step.SAME] * 4


def test_dense_siblings_stream_instead_of_bisecting_but_not_beyond_the_memory_bound() -> None:
    siblings = [compare(500, 500, True), compare(500, 500, True), compare(5000, 5000, True), compare(500, 500, False)]
    steps = [step for _, step in decide(siblings, TUNING)]
    assert steps == [Step.STREAM, Step.STREAM, Step.BISECT, Step.SAME]


def test_a_lone_range_is_never_dense_and_depth_is_bounded() -> None:
    assert decide([compare(500, 500, True)], TUNING)[0][1] is Step.BISECT
    assert decide([compare(500, 500, True, depth=3)], TUNING)[0][1] is Step.STREAM
    assert split_step(1000, TUNING) == 250 and split_step(3, TUNING) == 1


def test_checksums_differ_on_count_or_either_half() -> None:
    base = Checksum(10, 5, 7)
    assert RangeCompare(KeyRange(), base, Checksum(10, 5, 7)).differs is False
    for other in (Checksum(11, 5, 7), Checksum(10, 6, 7), Checksum(10, 5, 8)):
        assert RangeCompare(KeyRange(), base, other).differs


def test_canonical_types_widen_or_refuse() -> None:
    assert canonical_type(col("integer"), col("integer")) == ""
    assert canonical_type(col("integer"), col("bigint")) == "bigint"
    assert canonical_type(col("real"), col("double precision")) == "double precision"
    assert canonical_type(col("numeric(12,2)"), col("numeric(14,4)")) == "trim_scale"
    assert canonical_type(col("integer"), col("numeric")) == "trim_scale"
    assert canonical_type(col("json"), col("jsonb")) == "jsonb"
    assert canonical_type(col("character varying(20)"), col("text")) == "text"
    assert canonical_type(col("integer[]"), col("bigint[]")) == "bigint[]"
    assert canonical_type(col("timestamp(3) with time zone"), col("timestamp with time zone")) == "timestamp with time zone"
    for left, right in (("timestamp without time zone", "timestamp with time zone"), ("uuid", "text"),
                        ("integer", "integer[]"), ("date", "timestamp with time zone"), ("numeric[]", "numeric(4,2)[]")):
        assert canonical_type(col(left), col(right)) is None, (left, right)


def test_report_json_has_the_spec_shape() -> None:
    table = TableDiff(table="public.users", status="differ", changed=1, only_left=0, only_right=1, rows_compared=10,
                      seconds=0.12345, key=("id", "at"),
                      rows=[RowDifference({"id": 1, "at": dt.date(2024, 1, 2)}, "changed"),
                            RowDifference({"id": decimal.Decimal("2.50"), "at": b"\x01"}, "only_right")])
    report = DiffReport("local", "server", [table, TableDiff(table="public.logs", status="no_key")])
    data = json.loads(json.dumps(report.to_json()))
    assert data == {"left": "local", "right": "server", "same": False, "tables": [
        {"table": "public.users", "status": "differ", "changed": 1, "only_left": 0, "only_right": 1,
         "rows_compared": 10, "seconds": 0.123, "rows": [{"key": {"id": 1, "at": "2024-01-02"}, "kind": "changed"},
                                                         {"key": {"id": "2.50", "at": "\\x01"}, "kind": "only_right"}]},
        {"table": "public.logs", "status": "no_key", "changed": 0, "only_left": 0, "only_right": 0,
         "rows_compared": 0, "seconds": 0.0, "rows": []}]}
    assert DiffReport("a", "b", [TableDiff(table="t"), TableDiff(table="u", status="no_key")]).same is True
    assert DiffReport("a", "b", [TableDiff(table="t", status="error", error="x")]).same is False


def test_human_summary_lines() -> None:
    assert table_summary(TableDiff(table="t"), "local", "server") == "same"
    differ = TableDiff(table="t", status="differ", changed=1200, only_left=0, only_right=3)
    assert table_summary(differ, "local", "server") == "1,203 differ (changed 1,200, only right 3)"
    assert table_summary(TableDiff(table="t", status="only_left"), "local", "server") == "table only on local"
    assert table_summary(TableDiff(table="t", status="error", error="boom"), "l", "r") == "error: boom"
    assert key_text(RowDifference({"id": 3, "Region": "서울"}, "changed")) == 'id=3, "Region"=서울'


def test_the_diff_engine_is_headless() -> None:
    """dbconsole.diff and dbconsole.sessions import with Textual and the CLI out of reach."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['textual'] = None; sys.modules['dbconsole.cli'] = None\n"
            "import dbconsole.diff, dbconsole.diff.render, dbconsole.sessions\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_even_integer_cuts_for_evenly_spread_keys_only() -> None:
    from dbconsole.diff.checksum import evenly_spaced
    from dbconsole.diff.ranges import even_integer_cuts

    spread = [(str(i),) for i in range(0, 1000, 7)]
    cuts = even_integer_cuts(spread, 4)
    assert cuts == [("248",), ("496",), ("744",)] and evenly_spaced(cuts) == 248
    skewed = [(str(i),) for i in range(100)] + [(str(10**9 + i),) for i in range(3)]
    assert even_integer_cuts(skewed, 10) is None
    assert even_integer_cuts([("a",), ("b",)], 2) is None and even_integer_cuts(spread, 1) is None
    assert evenly_spaced([("1",), ("5",), ("8",)]) is None and evenly_spaced([("x",), ("y",)]) is None


def test_each_type_joins_the_row_text_in_a_form_that_cannot_be_mistaken() -> None:
    plain = ["bigint", "numeric(12,4)", "double precision", "timestamp(3) with time zone", "jsonb", "bytea", "uuid",
             "boolean", "interval"]
    assert {t: rendering_of(t, builtin=True, masked=False) for t in plain} == dict.fromkeys(plain, "plain")
    assert rendering_of("character varying(20)", builtin=True, masked=False) == "counted"
    assert rendering_of("text", builtin=True, masked=False) == "counted"
    for other in ("text[]", "character(3)", "bit varying", "point", "integer[]", "tsvector"):
        assert rendering_of(other, builtin=True, masked=False) == "quoted", other
    assert rendering_of("mood", builtin=False, masked=False) == "quoted"  # an enum prints its label
    assert rendering_of("bigint", builtin=True, masked=True) == "quoted"  # a mask may print anything


def test_even_cuts_judge_skew_at_the_sampled_resolution_and_cut_finer() -> None:
    from dbconsole.diff.ranges import even_integer_cuts

    # A page sample: clumps of 40 consecutive keys, one clump in every 4,000 keys of 1..100,000.
    sample = [(str(k),) for start in range(1, 100_000, 4000) for k in range(start, start + 40)]
    coarse = even_integer_cuts(sample, 10)
    assert coarse is not None and len(coarse) == 9
    finer = even_integer_cuts(sample, 10, finer=20)
    assert finer is not None and len(finer) == 199
    steps = {int(b[0]) - int(a[0]) for a, b in zip(finer, finer[1:])}
    assert len(steps) == 1  # evenly spaced: the server finds a row's range by arithmetic
    assert even_integer_cuts(sample, 200) is None  # judged at the finer level, the clumps look skewed


def test_decide_marks_the_ranges_it_streams_because_their_siblings_differ_too() -> None:
    siblings = [compare(300, 300, True) for _ in range(3)] + [compare(300, 300, False)]
    steps = decide(siblings, TUNING)
    assert [step for _, step in steps] == [Step.STREAM] * 3 + [Step.SAME]
    assert [c.dense for c, _ in steps] == [True, True, True, False]
    sparse = decide([compare(8, 8, True)] + [compare(300, 300, False)] * 3, TUNING)
    assert sparse[0][1] is Step.STREAM and not sparse[0][0].dense  # a small leaf, streamed on its own


def test_touching_dense_ranges_are_joined_with_exact_sums_up_to_a_size() -> None:
    from dbconsole.diff.strategy import merge_neighbours

    def part(lower: str | None, upper: str | None, rows: int, dense: bool = True) -> RangeCompare:
        return RangeCompare(KeyRange((lower,) if lower else None, (upper,) if upper else None, 1),
                            Checksum(rows, rows * 10, rows * 100), Checksum(rows, rows * 10 + 1, rows * 100), dense)

    streams = [part(None, "10", 4), part("10", "20", 4), part("20", "30", 4), part("40", "50", 4),
               part("50", "60", 4, dense=False), part("60", None, 4)]
    merged = merge_neighbours(streams, max_rows=10)
    assert [(str(c.range), c.rows) for c in merged] == [
        ("[-inf .. 20)", 8), ("[20 .. 30)", 4), ("[40 .. 50)", 4), ("[50 .. 60)", 4), ("[60 .. +inf)", 4)]
    assert merged[0].left == Checksum(8, 80, 800) and merged[0].right == Checksum(8, 82, 800)
    assert merged[0].dense and merged[0].differs


def test_the_row_text_ends_with_the_costliest_column_bare_and_never_with_only_one() -> None:
    from psycopg import sql

    from dbconsole.diff.checksum import row_text_parts
    from dbconsole.diff.columns import SideColumn

    def column(name: str, rendering: str) -> SideColumn:
        return SideColumn(sql.Identifier(name), "t", rendering=rendering, never_null=True)  # type: ignore[arg-type]

    def text(parts: list) -> list[str]:
        return [p.as_string(None) for p in parts]

    plain, counted, quoted = column("p", "plain"), column("c", "counted"), column("q", "quoted")
    assert text(row_text_parts([plain, counted, plain])) == ['"p"', '"p"', '"c"']
    assert text(row_text_parts([quoted, counted, plain]))[-1] == '"q"'
    assert text(row_text_parts([counted, column("d", "counted")]))[-1] == '"d"'
    assert text(row_text_parts([plain, plain])) == ['"p"', '"p"']
    assert text(row_text_parts([counted])) == ["concat(octet_length(\"c\"), ':', \"c\")"]
