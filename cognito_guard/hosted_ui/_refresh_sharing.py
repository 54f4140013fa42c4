"""Refreshes within one process: one at a time per session, their outcomes reused briefly, and sign-outs standing.

Threads (Flask) queue on a lock per session, tasks (Starlette, FastAPI) on one per session and event loop. The first
in line refreshes; the others reuse its outcome (tokens for a while, a failure briefly) instead of each spending the
refresh token. A sign-out leaves a mark under the same key, so a refresh still under way when the user signs out
drops its tokens instead of recreating the session. Across processes, store-backed sessions use
:mod:`._stored_refresh` on top of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
import time
from collections.abc import AsyncIterator, Callable, Hashable, Iterable, Iterator
from typing import Any, TypeAlias

from ..claims import Claims
from ..errors import CognitoGuardError, SignInError
from ._flow import TokenSet

__all__ = ["RefreshSharing", "Refreshed"]

# A refreshed token set is reused by requests that still carry the old cookie for this long, so a burst of requests
# after expiry costs one refresh, not one each (Cognito rate-limits the token endpoint).
_REFRESH_REUSE_SECONDS = 30.0
# A failed refresh (Cognito down, token revoked) answers the requests queued behind it too, instead of each retrying.
_FAILURE_REUSE_SECONDS = 5.0
# A signed-out session is remembered for longer than any refresh can take (the client's timeout is at most 300 s): a
# refresh still under way when the user signs out must not hand out its tokens, nor may the reuse window above.
_SIGNED_OUT_SECONDS = 600.0

Refreshed: TypeAlias = "tuple[TokenSet, Claims | None]"


class _SignedOut:
    """The marker a sign-out leaves where a refresh's outcome is kept."""


_SIGNED_OUT = _SignedOut()
_Outcome: TypeAlias = "Refreshed | CognitoGuardError | _SignedOut"


def _outcome(outcome: _Outcome) -> Refreshed:
    if isinstance(outcome, _SignedOut):
        raise SignInError("this session was signed out")
    if isinstance(outcome, CognitoGuardError):
        raise outcome
    return outcome


class RefreshSharing:
    """One process's refresh locks, recent refresh outcomes and sign-out marks, keyed by :meth:`key_of`."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._guard = threading.Lock()
        self._thread_locks: dict[Hashable, list[Any]] = {}
        self._task_locks: dict[Hashable, list[Any]] = {}
        self._outcomes: dict[str, tuple[float, _Outcome]] = {}

    @staticmethod
    def key_of(refresh_token: str) -> str:
        """The key of a session's refresh (a digest: the refresh token itself is never kept here)."""
        return hashlib.sha256(refresh_token.encode()).hexdigest()

    # -- one at a time per key ----------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def thread_lock(self, key: Hashable) -> Iterator[None]:
        """Hold the thread lock of ``key`` (threads of one process queue on it)."""
        entry = self._enter(self._thread_locks, key, threading.Lock)
        try:
            with entry[0]:
                yield
        finally:
            self._leave(self._thread_locks, key, entry)

    @contextlib.asynccontextmanager
    async def task_lock(self, key: Hashable) -> AsyncIterator[None]:
        """Hold the lock of ``key`` for tasks of the running event loop (an asyncio lock belongs to one loop)."""
        loop_key = (id(asyncio.get_running_loop()), key)
        entry = self._enter(self._task_locks, loop_key, asyncio.Lock)
        try:
            async with entry[0]:
                yield
        finally:
            self._leave(self._task_locks, loop_key, entry)

    def _enter(self, table: dict[Hashable, list[Any]], key: Hashable, new_lock: Callable[[], Any]) -> list[Any]:
        """The lock ``[lock, users]`` for ``key``, counted as used until :meth:`_leave`."""
        with self._guard:
            entry = table.get(key)
            if entry is None:
                entry = table[key] = [new_lock(), 0]
            entry[1] += 1
            return entry

    def _leave(self, table: dict[Hashable, list[Any]], key: Hashable, entry: list[Any]) -> None:
        # Dropped only when nobody holds or waits for it: a newcomer must find the same lock as the waiters.
        with self._guard:
            entry[1] -= 1
            if entry[1] == 0 and table.get(key) is entry:
                del table[key]

    # -- outcomes and sign-outs ---------------------------------------------------------------------------------------
    def recall(self, key: str) -> Refreshed | None:
        """The outcome of a refresh of this session that just happened: its tokens, or its error raised again."""
        with self._guard:
            found = self._outcomes.get(key)
        if found is None or found[0] <= self._clock():
            return None
        return _outcome(found[1])

    def remember(self, key: str, outcome: Refreshed | CognitoGuardError) -> Refreshed:
        """Keep a refresh's outcome for the requests queued behind it (failures briefly); return it or raise it.

        If the session was signed out while the refresh was under way, the sign-out stands: the tokens are dropped."""
        now = self._clock()
        failed = isinstance(outcome, CognitoGuardError)
        # Flask threads refreshing different sessions get here at once: the shared dict is changed under a lock.
        with self._guard:
            self._prune(now)
            found = self._outcomes.get(key)
            if found is not None and found[1] is _SIGNED_OUT:
                return _outcome(_SIGNED_OUT)
            self._outcomes[key] = (now + (_FAILURE_REUSE_SECONDS if failed else _REFRESH_REUSE_SECONDS), outcome)
        return _outcome(outcome)

    def mark_signed_out(self, keys: Iterable[str]) -> None:
        """Sign-outs of these sessions: a refresh of theirs under way or just done hands out no tokens."""
        now = self._clock()
        with self._guard:
            self._prune(now)
            for key in keys:
                self._outcomes[key] = (now + _SIGNED_OUT_SECONDS, _SIGNED_OUT)

    def was_signed_out(self, key: str) -> bool:
        with self._guard:
            found = self._outcomes.get(key)
        return found is not None and found[1] is _SIGNED_OUT and found[0] > self._clock()

    def _prune(self, now: float) -> None:
        """Drop the outcomes and sign-out marks that have run out (call under ``_guard``)."""
        for stale in [name for name, entry in self._outcomes.items() if entry[0] <= now]:
            del self._outcomes[stale]
