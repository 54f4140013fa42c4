"""Where :class:`~cognito_guard.client.ClientCredentials` keeps its tokens so that many callers share one: the
:class:`TokenCache` protocol, in memory (one process) and in Redis (a fleet). Public through
:mod:`cognito_guard.client`.

A cache holds opaque strings: the client seals what it stores (see ``_token_seal``), so a cache never sees a token in
clear. Each entry name has three slots: the token, the last failure (so a fleet backs off together) and a lock (so one
process asks Cognito while the others wait for its answer).
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from . import _redis

__all__ = ["MemoryTokenCache", "RedisTokenCache", "TokenCache"]


@runtime_checkable
class TokenCache(Protocol):
    """What :class:`~cognito_guard.client.ClientCredentials` needs from a shared cache.

    Every method may raise (a cache out of reach): the client then carries on without the cache for that call, with a
    logged warning. ``blocking`` says whether calls wait on the network (async callers then make them from a worker
    thread, never on the event loop).
    """

    blocking: bool

    def get(self, name: str) -> tuple[str | None, str | None]:
        """The token and the failure stored under ``name`` (None for each one missing or expired)."""

    def put(self, name: str, token: str, ttl: float) -> None:
        """Store ``token`` for ``ttl`` seconds and forget the failure (a success ends the backoff)."""

    def put_failure(self, name: str, failure: str, ttl: float) -> None:
        """Store ``failure`` for ``ttl`` seconds."""

    def discard(self, name: str, token: str) -> None:
        """Forget the token if it is still ``token`` (never a newer one another caller stored meanwhile)."""

    def acquire(self, name: str, owner: str, ttl: float) -> bool:
        """Take the lock of ``name`` for ``owner`` unless someone holds it. It lapses after ``ttl`` seconds, so a
        holder that dies holds up the others no longer than that."""

    def release(self, name: str, owner: str) -> None:
        """Release the lock if ``owner`` still holds it."""


class MemoryTokenCache:
    """A :class:`TokenCache` in this process: give one to several ``ClientCredentials`` of the same app client (say,
    one per framework or library) so that they share a token. Thread-safe. ``clock`` measures TTLs (monotonic)."""

    blocking = False

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._slots: dict[tuple[str, str], tuple[str, float]] = {}
        _memory_caches.add(self)

    def _after_fork(self) -> None:
        # The locks were taken by the parent's threads, which did not come along: in the child nobody holds them.
        self._lock = threading.Lock()
        self._slots = {slot: entry for slot, entry in self._slots.items() if slot[1] != "lock"}

    def _read(self, slot: tuple[str, str], now: float) -> str | None:
        entry = self._slots.get(slot)
        if entry is None:
            return None
        if now >= entry[1]:
            del self._slots[slot]
            return None
        return entry[0]

    def get(self, name: str) -> tuple[str | None, str | None]:
        with self._lock:
            now = self._clock()
            return self._read((name, "token"), now), self._read((name, "failure"), now)

    def put(self, name: str, token: str, ttl: float) -> None:
        with self._lock:
            self._slots[(name, "token")] = (token, self._clock() + ttl)
            self._slots.pop((name, "failure"), None)

    def put_failure(self, name: str, failure: str, ttl: float) -> None:
        with self._lock:
            self._slots[(name, "failure")] = (failure, self._clock() + ttl)

    def discard(self, name: str, token: str) -> None:
        with self._lock:
            if self._read((name, "token"), self._clock()) == token:
                del self._slots[(name, "token")]

    def acquire(self, name: str, owner: str, ttl: float) -> bool:
        with self._lock:
            now = self._clock()
            if self._read((name, "lock"), now) is not None:
                return False
            self._slots[(name, "lock")] = (owner, now + ttl)
            return True

    def release(self, name: str, owner: str) -> None:
        with self._lock:
            if self._read((name, "lock"), self._clock()) == owner:
                del self._slots[(name, "lock")]


_memory_caches: weakref.WeakSet[MemoryTokenCache] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for cache in list(_memory_caches):
        cache._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _milliseconds(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisTokenCache:
    """A :class:`TokenCache` in Redis (Valkey, ElastiCache; cluster mode detected): every process of a fleet reuses
    one token per app client and scopes, and one process at a time asks Cognito for the next.

    ``url``: ``redis://``, ``rediss://`` (TLS) or ``unix://``. ``namespace``: prefix of the keys (default
    ``cognito_guard``); an entry's keys are ``{namespace:m2m:NAME}:token``, ``:failure`` and ``:lock``, one hash tag
    so one cluster slot. Every call is one round trip; lock and TTLs are Redis's own (``SET NX PX``). Needs redis-py
    (``cognito-guard[redis]``). Raises :class:`~cognito_guard.errors.ConfigurationError` for a bad URL or namespace.
    """

    blocking = True

    def __init__(self, url: str, *, namespace: str = "cognito_guard") -> None:
        self._url = _redis.check_redis_url(url, "url")
        self._namespace = _redis.check_namespace(namespace)
        self._client: Any = _redis.connect(self._url)
        self._get = self._client.register_script(_redis.TOKEN_GET_SCRIPT)
        self._put = self._client.register_script(_redis.TOKEN_PUT_SCRIPT)
        self._delete_if_equal = self._client.register_script(_redis.DELETE_IF_EQUAL_SCRIPT)

    def __repr__(self) -> str:
        return f"RedisTokenCache(namespace={self._namespace!r})"  # never the URL: it may hold a password

    def _keys(self, name: str) -> tuple[str, str, str]:
        return _redis.token_cache_keys(self._namespace, name)

    def get(self, name: str) -> tuple[str | None, str | None]:
        token_key, failure_key, _ = self._keys(name)
        token, failure = self._get(keys=[token_key, failure_key])
        return (token if isinstance(token, str) else None), (failure if isinstance(failure, str) else None)

    def put(self, name: str, token: str, ttl: float) -> None:
        token_key, failure_key, _ = self._keys(name)
        self._put(keys=[token_key, failure_key], args=[token, _milliseconds(ttl)])

    def put_failure(self, name: str, failure: str, ttl: float) -> None:
        self._client.set(self._keys(name)[1], failure, px=_milliseconds(ttl))

    def discard(self, name: str, token: str) -> None:
        self._delete_if_equal(keys=[self._keys(name)[0]], args=[token])

    def acquire(self, name: str, owner: str, ttl: float) -> bool:
        return bool(self._client.set(self._keys(name)[2], owner, nx=True, px=_milliseconds(ttl)))

    def release(self, name: str, owner: str) -> None:
        self._delete_if_equal(keys=[self._keys(name)[2]], args=[owner])

    def close(self) -> None:
        """Close the connections to Redis."""
        self._client.close()
