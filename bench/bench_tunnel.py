"""What the SSH hop costs: a 1M-row sync through each transport, against ``ssh -C -L`` + COPY.

The floor is the fastest a tunnelled copy can be: ``ssh -N -L`` (with and without ``-C``) to the
same SSH server, and ``psql | psql`` binary COPY through it. Each dbconsole transport (OpenSSH,
paramiko) then runs the real CLI sync of the same table, with ``ssh.compression`` on and off, on
plain loopback and through bench/relay.py shaped like a real link (default 80 Mbit/s, 30 ms RTT)
placed in front of the SSH server. Ratios are to the compressed floor on the same link, measured
in the same run. Last, PostgreSQL round trips per command (``check``, ``tables``, ``sync``):
a relay between the SSH server and the database counts every turn of the conversation (client
spoke, then the server answered = one round trip), summed over the command's connections.

    python bench/bench_tunnel.py                      # 1M rows, both links, repeat 3
    python bench/bench_tunnel.py --rows 200000 --repeat 1 --links throttled
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import tomli_w

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sync import ROOT, Bench, fmt, median_of  # noqa: E402
from relay import Relay, link_options  # noqa: E402

from dbconsole.sandbox.sshd import spawn_sshd_process  # noqa: E402

TRANSPORTS = ("openssh", "paramiko")


class TurnCounter:
    """A loopback TCP relay that counts round trips: each time the server answers the client."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.turns = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()
        self._ready.wait(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await asyncio.Event().wait()

    async def _handle(self, client_reader, client_writer) -> None:  # type: ignore[no-untyped-def]
        server_reader, server_writer = await asyncio.open_connection(*self.target)
        last = ["server"]  # who spoke last; the server speaking after the client closes a round trip

        async def pump(reader, writer, side: str) -> None:  # type: ignore[no-untyped-def]
            while data := await reader.read(65536):
                if side == "server" and last[0] == "client":
                    self.turns += 1
                last[0] = side
                writer.write(data)
                await writer.drain()
            with contextlib.suppress(Exception):
                writer.write_eof()

        await asyncio.gather(pump(client_reader, server_writer, "client"), pump(server_reader, client_writer, "server"),
                             return_exceptions=True)
        for writer in (client_writer, server_writer):
            with contextlib.suppress(Exception):
                writer.close()


class TunnelBench:
    def __init__(self, bench: Bench, mbit: float, rtt_ms: float) -> None:
        self.bench = bench
        self.mbit, self.rtt_ms = mbit, rtt_ms
        self.counter = TurnCounter((bench.source.host, bench.source.port))
        self.sshd_dir = bench.workdir / "sshd"
        allow = [(bench.source.host, bench.source.port), ("127.0.0.1", self.counter.port)]
        bench.sshd_proc, self.ssh_port = spawn_sshd_process(self.sshd_dir, allow)
        self.relay = Relay(("127.0.0.1", self.ssh_port), mbit=mbit, rtt_ms=rtt_ms).__enter__()
        host_key = (self.sshd_dir / "known_hosts").read_text().split(None, 1)[1]
        self.known_hosts = bench.workdir / "known_hosts"
        self.known_hosts.write_text(f"[127.0.0.1]:{self.ssh_port} {host_key}[127.0.0.1]:{self.relay.port} {host_key}")

    def port(self, link: str) -> int:
        return self.relay.port if link == "throttled" else self.ssh_port

    def write_config(self) -> None:
        source = self.bench.source
        profiles: dict = {"source": {"url": source.url("bench"), "read_only": True},
                          "target": {"url": self.bench.target.url("bench")}}
        for link in ("loopback", "throttled"):
            for transport in TRANSPORTS:
                for compression in (True, False):
                    for counted in (False, True):
                        url = source.url("bench")
                        if counted:
                            url = url.replace(f":{source.port}/", f":{self.counter.port}/")
                        profiles[self.profile(link, transport, compression, counted)] = {
                            "url": url, "read_only": True,
                            "ssh": {"host": "127.0.0.1", "port": self.port(link), "user": "tunnel",
                                    "key": str(self.sshd_dir / "client_ed25519_key"),
                                    "known_hosts": str(self.known_hosts), "transport": transport,
                                    "compression": compression}}
        self.bench.config.write_text(tomli_w.dumps({"profiles": profiles}))

    @staticmethod
    def profile(link: str, transport: str, compression: bool, counted: bool = False) -> str:
        return f"{link}_{transport}_{'c' if compression else 'plain'}{'_counted' if counted else ''}"

    @contextlib.contextmanager
    def ssh_forward(self, link: str, compression: bool):  # type: ignore[no-untyped-def]
        """``ssh [-C] -N -L`` to the source, as a person would run it by hand; yields the local port."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            local = sock.getsockname()[1]
        source = self.bench.source
        command = ["ssh", "-N", "-F", "none", "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes",
                   "-o", f"UserKnownHostsFile={self.known_hosts}", "-i", str(self.sshd_dir / "client_ed25519_key"),
                   "-p", str(self.port(link)), "-L", f"127.0.0.1:{local}:{source.host}:{source.port}",
                   *(["-C"] if compression else []), "tunnel@127.0.0.1"]
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", local), timeout=1):
                    break
                if proc.poll() is not None:
                    raise SystemExit(f"ssh failed: {proc.stderr.read().decode() if proc.stderr else ''}")
                time.sleep(0.05)
            yield local
        finally:
            proc.terminate()
            proc.wait(10)

    def round_trips(self, link: str, transport: str, *command: str) -> int:
        before = self.counter.turns
        name = self.profile(link, transport, True, counted=True)
        args = [arg.replace("{source}", name) for arg in command]
        result = subprocess.run([sys.executable, "-m", "dbconsole", "--config", str(self.bench.config), *args],
                                capture_output=True, text=True, cwd=ROOT, timeout=600)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed: {result.stderr}")
        time.sleep(0.2)
        return self.counter.turns - before


def sync_in(tb: TunnelBench, tree: Path, profile: str) -> float:
    """The CLI of ``tree`` (its own ``dbconsole`` package, found first from its folder)."""
    command = [sys.executable, "-m", "dbconsole", "--config", str(tb.bench.config), "sync", "--from", profile,
               "--to", "target", "--tables", "bench", "--json"]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, cwd=tree, timeout=900)
    if result.returncode != 0:
        raise SystemExit(f"sync failed in {tree}: {result.stderr.decode(errors='replace')}")
    return time.perf_counter() - started


def alternate(repeat: int, bench: Bench, run, trees: tuple[Path, ...]) -> list[list[float]]:
    """Each tree once per round, round after round: a busy machine's drift hits all of them alike."""
    times: list[list[float]] = [[] for _ in trees]
    for _ in range(repeat):
        for i, tree in enumerate(trees):
            bench.empty_target()
            times[i].append(run(tree))
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    link_options(parser)
    parser.add_argument("--links", default="loopback,throttled")
    parser.add_argument("--before", type=Path,
                        help="an older source tree: its compressed syncs alternate with this tree's, run by run")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    bench = Bench(args.rows, args.repeat, None)
    report: list[tuple[str, str, float, list[float], float]] = []
    try:
        bench.start()
        tb = TunnelBench(bench, args.mbit, args.rtt_ms)
        tb.write_config()
        print(f"set-up: {args.rows:,} rows; SSH server :{tb.ssh_port}, relay :{tb.relay.port} "
              f"({args.mbit:g} Mbit/s, {args.rtt_ms:g} ms RTT)", flush=True)
        for link in args.links.split(","):
            floors = {}
            for compression in (True, False):
                with tb.ssh_forward(link, compression) as port:
                    floors[compression], runs, _ = median_of(args.repeat, bench.empty_target,
                                                             lambda: bench.floor(source_port=port))
                name = f"ssh {'-C ' if compression else ''}-L + COPY (floor)"
                report.append((link, name, floors[compression], runs, floors[compression] / floors[True] if floors[True] else 1))
                print(f"{link:<10} {name:<36} {floors[compression]:7.2f} s  runs {fmt(runs)}", flush=True)
            if args.before:
                for transport in TRANSPORTS:
                    profile = tb.profile(link, transport, True)
                    pairs = alternate(args.repeat, bench, lambda tree: sync_in(tb, tree, profile),
                                      (args.before, ROOT))
                    for tree, times in zip(("before", "this tree"), pairs):
                        seconds = statistics.median(times)
                        name = f"sync via {transport}, -C, {tree}"
                        report.append((link, name, seconds, times, seconds / floors[True]))
                        print(f"{link:<10} {name:<36} {seconds:7.2f} s  runs {fmt(times)}  "
                              f"{seconds / floors[True]:.2f}x the -C floor", flush=True)
                continue
            for transport in TRANSPORTS:
                for compression in (True, False):
                    profile = tb.profile(link, transport, compression)
                    seconds, runs, _ = median_of(args.repeat, bench.empty_target, lambda: bench.sync(source=profile))
                    name = f"sync via {transport}, compression {'on' if compression else 'off'}"
                    report.append((link, name, seconds, runs, seconds / floors[True]))
                    print(f"{link:<10} {name:<36} {seconds:7.2f} s  runs {fmt(runs)}  "
                          f"{seconds / floors[True]:.2f}x the -C floor", flush=True)
        print("\nPostgreSQL round trips per command (through the tunnel, compression on):")
        for transport in TRANSPORTS:
            counts = {
                "check": tb.round_trips("loopback", transport, "check", "{source}"),
                "tables": tb.round_trips("loopback", transport, "tables", "--left", "target", "--right", "{source}"),
            }
            bench.empty_target()
            counts["sync (1 table, from empty)"] = tb.round_trips(
                "loopback", transport, "sync", "--from", "{source}", "--to", "target", "--tables", "bench", "--json")
            print(f"  {transport:<9} " + ", ".join(f"{k}: {v}" for k, v in counts.items()), flush=True)
        print("\nlink       figure                               seconds   ratio to ssh -C -L floor")
        for link, name, seconds, runs, ratio in report:
            print(f"{link:<10} {name:<36} {seconds:7.2f}   {ratio:.2f}x   runs {fmt(runs)}")
        tb.relay.__exit__(None, None, None)
    finally:
        bench.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
