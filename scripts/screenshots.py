#!/usr/bin/env python3
"""Regenerate screenshots/*.svg: the console rendered by itself, headless, on demo data.

    python scripts/screenshots.py [--scale demo|test] [--out screenshots]

Why a script: pictures in the README must show what the code really draws today. It starts a
throwaway local + server database pair (the server behind a real SSH hop), drives the app with
Textual's Pilot at a fixed size with the cursor blink off, and saves one SVG per scene:

    browser.svg          profiles + compare browser, exact counts in
    browser-light.svg    the same in the light theme
    browser-content.svg  the content column after C: same, or how many rows differ
    browser-marked.svg   filtered, with marked tables
    wizard-preview.svg   the sync wizard's dry-run preview
    wizard-running.svg   the wizard mid-run: per-table and total progress, events
    inspector.svg        the inspector with a query result
    health.svg           the health view of the server profile
    inspector-schema.svg the inspector's schema differences (public.stocks, a newer migration's column)
    wizard-subset.svg    the wizard's dry run of a subset started from an inspector row (rows per table)
    wizard-create-missing.svg  the dry run of a table only on the server: the DDL create-missing runs first

The profiles pane in every main-screen picture shows each profile's migration version and
"local is 2 migrations behind server" (the demo's Prisma table).

The databases come from ``dbconsole.demo.start_demo`` (exactly what ``dbconsole demo`` shows);
without the demo module the script builds the same setup from :mod:`dbconsole.sandbox` itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZE = (140, 40)
DBNAME = "stockfinder"


@contextlib.contextmanager
def sandbox_environment(workdir: Path, scale: str = "demo") -> Iterator[Path]:
    """Two seeded clusters, an SSH server in front of the "server" one, and a config for both."""
    from concurrent.futures import ThreadPoolExecutor

    from dbconsole.sandbox.cluster import PgCluster
    from dbconsole.sandbox.demo_extras import add_demo_extras
    from dbconsole.sandbox.seed import SeedScale, seed_local, seed_server
    from dbconsole.sandbox.sshd import LoopbackSSHServer

    seed_scale = SeedScale.DEMO if scale == "demo" else SeedScale.TEST
    local, server = PgCluster("local"), PgCluster("server")

    def start(cluster: PgCluster, seed: Callable[..., None]) -> None:
        cluster.start()
        cluster.create_database(DBNAME)
        with cluster.connect(DBNAME) as conn:
            seed(conn, seed_scale)
            add_demo_extras(conn, cluster.name)  # as the demo does
            conn.execute("ANALYZE")

    sshd = None
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            for future in [pool.submit(start, local, seed_local), pool.submit(start, server, seed_server)]:
                future.result()
        sshd = LoopbackSSHServer(workdir / "sshd", [(server.host, server.port)]).start()
        config = workdir / "dbconsole.toml"
        config.write_text(
            'default_profile = "local"\n\n'
            "[profiles.local]\n"
            f'url = "postgresql://{local.user}:${{LOCAL_DB_PASSWORD}}@{local.host}:{local.port}/{DBNAME}"\n'
            'color = "green"\n\n'
            "[profiles.server]\n"
            f'url = "postgresql://{server.user}:${{SERVER_DB_PASSWORD}}@localhost:{server.port}/{DBNAME}"\n'
            "read_only = true\n"
            'color = "red"\n'
            f'ssh = {{ host = "{sshd.host}", port = {sshd.port}, user = "{sshd.user}", '
            f'key = "{sshd.client_key_path}", known_hosts = "{sshd.known_hosts_path}" }}\n\n'
            "[tui]\nrefresh_interval = 0\n", encoding="utf-8")
        (workdir / ".env").write_text(f"LOCAL_DB_PASSWORD='{local.password}'\n"
                                      f"SERVER_DB_PASSWORD='{server.password}'\n", encoding="utf-8")
        yield config
    finally:
        from dbconsole.connect import tunnels

        tunnels.close_all()
        if sshd is not None:
            sshd.stop()
        for cluster in (local, server):
            cluster.cleanup()


@contextlib.contextmanager
def demo_environment(scale: str) -> Iterator[Path]:
    """The same databases ``dbconsole demo`` opens on (its setup function, its config)."""
    from dbconsole.demo import start_demo
    from dbconsole.sandbox.seed import SeedScale

    env = start_demo(lambda message: print(f"  {message}", flush=True),
                     scale=SeedScale.DEMO if scale == "demo" else SeedScale.TEST)
    try:
        assert env.config_path is not None
        yield env.config_path
    finally:
        env.stop()


def environment(workdir: Path, scale: str) -> contextlib.AbstractContextManager[Path]:
    import importlib.util

    if importlib.util.find_spec("dbconsole.demo") is None:
        return sandbox_environment(workdir, scale)
    return demo_environment(scale)


# --------------------------------------------------------------------------- scenes


async def wait_for(pilot: Any, condition: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (value := condition()):
        if loop.time() > deadline:
            raise SystemExit(f"screenshots: timed out waiting for {what}")
        await pilot.pause(0.05)
    return value


def still(app: Any) -> None:
    """No blinking cursor in a picture."""
    for widget in app.screen.query("Input, TextArea"):
        widget.cursor_blink = False


async def shoot(pilot: Any, app: Any, out: Path, name: str) -> None:
    still(app)
    await pilot.pause(0.3)
    app.save_screenshot(f"{name}.svg", path=str(out))
    print(f"  {out / (name + '.svg')}")


async def scenes(config_path: Path, out: Path) -> None:
    from textual.widgets import Input, TextArea

    from dbconsole.config import load_config
    from dbconsole.tui.app import DbconsoleApp
    from dbconsole.tui.screens.health import HealthScreen
    from dbconsole.tui.screens.history import HistoryScreen
    from dbconsole.tui.screens.inspector import Inspector
    from dbconsole.tui.screens.wizard import SyncWizard
    from dbconsole.tui.widgets.sync import RunProgress

    config = load_config(config_path, environ={}, cwd=config_path.parent)
    app = DbconsoleApp(config=config)
    async with app.run_test(size=SIZE) as pilot:
        app.sub_title = "~/.config/dbconsole/dbconsole.toml"  # not the throwaway folder's name
        browser = app.browser
        await wait_for(pilot, lambda: browser.loaded["left"] and browser.loaded["right"] and not browser.busy,
                       "estimates")
        await wait_for(pilot, lambda: app.pair_migrations is not None and browser.schema_compared,
                       "the schemas and migrations")
        await pilot.press("ctrl+r")  # exact counts run when asked, never on their own
        await wait_for(pilot, lambda: not browser.busy, "exact counts")
        await pilot.press("down", "down")
        await shoot(pilot, app, out, "browser")
        app.theme = "textual-light"
        await shoot(pilot, app, out, "browser-light")
        app.theme = "textual-dark"

        await pilot.press("C")  # content diffs of every table shown: which rows differ, not only how many
        await wait_for(pilot, lambda: browser.diffing or any(browser.content_of(n) for n in browser.rows),
                       "content checks to start", timeout=20)
        await wait_for(pilot, lambda: not browser.diffing, "content checks")
        await shoot(pilot, app, out, "browser-content")

        browser.set_marked({n for n in browser.rows if n.name == "price_history"})
        await pilot.press("slash", *"scan", "enter", "space", "space", "up")
        await shoot(pilot, app, out, "browser-marked")

        # the wizard on the biggest table, so the run lasts long enough to be seen mid-way
        browser.set_filter("price_history")
        browser.set_marked({n for n in browser.rows if n.name in ("price_history", "stocks")})
        await pilot.pause()
        await pilot.press("s")
        wizard = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, SyncWizard) else None, "wizard")
        await pilot.press("ctrl+n", "ctrl+n")
        wizard.query_one("#opt-batch", Input).value = "5000"
        await wait_for(pilot, lambda: wizard.plan is not None or wizard.plan_error, "the plan")
        await pilot.pause(0.5)
        await wait_for(pilot, lambda: wizard.plan is not None or wizard.plan_error, "the plan")
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: wizard.preview_done or wizard.preview_error, "the dry run")
        await shoot(pilot, app, out, "wizard-preview")
        await pilot.press("ctrl+n", "ctrl+n")
        progress = wizard.query_one(RunProgress)
        await wait_for(pilot, lambda: wizard.step == "summary" or any(
            0 < progress.rows.get(t, 0) < (progress.estimates.get(t) or 0) * 0.8 and progress.rows.get(t, 0) > 0.2 * (progress.estimates.get(t) or 1)
            for t in progress.rows), "the run to be under way")
        await shoot(pilot, app, out, "wizard-running")
        await wait_for(pilot, lambda: wizard.step == "summary", "the run to finish")
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: not browser.busy, "the refresh")

        browser.set_filter("stocks")
        await pilot.pause()
        await pilot.press("enter")
        inspector = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, Inspector) else None, "inspector")
        await pilot.press("ctrl+o")
        inspector.query_one("#sql", TextArea).text = (
            "SELECT * FROM public.stocks\nORDER BY 1 LIMIT 12")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: not inspector.running and inspector.query_one("#query-result").row_count,
                       "the query")
        await wait_for(pilot, lambda: inspector.query_one("#rows-left").row_count
                       and inspector.query_one("#rows-right").row_count, "the previews")
        await shoot(pilot, app, out, "inspector")

        # the health of the server (the profile highlighted in the profiles pane)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, Inspector), "the inspector to close")
        app.query_one("#profile-list").highlighted = 1  # the server
        await pilot.press("h")
        health = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, HealthScreen) else None, "health")
        await wait_for(pilot, lambda: health.reads >= 1, "the first health read")
        await shoot(pilot, app, out, "health")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HealthScreen), "the health view to close")

        # the local profile's sync history (the wizard's run above is in it), from which a run is undone
        app.action_focus_profiles()
        app.query_one("#profile-list").highlighted = 0
        await pilot.press("y")
        history = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, HistoryScreen) else None,
                                 "history")
        await wait_for(pilot, lambda: history.reads >= 1 and history.runs, "the runs")
        await shoot(pilot, app, out, "history")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HistoryScreen), "the history view to close")
        await schema_and_subset_scenes(pilot, app, out)


async def schema_and_subset_scenes(pilot: Any, app: Any, out: Path) -> None:
    """The inspector's schema differences, a subset from an inspector row, create-missing."""
    from textual.widgets import DataTable

    from dbconsole.tui.screens.inspector import Inspector
    from dbconsole.tui.screens.wizard import SyncWizard

    browser = app.browser
    app.action_focus_browser()

    async def inspect(name: str) -> Any:
        browser.set_filter(name)
        await pilot.pause()
        app.action_inspect()
        inspector = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, Inspector) else None,
                                   "the inspector")
        await wait_for(pilot, lambda: "left" in inspector.previews and "right" in inspector.previews, "the previews")
        await pilot.pause(0.2)
        return inspector

    async def dry_run(wizard: Any) -> None:
        await pilot.press("ctrl+n", "ctrl+n")
        await wait_for(pilot, lambda: wizard.plan is not None or wizard.plan_error, "the plan")
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: wizard.preview_done or wizard.preview_error, "the dry run")

    await inspect("public.stocks")
    await shoot(pilot, app, out, "inspector-schema")
    await pilot.press("escape")

    inspector = await inspect("public.users")
    inspector.query_one("#rows-right", DataTable).focus()
    inspector.query_one("#rows-right", DataTable).move_cursor(row=6)
    await pilot.pause()
    await pilot.press("ctrl+s")  # copy this row and what it needs
    wizard = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, SyncWizard) else None, "wizard")
    await dry_run(wizard)
    await shoot(pilot, app, out, "wizard-subset")
    wizard.action_leave()
    await wait_for(pilot, lambda: not isinstance(app.screen, SyncWizard), "the wizard to close")

    browser.set_filter("alerts")
    browser.set_marked({n for n in browser.rows if n.name == "alerts"})
    await pilot.pause()
    await pilot.press("s")
    wizard = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, SyncWizard) else None, "wizard")
    await dry_run(wizard)
    await shoot(pilot, app, out, "wizard-create-missing")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=("demo", "test"), default="demo")
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dbconsole-shots-") as tmp:
        print("starting throwaway databases…", flush=True)
        with environment(Path(tmp), args.scale) as config_path:
            print("rendering:", flush=True)
            asyncio.run(scenes(config_path, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
