"""Server-side session storage: the :class:`SessionStore` protocol that ``Sessions`` and ``PendingSignIns`` keep
their data in when cookies should carry only a sealed id, and :class:`MemorySessionStore`, its in-process
implementation with per-entry expiry and a size cap (one process only: behind several workers use
:class:`~cognito_guard.hosted_ui.RedisSessionStore`).

Entries carry a version (1 for a new entry, one more for each write), so that a write can be made conditional on
nobody having written since it was read (:meth:`SessionStore.compare_and_set`): what keeps two workers that refresh
one session from overwriting each other, and what makes a lock of one refresh per session across the fleet.

Keys: a ``#`` in a key separates its group (before) from the rest; a shared store keeps a group together (one Redis
Cluster slot), e.g. a session and its refresh lock."""

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
    """Where server-side sessions live; implementations must be thread-safe (Flask). Data is JSON-serialisable;
    ``ttl`` is in seconds. A store whose calls wait on the network sets ``blocking = True``: async apps then call it
    from a worker thread instead of the event loop. Failures to reach the store raise
    :class:`~cognito_guard.errors.SessionStoreUnavailableError` (503)."""

    blocking: bool

    def get(self, key: str) -> dict[str, Any] | None:
        """The live entry, or None."""

    def set(self, key: str, data: Mapping[str, Any], *, ttl: float) -> None:
        """Create or replace an entry that lives ``ttl`` seconds."""

    def delete(self, key: str) -> None:
        """Remove an entry; no error if there is none."""

    def pop(self, key: str) -> dict[str, Any] | None:
        """Get and delete atomically (what makes a pending sign-in single-use), or None."""

    def get_versioned(self, key: str) -> tuple[dict[str, Any], int] | None:
        """The live entry and its version (1 or more), or None."""

    def compare_and_set(self, key: str, data: Mapping[str, Any], *, ttl: float, version: int) -> int | None:
        """Write only if the entry's version is still ``version`` (0: only if there is no entry); returns the new
        version, or None when someone wrote (or deleted) meanwhile."""

    def delete_if(self, key: str, *, version: int) -> bool:
        """Delete only if the entry's version is still ``version``; whether it was deleted."""


class MemorySessionStore:
    """In-process SessionStore with per-entry expiry and a size cap (the oldest entries are evicted).

    One process only: behind several workers use a shared store (e.g. Redis). Entries are kept as JSON, so callers
    never share mutable data with the store.
    """

    blocking = False  # memory: async apps call it inline

    def __init__(self, *, max_entries: int = 100_000, clock: Callable[[], float] = time.time) -> None:
        if max_entries < 1:
            raise ConfigurationError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (expires at, version, JSON), oldest first
        self._entries: OrderedDict[str, tuple[float, int, str]] = OrderedDict()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._live(key)
        return None if entry is None else _json_object(entry[2])

    def get_versioned(self, key: str) -> tuple[dict[str, Any], int] | None:
        with self._lock:
            entry = self._live(key)
        return None if entry is None else (_json_object(entry[2]), entry[1])

    def set(self, key: str, data: Mapping[str, Any], *, ttl: float) -> None:
        document = _document(data, ttl)
        with self._lock:
            entry = self._live(key)
            self._put(key, document, ttl, 1 if entry is None else entry[1] + 1)

    def compare_and_set(self, key: str, data: Mapping[str, Any], *, ttl: float, version: int) -> int | None:
        document = _document(data, ttl)
        with self._lock:
            entry = self._live(key)
            if (0 if entry is None else entry[1]) != version:
                return None
            self._put(key, document, ttl, version + 1)
        return version + 1

    def delete(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def delete_if(self, key: str, *, version: int) -> bool:
        with self._lock:
            entry = self._live(key)
            if entry is None or entry[1] != version:
                return False
            del self._entries[key]
        return True

    def pop(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._live(key)
            self._entries.pop(key, None)
        return None if entry is None else _json_object(entry[2])

    def _put(self, key: str, document: str, ttl: float, version: int) -> None:
        """Store an entry (the lock is held)."""
        now = self._clock()
        self._entries.pop(key, None)
        self._entries[key] = (now + ttl, version, document)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        # A little sweeping per write keeps dead entries from waiting for eviction.
        for old_key, (expires_at, _, _) in list(islice(self._entries.items(), 8)):
            if now >= expires_at:
                del self._entries[old_key]

    def _live(self, key: str) -> tuple[float, int, str] | None:
        """The entry if it has not expired (the lock is held)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() >= entry[0]:
            del self._entries[key]
            return None
        return entry


def _document(data: Mapping[str, Any], ttl: float) -> str:
    """The JSON of an entry; raises ValueError for a ttl that is not a positive number of seconds."""
    if not (ttl > 0 and math.isfinite(ttl)):
        raise ValueError("ttl must be a positive number of seconds")
    return json.dumps(dict(data), separators=(",", ":"), allow_nan=False)


def _json_object(document: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(document)
    return value
