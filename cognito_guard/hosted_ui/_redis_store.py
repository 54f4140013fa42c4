"""RedisSessionStore: the :class:`SessionStore` a fleet of web workers shares (Redis, Valkey, ElastiCache; cluster
mode detected). Connections, key names and scripts come from :mod:`cognito_guard._redis`."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from .. import _redis
from ..errors import ConfigurationError, SessionStoreUnavailableError

__all__ = ["RedisSessionStore"]

logger = logging.getLogger("cognito_guard.hosted_ui")

_T = TypeVar("_T")


def _parse(value: object) -> tuple[dict[str, Any], int] | None:
    """``(data, version)`` of a stored ``"<version>\\n<JSON>"``, or None for anything else (logged)."""
    if not isinstance(value, str):
        return None
    head, _, document = value.partition("\n")
    try:
        version, data = int(head), json.loads(document)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        logger.warning("a session store entry is not readable: treated as absent")
        return None
    return data, version


class RedisSessionStore:
    """A :class:`~cognito_guard.hosted_ui.SessionStore` in Redis: sessions shared by every worker on every host,
    pending sign-ins single-use across them, compare-and-set for one refresh per session.

    ``url``: ``redis://``, ``rediss://`` (TLS) or ``unix://``; a cluster is detected. ``namespace``: prefix of the keys
    (default ``cognito_guard``). Each key's group (see :mod:`~cognito_guard.hosted_ui._store`) is its hash tag, so a
    session and its refresh lock share a cluster slot. Every operation is one round trip. Redis unreachable: raises
    :class:`~cognito_guard.errors.SessionStoreUnavailableError` (503). ``from_env()`` reads ``COGNITO_REDIS_URL``.
    """

    blocking = True  # each call waits on the network: async apps call it from a worker thread

    def __init__(self, url: str, *, namespace: str = "cognito_guard", clock: Callable[[], float] = time.time) -> None:
        self._url = _redis.check_redis_url(url, "url")
        self._namespace = _redis.check_namespace(namespace)
        self._clock = clock
        self._client: Any = _redis.connect(self._url)
        self._set = self._client.register_script(_redis.SESSION_SET_SCRIPT)
        self._cas = self._client.register_script(_redis.SESSION_CAS_SCRIPT)
        self._delete_if = self._client.register_script(_redis.SESSION_DELETE_IF_SCRIPT)
        self._pop = self._client.register_script(_redis.SESSION_POP_SCRIPT)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> RedisSessionStore:
        """A store on ``COGNITO_REDIS_URL``; raises :class:`ConfigurationError` if it is missing or not Redis."""
        import os

        env = os.environ if environ is None else environ
        url = (env.get("COGNITO_REDIS_URL") or "").strip()
        if not url:
            raise ConfigurationError("COGNITO_REDIS_URL is not set (the Redis every worker shares)")
        return cls(_redis.check_redis_url(url), **options)

    def _key(self, key: str) -> str:
        group, mark, rest = key.partition("#")
        return f"{{{self._namespace}:hosted_ui:{group}}}{mark}{rest}"

    def _call(self, what: str, operation: Callable[[], _T]) -> _T:
        try:
            return operation()
        except _redis.failures() as error:
            logger.warning("session store: Redis could not %s (%s)", what, type(error).__name__)
            raise SessionStoreUnavailableError("the session store (Redis) cannot be reached", retry_after=1.0) from None

    @staticmethod
    def _ttl_ms(ttl: float) -> int:
        if not (ttl > 0 and math.isfinite(ttl)):
            raise ValueError("ttl must be a positive number of seconds")
        return max(1, math.ceil(ttl * 1000))

    @staticmethod
    def _json(data: Mapping[str, Any]) -> str:
        return json.dumps(dict(data), separators=(",", ":"), allow_nan=False)

    # -- the SessionStore protocol -------------------------------------------------------------------------------------
    def get(self, key: str) -> dict[str, Any] | None:
        found = self.get_versioned(key)
        return None if found is None else found[0]

    def get_versioned(self, key: str) -> tuple[dict[str, Any], int] | None:
        return _parse(self._call("read a session", lambda: self._client.get(self._key(key))))

    def set(self, key: str, data: Mapping[str, Any], *, ttl: float) -> None:
        args: list[str | int] = [self._json(data), self._ttl_ms(ttl)]
        self._call("write a session", lambda: self._set(keys=[self._key(key)], args=args))

    def compare_and_set(self, key: str, data: Mapping[str, Any], *, ttl: float, version: int) -> int | None:
        args: list[str | int] = [int(version), self._json(data), self._ttl_ms(ttl)]
        written = self._call("write a session", lambda: self._cas(keys=[self._key(key)], args=args))
        return int(written) or None

    def delete(self, key: str) -> None:
        self._call("delete a session", lambda: self._client.delete(self._key(key)))

    def delete_if(self, key: str, *, version: int) -> bool:
        deleted = self._call("delete a session", lambda: self._delete_if(keys=[self._key(key)], args=[int(version)]))
        return bool(deleted)

    def pop(self, key: str) -> dict[str, Any] | None:
        found = _parse(self._call("take a session", lambda: self._pop(keys=[self._key(key)])))
        return None if found is None else found[0]

    def close(self) -> None:
        """Close the connections."""
        self._client.close()
