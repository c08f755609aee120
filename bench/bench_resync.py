"""Re-syncs that move only what changed (``--strategy diff``), as ratios to copying the table.

Reuses the sync bench's clusters and 1M-row table (``bench_sync.Bench``). The floor is
``psql | psql`` binary COPY of the whole table into the emptied target. Then, with the target
holding the source's rows: a re-sync with nothing changed and one with 1% of rows changed
(every hundredth key altered on the target before each run, so each run has the same work),
both by ``--strategy diff`` and, for reference, by ``--strategy copy``; and a full sync of an
empty target (``auto``: it must still copy, no slower than ``copy``). All through the real CLI
in a subprocess. Then the same through the throttled loopback link (``bench/relay.py``:
~80 Mbit/s, ~30 ms RTT) in front of the source, where the ratios that matter are measured:
unchanged re-sync <= 0.3x and 1%-changed <= 0.35x the floor through the same link.

    python bench/bench_resync.py                               # 1M rows, local and throttled
    python bench/bench_resync.py --rows 200000 --repeat 1      # a quick look
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from bench_diff import DiffBench  # noqa: E402
from bench_sync import fmt, median_of  # noqa: E402
from relay import Relay, link_options  # noqa: E402

CHANGE = "UPDATE bench SET label = label || '~' WHERE id % 100 = 0"


def table_done(run) -> dict:
    return next(e for e in run.events if e.get("event") == "table_done")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    link_options(parser)
    parser.add_argument("--no-relay", action="store_true")
    parser.add_argument("--no-local", action="store_true", help="only the throttled-link figures")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    bench = DiffBench(args.rows, args.repeat, None)
    report: list[tuple[str, float, float, str]] = []
    try:
        started = time.perf_counter()
        bench.start()
        print(f"set-up: {args.rows:,} rows in {time.perf_counter() - started:.1f} s", flush=True)

        def measure(label: str, source: str, floor: float, goal: str) -> None:
            full, full_runs, full_run = median_of(args.repeat, bench.empty_target,
                                                  lambda: bench.sync("--strategy", "auto", source=source))
            done = table_done(full_run)
            report.append((f"{label}full sync, empty target (auto: {done['strategy']})", full, full / floor,
                           "no slower than today"))
            print(f"{label}full sync (auto): {full:.2f} s runs {fmt(full_runs)} read {done['rows_read']:,}", flush=True)
            bench.target_sql("VACUUM ANALYZE bench")
            for strategy in ("diff", "copy"):
                same, runs, run = median_of(args.repeat, lambda: None,
                                            lambda: bench.sync("--strategy", strategy, source=source))
                done = table_done(run)
                report.append((f"{label}re-sync, unchanged, {strategy}", same, same / floor,
                               goal.split("|")[0] if strategy == "diff" else ""))
                print(f"{label}unchanged re-sync by {strategy}: {same:.2f} s runs {fmt(runs)} "
                      f"read {done['rows_read']:,} skipped {done['ranges_skipped']} ranges", flush=True)

                def changed() -> None:
                    bench.target_sql(CHANGE)

                one, runs, run = median_of(args.repeat, changed,
                                           lambda: bench.sync("--strategy", strategy, source=source))
                done = table_done(run)
                if done["updated"] != args.rows // 100:
                    raise SystemExit(f"{strategy}: updated {done['updated']}, expected {args.rows // 100}")
                report.append((f"{label}re-sync, 1% changed, {strategy}", one, one / floor,
                               goal.split("|")[1] if strategy == "diff" else ""))
                print(f"{label}1%-changed re-sync by {strategy}: {one:.2f} s runs {fmt(runs)} "
                      f"read {done['rows_read']:,} updated {done['updated']:,} peak RSS {run.rss_mb:.0f} MB",
                      flush=True)

        if not args.no_local:
            floor, floor_runs, _ = median_of(args.repeat, bench.empty_target, bench.floor)
            report.append(("floor: psql | psql COPY", floor, 1.0, ""))
            print(f"floor: {floor:.2f} s runs {fmt(floor_runs)}", flush=True)
            measure("", "source", floor, "|")
        if not args.no_relay:
            with Relay((bench.source.host, bench.source.port), mbit=args.mbit, rtt_ms=args.rtt_ms) as relay:
                bench.relay_port = relay.port
                bench.write_config()
                link = f"{args.mbit:g} Mbit/s, {args.rtt_ms:g} ms"
                slow, slow_runs, _ = median_of(args.repeat, bench.empty_target, lambda: bench.floor(relay.port))
                report.append((f"floor through the link ({link})", slow, 1.0, "(the link's reference)"))
                print(f"floor through {link}: {slow:.2f} s runs {fmt(slow_runs)}", flush=True)
                measure("link: ", "source_slow", slow, "<= 0.3x link floor|<= 0.35x link floor")

        print("\nfigure                                                      seconds   ratio    goal")
        for name, seconds, ratio, note in report:
            print(f"{name:<58} {seconds:>7.2f}  {ratio:>6.3f}x  {note}")
    finally:
        bench.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
