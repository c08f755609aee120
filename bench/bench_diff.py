"""How fast is ``dbconsole diff``, as ratios to copying the table, and beside reladiff.

Reuses the sync bench's clusters and table (``bench_sync.Bench``: 1M rows of bigint key, FK,
text, numeric, jsonb, timestamptz on a "source" cluster). The target gets an identical copy
by the floor itself: ``psql -c "COPY ... TO STDOUT" | psql -c "COPY ... FROM STDIN"``, the
fastest way to move the table, timed. Then, with 0, 10 and 10,000 rows changed on the target
(the 10,000 spread evenly: every hundredth key), ``dbconsole diff`` runs as a user runs it
(``python -m dbconsole diff --json`` in a subprocess; peak RSS sampled) and its time is
divided by the floor's. reladiff (PyPI) runs side by side on the same two clusters when it is
installed (``pip install reladiff psycopg2-binary``). Then the same through a throttled
loopback link (``bench/relay.py``: ~80 Mbit/s, ~30 ms RTT) in front of the source: the floor
through the link against the diff through the link.

    python bench/bench_diff.py                          # 1M rows, local and throttled: ~5 min
    python bench/bench_diff.py --rows 200000 --repeat 1 --no-relay   # a quick look
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from bench_sync import Bench, fmt, timed_cli  # noqa: E402
from relay import Relay, link_options  # noqa: E402

COLUMNS = ("parent_id", "label", "amount", "attrs", "updated_at")


class DiffBench(Bench):
    """The sync bench's clusters plus a profile that reaches the source through the relay."""

    relay_port: int | None = None

    def write_config(self) -> None:
        super().write_config()
        if self.relay_port:
            import tomllib

            import tomli_w

            document = tomllib.loads(self.config.read_text())
            url = self.source.url("bench").replace(f":{self.source.port}/", f":{self.relay_port}/")
            document["profiles"]["source_slow"] = {"url": url, "read_only": True}
            self.config.write_text(tomli_w.dumps(document))

    def diff(self, right: str = "source") -> tuple[float, float, dict]:
        """The real CLI; (wall seconds, peak RSS in MB, the table's JSON result)."""
        seconds, mb, out = timed_cli("--config", str(self.config), "diff", "--left", "target", "--right", right,
                                     "--tables", "bench", "--json", "--timeout", "900", what="diff")
        return seconds, mb, json.loads(out)["tables"][0]

    def reladiff(self, source_port: int | None = None) -> tuple[float, str]:
        """reladiff's CLI on the same two tables (hashdiff, its cross-database algorithm)."""
        src_url = self.source.url("bench")
        if source_port is not None:
            src_url = src_url.replace(f":{self.source.port}/", f":{source_port}/")
        command = [sys.executable, "-m", "reladiff", src_url, "bench", self.target.url("bench"), "bench", "-k", "id",
                   *[arg for c in COLUMNS for arg in ("-c", c)], "--stats", "-a", "hashdiff"]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            return seconds, "failed: " + (done.stderr.strip().splitlines() or ["?"])[-1]
        return seconds, " ".join(done.stdout.split())


def have_reladiff() -> bool:
    return subprocess.run([sys.executable, "-c", "import reladiff, psycopg2"], capture_output=True).returncode == 0


def median_runs(repeat: int, measure) -> tuple[float, list[float], object]:
    runs, last = [], None
    for _ in range(repeat):
        last = measure()
        runs.append(last[0] if isinstance(last, tuple) else last)
    return statistics.median(runs), runs, last


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    link_options(parser)
    parser.add_argument("--no-relay", action="store_true", help="skip the throttled-link figures")
    parser.add_argument("--no-reladiff", action="store_true")
    parser.add_argument("--big", type=int, default=0, metavar="ROWS", help="also a memory check at this many rows")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    use_reladiff = not args.no_reladiff and have_reladiff()

    bench = DiffBench(args.rows, args.repeat, None)
    report: list[tuple[str, float, float, str]] = []
    rss: list[str] = []
    try:
        started = time.perf_counter()
        bench.start()
        print(f"set-up: {args.rows:,} rows in {time.perf_counter() - started:.1f} s "
              f"(source PG{bench.source.version}, target PG{bench.target.version})", flush=True)

        def copy_floor(port: int | None = None) -> float:
            bench.empty_target()
            return bench.floor(source_port=port)

        # The floor writes 1M rows (and their WAL, so checkpoints land in some runs and not in
        # others): measured here and again after the local diffs, and the median of all is the
        # reference, so a slow or fast spell of the machine weighs on both sides of the ratio.
        floor, floor_runs, _ = median_runs(args.repeat, copy_floor)
        bench.target_sql("VACUUM ANALYZE bench")  # the target now holds the same rows as the source
        print(f"floor (psql | psql COPY): {floor:.2f} s  runs {fmt(floor_runs)}", flush=True)

        spread_ten = [100 * (1 + i * (args.rows // 1000)) for i in range(10)]  # ten keys, far apart, all %100 == 0
        scenarios = [
            ("0 differing rows", None, 0),
            ("10 differing rows", f"UPDATE bench SET label = label || '~' WHERE id IN ({','.join(map(str, spread_ten))})", 10),
            ("10,000 differing rows (1 in 100 keys)", "UPDATE bench SET label = label || '~' WHERE id % 100 = 0 "
                                                      "AND NOT label LIKE '%~'", args.rows // 100),
        ]
        diff_seconds: dict[str, float] = {}
        for name, change, expected in scenarios:
            if change:
                bench.target_sql(change, "VACUUM ANALYZE bench")
            seconds, runs, last = median_runs(args.repeat, bench.diff)
            _, peak_mb, result = last  # type: ignore[misc]
            if result["changed"] != expected or result["only_left"] or result["only_right"]:
                raise SystemExit(f"{name}: diff found {result}, expected {expected} changed")
            diff_seconds[name] = seconds
            report.append((f"diff, {name}", seconds, seconds / floor, "<= 0.2x floor" if expected == 10 else ""))
            rss.append(f"{name}: {peak_mb:.0f} MB")
            print(f"diff {name}: {seconds:.2f} s  runs {fmt(runs)}  peak RSS {peak_mb:.0f} MB  "
                  f"found {result['changed']:,}", flush=True)
            if use_reladiff:
                rel, rel_runs, rel_last = median_runs(args.repeat, bench.reladiff)
                report.append((f"  reladiff, {name}", rel, rel / floor, f"ours {seconds / rel:.2f}x reladiff"))
                print(f"  reladiff: {rel:.2f} s runs {fmt(rel_runs)}  {rel_last[1][:160]}", flush=True)  # type: ignore[index]

        _, later_runs, _ = median_runs(args.repeat, copy_floor)
        bench.target_sql("VACUUM ANALYZE bench")
        floor_runs = [*floor_runs, *later_runs]
        floor = statistics.median(floor_runs)
        print(f"floor again after the diffs: runs {fmt(later_runs)}; the reference: median {floor:.2f} s of "
              f"{fmt(floor_runs)}", flush=True)
        report = [(name, seconds, seconds / floor, note) for name, seconds, _, note in report]

        if not args.no_relay:
            bench.target_sql("UPDATE bench SET label = rtrim(label, '~')", "VACUUM ANALYZE bench")
            with Relay((bench.source.host, bench.source.port), mbit=args.mbit, rtt_ms=args.rtt_ms) as relay:
                bench.relay_port = relay.port
                bench.write_config()
                link = f"{args.mbit:g} Mbit/s, {args.rtt_ms:g} ms"
                slow_floor, slow_runs, _ = median_runs(args.repeat, lambda: copy_floor(relay.port))
                bench.target_sql("VACUUM ANALYZE bench")
                report.append((f"floor through the link ({link})", slow_floor, slow_floor / floor, "(reference)"))
                print(f"floor through {link}: {slow_floor:.2f} s runs {fmt(slow_runs)}", flush=True)
                for name, change, expected in scenarios:
                    if change:
                        bench.target_sql(change, "VACUUM ANALYZE bench")
                    seconds, runs, last = median_runs(args.repeat, lambda: bench.diff("source_slow"))
                    result = last[2]  # type: ignore[index]
                    assert result["changed"] == expected, result
                    report.append((f"diff through the link, {name}", seconds, seconds / slow_floor, "vs link floor"))
                    print(f"diff through the link, {name}: {seconds:.2f} s  runs {fmt(runs)}", flush=True)
                    if use_reladiff:
                        rel, rel_runs, rel_last = median_runs(1, lambda: bench.reladiff(relay.port))
                        report.append((f"  reladiff through the link, {name}", rel, rel / slow_floor,
                                       f"ours {seconds / rel:.2f}x reladiff"))
                        print(f"  reladiff through the link: {rel:.2f} s  {rel_last[1][:160]}", flush=True)  # type: ignore[index]

        if args.big:
            bench.grow_source(args.big)
            bench.empty_target()
            bench.floor()
            bench.target_sql("VACUUM ANALYZE bench", "UPDATE bench SET label = label || '~' WHERE id % 100 = 0",
                             "VACUUM ANALYZE bench")
            seconds, peak_mb, result = bench.diff()
            rss.append(f"{args.big:,} rows, 1 in 100 changed: {peak_mb:.0f} MB ({seconds:.1f} s, "
                       f"found {result['changed']:,})")

        print("\nfigure                                                      seconds   ratio    note")
        for name, seconds, ratio, note in report:
            print(f"{name:<58} {seconds:>7.2f}  {ratio:>6.3f}x  {note}")
        print("peak RSS of the diff process: " + "; ".join(rss) + " (goal: < 150 MB, flat)")
        if not use_reladiff and not args.no_reladiff:
            print("reladiff: not installed here (pip install reladiff psycopg2-binary), so not measured")
    finally:
        bench.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
