"""The full-screen console: Textual widgets over the headless core.

Nothing outside this package imports Textual. The console only *drives* the foundation
(config, connect, catalog, compare) and the sync engine: every database call runs in a thread
worker that reports back with a typed message (:mod:`dbconsole.tui.messages`), so the event
loop never waits on a network round trip.
"""
