"""A loopback TCP relay that counts PostgreSQL round trips, one count per conversation turn.

A round trip is the client speaking and then the server answering: the relay counts each
time bytes come from the server after the last bytes came from the client, per connection.
The client cannot send its next request before it has read the answer, and the relay records
who spoke *before* forwarding, so the count is exact and the same on every run (unlike a
timing): a test asserts it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from tests.netproxy import LoopbackRelay, Speaker


@dataclass
class _Conversation:
    index: int
    last: Speaker = "server"


class TurnCountingProxy(LoopbackRelay):
    def __init__(self, target_host: str, target_port: int) -> None:
        self.turns: list[int] = []  # per connection, in the order they were opened
        self._lock = threading.Lock()
        super().__init__(target_host, target_port)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.turns)

    def reset(self) -> None:
        with self._lock:
            self.turns = []

    def __enter__(self) -> TurnCountingProxy:
        return self

    def connected(self) -> _Conversation:
        with self._lock:
            self.turns.append(0)
            return _Conversation(len(self.turns) - 1)

    def forwarding(self, speaker: Speaker, data: bytes, connection: object) -> None:
        assert isinstance(connection, _Conversation)
        with self._lock:
            if speaker == "server" and connection.last == "client" and connection.index < len(self.turns):
                self.turns[connection.index] += 1
            connection.last = speaker
