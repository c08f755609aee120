"""Throwaway PostgreSQL servers, a loopback SSH server and seeded data.

Why this package exists: ``dbconsole demo`` and the test suite both need a realistic pair of
databases (a "local" development copy and a "server" reached through SSH) that can be created
in seconds, crashed, restarted and thrown away without touching any PostgreSQL or SSH daemon
the machine already runs. Nothing here imports Textual; the TUI only consumes the URLs.

Modules:
    pgbin    find the PostgreSQL server binaries and run them as a non-root user
    cluster  :class:`PgCluster`, a private PostgreSQL cluster on a random loopback port
    sshd     :class:`LoopbackSSHServer`, a real SSH server that only forwards ports
    seed     the stock-screener schema and its deterministic server / drifted local data
"""
