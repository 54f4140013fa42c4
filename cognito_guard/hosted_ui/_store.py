"""Server-side session storage: the :class:`SessionStore` protocol that ``Sessions`` and ``PendingSignIns`` keep
their data in when cookies should carry only a sealed id, and :class:`MemorySessionStore`, its in-process
implementation with per-entry expiry and a size cap (one process only: behind several workers use a shared store)."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from itertools import islice
from typing import Any, Protocol

from ..errors import ConfigurationError

__all__ = ["MemorySessionStore", "SessionStore"]


class SessionStore(Protocol):
    """Where server-side sessions live; implementations must be thread-safe (Flask) and fast (async apps call them
    inline). Data is JSON-serialisable; ``ttl`` is in seconds."""

    def get(self, key: str) -> dict[str, Any] | None:
        """The live entry, or None."""

    def set(self, key: str, data: Mapping[str, Any], *, ttl: float) -> None:
        """Create or replace an entry that lives ``ttl`` seconds."""

    def delete(self, key: str) -> None:
        """Remove an entry; no error if there is none."""

    def pop(self, key: str) -> dict[str, Any] | None:
        """Get and delete atomically (what makes a pending sign-in single-use), or None."""


class MemorySessionStore:
    """In-process SessionStore with per-entry expiry and a size cap (the oldest entries are evicted).

    One process only: behind several workers use a shared store (e.g. Redis). Entries are kept as JSON, so callers
    never share mutable data with the store.
    """

    def __init__(self, *, max_entries: int = 100_000, clock: Callable[[], float] = time.time) -> None:
        if max_entries < 1:
            raise ConfigurationError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()  # key -> (expires at, JSON), oldest first

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            document = self._live(key)
        return None if document is None else _json_object(document)

    def set(self, key: str, data: Mapping[str, Any], *, ttl: float) -> None:
        if not (ttl > 0 and math.isfinite(ttl)):
            raise ValueError("ttl must be a positive number of seconds")
        document = json.dumps(dict(data), separators=(",", ":"), allow_nan=False)
        with self._lock:
            now = self._clock()
            self._entries.pop(key, None)
            self._entries[key] = (now + ttl, document)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
            # A little sweeping per write keeps dead entries from waiting for eviction.
            for old_key, (expires_at, _) in list(islice(self._entries.items(), 8)):
                if now >= expires_at:
                    del self._entries[old_key]

    def delete(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def pop(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            document = self._live(key)
            self._entries.pop(key, None)
        return None if document is None else _json_object(document)

    def _live(self, key: str) -> str | None:
        """The entry's JSON if it has not expired (the lock is held)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() >= entry[0]:
            del self._entries[key]
            return None
        return entry[1]


def _json_object(document: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(document)
    return value
