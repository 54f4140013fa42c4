"""Counts of the stand-in's token-endpoint requests, for tests that assert how often an app asked for tokens
("exactly one refresh", even across several app processes: they read ``GET /_dev/stats``).

Exact under concurrency: every count changes under one lock, and a snapshot copies all of them under it.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["GRANT_TYPES", "TokenEndpointStats"]

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")


class TokenEndpointStats:
    """What ``POST /oauth2/token`` was asked, since the start or the last :meth:`reset`.

    - ``requests_by_grant``: requests per grant type, whatever their outcome (every supported grant type is listed,
      0 included; a request with another or no ``grant_type`` is not counted);
    - ``errors_by_grant``: those of them answered with an error (``invalid_grant``, ``invalid_client``...);
    - ``refreshes_by_family``: successful refreshes per family, keyed by the ``origin_jti`` claim its tokens carry.

    The shortcuts that skip HTTP (``LocalUserPool.sign_in``, ``DevServer.tokens_for``...) are not counted.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests = dict.fromkeys(GRANT_TYPES, 0)
        self._errors = dict.fromkeys(GRANT_TYPES, 0)
        self._refreshes: dict[str, int] = {}

    def count_request(self, grant_type: str) -> None:
        with self._lock:
            self._requests[grant_type] += 1

    def count_error(self, grant_type: str) -> None:
        with self._lock:
            self._errors[grant_type] += 1

    def count_refresh(self, origin_jti: str) -> None:
        with self._lock:
            self._refreshes[origin_jti] = self._refreshes.get(origin_jti, 0) + 1

    @property
    def requests_by_grant(self) -> dict[str, int]:
        with self._lock:
            return dict(self._requests)

    @property
    def errors_by_grant(self) -> dict[str, int]:
        with self._lock:
            return dict(self._errors)

    @property
    def refreshes_by_family(self) -> dict[str, int]:
        with self._lock:
            return dict(self._refreshes)

    def refreshes(self, origin_jti: str) -> int:
        """Successful refreshes of the family whose tokens carry ``origin_jti`` (0 for an unknown one)."""
        with self._lock:
            return self._refreshes.get(origin_jti, 0)

    def to_json(self) -> dict[str, Any]:
        """All the counts at one instant, as ``GET /_dev/stats`` answers them."""
        with self._lock:
            return {
                "requests_by_grant": dict(self._requests),
                "errors_by_grant": dict(self._errors),
                "refreshes_by_family": dict(self._refreshes),
            }

    def reset(self) -> None:
        """Start counting from zero again (``DELETE /_dev/stats``)."""
        with self._lock:
            self._requests = dict.fromkeys(GRANT_TYPES, 0)
            self._errors = dict.fromkeys(GRANT_TYPES, 0)
            self._refreshes = {}
