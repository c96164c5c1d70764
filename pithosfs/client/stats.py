"""Request and byte counters shared by every store implementation.

Tests read them to prove dedup and resume ("a re-upload sent only the
hashmap"), and `pithosfs status` shows them. Counting is per HTTP method, so
the fake store (which has no HTTP) records the method the real client would
have used for the same call.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class MethodStats:
    requests: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0


@dataclass
class StatsSnapshot:
    """An immutable-by-convention copy of the counters at one moment."""

    by_method: dict[str, MethodStats] = field(default_factory=dict)
    retries: int = 0
    reauths: int = 0

    @property
    def requests(self) -> int:
        return sum(m.requests for m in self.by_method.values())

    @property
    def bytes_sent(self) -> int:
        return sum(m.bytes_sent for m in self.by_method.values())

    @property
    def bytes_received(self) -> int:
        return sum(m.bytes_received for m in self.by_method.values())

    def count(self, method: str) -> int:
        return self.by_method.get(method, MethodStats()).requests

    def __sub__(self, other: StatsSnapshot) -> StatsSnapshot:
        """Counters accumulated since `other` was taken."""
        diff: dict[str, MethodStats] = {}
        for method, mine in self.by_method.items():
            old = other.by_method.get(method, MethodStats())
            diff[method] = MethodStats(
                mine.requests - old.requests,
                mine.bytes_sent - old.bytes_sent,
                mine.bytes_received - old.bytes_received,
            )
        return StatsSnapshot(diff, self.retries - other.retries, self.reauths - other.reauths)


class TransferStats:
    """Thread-safe counters; `record` is the hook every request goes through."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_method: dict[str, MethodStats] = {}
        self._retries = 0
        self._reauths = 0

    def record(self, method: str, sent: int, received: int) -> None:
        with self._lock:
            entry = self._by_method.setdefault(method.upper(), MethodStats())
            entry.requests += 1
            entry.bytes_sent += sent
            entry.bytes_received += received

    def add_received(self, method: str, received: int) -> None:
        """Body bytes of a streamed response, read after its request was recorded."""
        with self._lock:
            self._by_method.setdefault(method.upper(), MethodStats()).bytes_received += received

    def record_retry(self) -> None:
        with self._lock:
            self._retries += 1

    def record_reauth(self) -> None:
        with self._lock:
            self._reauths += 1

    def snapshot(self) -> StatsSnapshot:
        with self._lock:
            return StatsSnapshot(
                {
                    k: MethodStats(v.requests, v.bytes_sent, v.bytes_received)
                    for k, v in self._by_method.items()
                },
                self._retries,
                self._reauths,
            )

    def reset(self) -> None:
        with self._lock:
            self._by_method.clear()
            self._retries = 0
            self._reauths = 0
