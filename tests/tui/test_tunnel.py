"""A server profile behind a real SSH hop: the pane marks the tunnel, counts come through it,
and quitting closes it."""

from __future__ import annotations

import json

from dbconsole.config import load_config
from dbconsole.connect import tunnels
from dbconsole.tui.app import DbconsoleApp
from dbconsole.tui.widgets.profiles.pane import TUNNEL

from .conftest import count_rows, write_config
from .helpers import cell_text, count_exactly


async def test_server_behind_ssh_is_counted_through_the_tunnel(tmp_path, dbs, sshd):
    ssh = json.dumps({"host": sshd.host, "port": sshd.port, "user": sshd.user,
                      "key": str(sshd.client_key_path), "known_hosts": str(sshd.known_hosts_path),
                      "transport": sshd.transport})
    ssh_inline = "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in json.loads(ssh).items()) + " }"
    path = write_config(tmp_path, dbs.local_url, dbs.server_url, server_ssh=ssh_inline)
    config = load_config(path, environ={}, cwd=tmp_path)
    assert config.profiles["server"].ssh is not None
    app = DbconsoleApp(config=config)
    async with app.run_test(size=(140, 40)) as pilot:
        await count_exactly(pilot, app)  # ctrl+r: exact counts through the tunnel
        assert app.statuses["server"].state == "connected", app.statuses["server"].error
        prompt = app.profiles_pane.query_one("#profile-list").get_option("server").prompt
        assert TUNNEL in prompt.plain and "read-only" in prompt.plain
        grid = app.browser.query_one("#grid")
        expected = count_rows(dbs.server_url, "public.users")
        assert cell_text(grid, "public.users", "right").replace(",", "") == str(expected)
        assert tunnels._tunnels  # the tunnel is open while the console runs
        await pilot.press("ctrl+q")
    assert not tunnels._tunnels
