"""One refresh per store-backed session across every worker that shares the store.

Several workers (and threads) may find one session's tokens expired at once. Left alone, each would spend the refresh
token: Cognito's rate limit is hit, and with refresh-token rotation the second refresh presents a token that the first
just replaced, so the user is signed out. Here a lock entry in the store (created only if absent, with a TTL so that a
worker dying mid-refresh frees it) lets exactly one of them call Cognito; it writes the new tokens with a
compare-and-set, and the others wait a bounded time for the session's version to change and use what it wrote.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from ..claims import Claims
from ..errors import HostedUIUnavailableError, ServiceUnavailableError, SignInError
from ._client import HostedUIClient
from ._flow import TokenSet
from ._session import Sessions, StoredSession

__all__ = ["StoredRefresh"]

logger = logging.getLogger("cognito_guard.hosted_ui")

_FAILURE_SECONDS = 5.0  # a failed refresh (Cognito down) answers the waiters too, instead of each retrying


def _tokens(session: StoredSession | None) -> TokenSet | None:
    data = None if session is None else session.data.get("tokens")
    if not isinstance(data, dict):
        return None
    try:
        return TokenSet.from_dict(data)
    except SignInError:
        return None


class StoredRefresh:
    """Refreshes store-backed sessions, one worker at a time per session.

    ``lock_ttl``: seconds after which the lock of a worker that died mid-refresh frees itself (default: the client's
    HTTP timeout plus 5 s, longer than a live refresh takes). ``wait``: seconds a worker waits for another one's
    refresh before answering 503 (default ``lock_ttl`` plus 5 s: long enough to see a dead worker's lock expire and
    take over). ``pause``: how a waiter waits between looks at the store (tests inject their own; the wait is counted
    in the pauses it asked for). ``clock``: Unix seconds (token expiry).
    """

    def __init__(
        self,
        sessions: Sessions,
        client: HostedUIClient,
        *,
        lock_ttl: float | None = None,
        wait: float | None = None,
        pause: Callable[[float], object] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        store = sessions.store
        if store is None:
            raise ValueError("StoredRefresh needs sessions kept in a store")
        self._sessions = sessions
        self._store = store
        self._client = client
        self._lock_ttl = client.timeout + 5.0 if lock_ttl is None else lock_ttl
        self._wait = self._lock_ttl + 5.0 if wait is None else wait
        self._pause = pause or threading.Event().wait
        self._clock = clock

    def refresh(self, session: StoredSession) -> tuple[TokenSet, Claims]:
        """Fresh tokens for ``session`` and the claims of their ID token, refreshing at Cognito only if no other
        worker did (or is doing) it.

        Raises :class:`SignInError` when the session has ended (signed out, refresh token refused: the session is
        then deleted), :class:`TokenError` for a new ID token that does not verify, and
        :class:`ServiceUnavailableError` when Cognito or the store cannot be reached (or another worker's refresh
        takes too long)."""
        lock_key = self._sessions.refresh_lock_key(session)
        waited, interval = 0.0, 0.01
        while True:
            taken = self._clock()
            lock = self._store.compare_and_set(lock_key, {"pid": os.getpid()}, ttl=self._lock_ttl, version=0)
            if lock is not None:
                try:
                    return self._refresh_holding_the_lock(session, lock_key)
                finally:
                    # A holder that overran its lock's TTL leaves it alone: the lock may now be another worker's,
                    # and a new lock starts at the same version.
                    if self._clock() - taken < self._lock_ttl:
                        self._store.delete_if(lock_key, version=lock)
            # Another worker is refreshing: watch the session until it changes or the lock goes away.
            while True:
                if waited >= self._wait:
                    raise HostedUIUnavailableError("another worker's refresh of this session is taking too long")
                self._pause(interval)
                waited += interval
                interval = min(interval * 2, 0.1)
                done = self._refreshed_elsewhere(session)
                if done is not None:
                    return done
                if self._store.get_versioned(lock_key) is None:
                    failure = self._store.get_versioned(f"{lock_key}-failed")
                    if failure is not None:
                        raise HostedUIUnavailableError("the session could not be refreshed: Cognito did not answer")
                    break  # the holder gave up (or died and its lock expired): try to take the lock

    def _refreshed_elsewhere(self, session: StoredSession) -> tuple[TokenSet, Claims] | None:
        """The new tokens if another worker has refreshed ``session`` (None if not yet); raises SignInError once the
        session is gone."""
        current = self._sessions.reload(session)
        if current is None:
            raise SignInError("this session has ended")
        tokens = _tokens(current)
        if current.version == session.version or tokens is None or tokens.expired(self._clock()):
            return None
        return tokens, self._client.verify_id_token_sync(tokens.id_token or "", access_token=tokens.access_token)

    def _refresh_holding_the_lock(self, session: StoredSession, lock_key: str) -> tuple[TokenSet, Claims]:
        done = self._refreshed_elsewhere(session)  # while this worker waited for the lock
        if done is not None:
            return done
        current = self._sessions.reload(session)
        tokens = _tokens(current)
        if current is None or tokens is None or not tokens.refresh_token:
            raise SignInError("this session has ended")
        try:
            fresh = self._client._refresh_unverified_sync(tokens.refresh_token)
        except ServiceUnavailableError:
            self._store.set(f"{lock_key}-failed", {}, ttl=_FAILURE_SECONDS)
            raise
        except SignInError:
            done = self._refreshed_elsewhere(current)  # a worker that took over an overrun lock spent it first
            if done is not None:
                return done
            self._sessions.end_stored(current)  # the refresh token is dead (revoked, expired): so is the session
            raise
        if fresh.id_token is None:
            self._sessions.end_stored(current)
            raise SignInError("Cognito's refresh answer has no ID token")
        # With rotation, fresh.refresh_token is the new one: written here, the old one is never presented again. It
        # is written before the new ID token is verified: were the keys out of reach now, dropping Cognito's answer
        # would leave only the replaced refresh token, and presenting it again signs the user out. Every use of the
        # stored tokens verifies them first (a refused one ends the session there).
        if self._sessions.replace_stored(current, {**current.data, "tokens": fresh.to_dict()}) is None:
            # Signed out meanwhile (SignInError), or refreshed by a worker that took over an overrun lock: use that.
            done = self._refreshed_elsewhere(current)
            if done is None:
                raise SignInError("this session changed while it was being refreshed")
            return done
        logger.debug("refreshed a stored session")
        return fresh, self._client.verify_id_token_sync(fresh.id_token, access_token=fresh.access_token)
