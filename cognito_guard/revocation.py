"""The revocation list: signed-out sign-ins, tokens and users that an offline check alone would still accept.

Cognito's tokens stay valid offline until they expire (up to a day) even after ``RevokeToken``, ``GlobalSignOut`` or
a hosted-UI sign-out. A :class:`RevocationList` given to :class:`~cognito_guard.CognitoVerifier` (``revocations=``)
refuses them with :class:`~cognito_guard.errors.TokenRevokedError` (401). It holds three kinds of record:

- a sign-in family by ``origin_jti`` (what ``RevokeToken`` kills: every ID/access token of one sign-in, refreshes
  included), see :meth:`RevocationList.revoke_family`;
- one token by ``jti``, see :meth:`RevocationList.revoke_token`;
- a user signed out everywhere at time T (``GlobalSignOut`` / ``AdminUserGlobalSignOut``), see
  :meth:`RevocationList.sign_out_user`: every token of that ``sub`` whose sign-in time is at or before T. The sign-in
  time is ``auth_time`` (Cognito keeps it across refreshes, so a token refreshed after T from an older sign-in is
  refused too), or ``iat`` for tokens without it. Times are whole seconds: a new sign-in in the very second of the
  sign-out is refused as well, and the user signs in again.

Each record lives only as long as a token it names can (``max_token_lifetime``, a day by default, plus a margin),
then expires by itself, so the list stays as small as the tokens it may still meet.

Memory (the default) serves one process. With Redis (``redis_url=``, or ``COGNITO_REDIS_URL`` through
:meth:`RevocationList.from_env`) every process keeps an in-memory mirror, so a lookup never waits on the network; a
background thread keeps it current from a Redis stream within milliseconds, and resynchronises in full at start,
after every reconnection and every ``resync_interval``. While Redis is out of reach the mirror keeps enforcing what
it knows (a warning is logged; :meth:`RevocationList.status` shows the staleness); with ``max_staleness`` set, a check
after that many seconds without contact fails closed with :class:`~cognito_guard.errors.RevocationUnavailableError`
(503) instead. Revocations only grow until they expire, so resynchronising merges: if Redis lost data (a restart
without persistence), each process writes back what it still holds.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .errors import (
    CognitoGuardError,
    ConfigurationError,
    RevocationUnavailableError,
    TokenRevokedError,
)

__all__ = ["InvalidRevocationError", "RevocationList", "RevocationStatus"]

logger = logging.getLogger("cognito_guard.revocation")

# Kinds of record, as the first letters of their field in Redis: "f:<origin_jti>", "t:<jti>", "u:<sub>".
FAMILY, TOKEN, USER = "f", "t", "u"
_KINDS = (FAMILY, TOKEN, USER)
_MAX_ID_LENGTH = 1024
# Kept past the last moment a token could still be accepted: clock skew between hosts and verifier leeway.
_MARGIN = 600.0
# Redis stores times to the millisecond: a difference below this is rounding, not a later record.
_PRECISION = 0.001


class InvalidRevocationError(CognitoGuardError, ValueError):
    """A revocation was asked for with an unusable id (empty, not a string, too long, control characters)."""

    code = "invalid_revocation"
    status_code = 400


def check_id(value: object, what: str) -> str:
    """``value`` if it can name a sign-in, token or user; else :class:`InvalidRevocationError`."""
    if not isinstance(value, str):
        raise InvalidRevocationError(f"{what} must be a string, not {type(value).__name__}")
    if not value or len(value) > _MAX_ID_LENGTH or not value.isprintable() or value != value.strip():
        raise InvalidRevocationError(f"{what} must be 1 to {_MAX_ID_LENGTH} printable characters without padding")
    return value


def _seconds(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InvalidRevocationError(f"{what} must be a time in seconds since the epoch")
    return float(value)


@dataclass(frozen=True)
class RevocationStatus:
    """What a revocation list knows and how fresh it is (for health checks and metrics).

    ``backend``: ``"memory"`` or ``"redis"``. ``entries``: records held. ``synced_at``: the last time the mirror heard
    from Redis (Unix seconds; None before the first contact). ``staleness``: seconds since then (0 for memory,
    infinite before the first contact). ``connected``: whether the last contact succeeded. ``rejected``: malformed
    records met in Redis and skipped.
    """

    backend: Literal["memory", "redis"]
    entries: int
    synced_at: float | None
    staleness: float
    connected: bool
    rejected: int


class RevocationList:
    """Revoked sign-ins, tokens and signed-out users, consulted by :class:`~cognito_guard.CognitoVerifier`.

    ``redis_url``: share the list through Redis (``redis://``, ``rediss://``; a cluster is detected); None keeps it in
    this process. ``namespace``: prefix of the Redis keys (default ``cognito_guard``). ``max_token_lifetime``: how long
    a token can live, hence a record (default 86400, Cognito's maximum). ``max_staleness``: seconds without contact
    with Redis after which checks fail closed with 503 (default None: keep enforcing the last known list).
    ``resync_interval``: seconds between full resynchronisations (default 300). ``clock``: Unix seconds (tests).

    With Redis, the first synchronisation runs in the constructor (a few seconds at most when Redis is out of reach;
    the list then starts empty and catches up in the background). Raises :class:`ConfigurationError` on bad settings.
    """

    def __init__(
        self,
        *,
        redis_url: str | None = None,
        namespace: str = "cognito_guard",
        max_token_lifetime: float = 86400.0,
        max_staleness: float | None = None,
        resync_interval: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        for name, value in (("max_token_lifetime", max_token_lifetime), ("resync_interval", resync_interval)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise ConfigurationError(f"{name} must be a positive number of seconds")
        if max_staleness is not None and (
            isinstance(max_staleness, bool) or not isinstance(max_staleness, (int, float)) or not max_staleness > 0
        ):
            raise ConfigurationError("max_staleness must be a positive number of seconds, or None")
        self._clock = clock
        self._lifetime = float(max_token_lifetime) + _MARGIN
        self._max_staleness = None if max_staleness is None else float(max_staleness)
        self._lock = threading.Lock()
        # The mirror. Lookups read these without the lock (single dict operations are atomic); writers hold it.
        self._families: dict[str, float] = {}  # origin_jti -> expires_at
        self._tokens: dict[str, float] = {}  # jti -> expires_at
        self._users: dict[str, float] = {}  # sub -> signed out at
        self._user_expiry: dict[str, float] = {}  # sub -> expires_at
        self._next_prune = clock() + 60.0
        self.rejected = 0
        self._redis: Any = None
        if redis_url is not None:
            from ._revocation_redis import RedisMirror

            self._redis = RedisMirror(self, redis_url, namespace, float(resync_interval), clock)
            self._redis.start()
            _following.add(self)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> RevocationList:
        """A list shared through Redis when ``COGNITO_REDIS_URL`` is set, else one in memory.

        ``COGNITO_REVOCATION_MAX_STALENESS`` (seconds) sets ``max_staleness``; ``options`` win over the environment.
        Raises :class:`ConfigurationError` naming a bad variable."""
        from .config import revocation_settings  # config builds verifiers, which import this module

        url, staleness = revocation_settings(os.environ if environ is None else environ)
        settings: dict[str, Any] = {}
        if url is not None:
            settings["redis_url"] = url
        if staleness is not None:
            settings["max_staleness"] = staleness
        return cls(**{**settings, **options})

    # -- the check (hot path: three dict lookups) --------------------------------------------------------------------
    def check(self, origin_jti: str | None, jti: str | None, sub: str | None, signed_in_at: float) -> None:
        """Raise :class:`TokenRevokedError` if a token with these claims is revoked, or
        :class:`RevocationUnavailableError` if the list is staler than ``max_staleness``.

        ``signed_in_at``: the token's ``auth_time``, else its ``iat``."""
        if origin_jti in self._families or jti in self._tokens:
            raise TokenRevokedError("token has been revoked")
        signed_out_at = self._users.get(sub)  # type: ignore[arg-type]
        if signed_out_at is not None and signed_in_at <= signed_out_at:
            raise TokenRevokedError("token has been revoked: its user signed out after signing in")
        if self._max_staleness is not None and self._redis is not None:
            staleness = self._clock() - self._redis.synced_at
            if staleness > self._max_staleness:
                raise RevocationUnavailableError(
                    "the revocation list has not been synchronised with Redis for too long", retry_after=1.0
                )

    def is_revoked(self, claims: Mapping[str, Any]) -> bool:
        """Whether verified ``claims`` (a :class:`~cognito_guard.Claims` or a dict) name a revoked token.

        Raises :class:`RevocationUnavailableError` when the list is staler than ``max_staleness`` (it cannot say)."""
        signed_in_at = claims.get("auth_time", claims.get("iat", 0))
        try:
            self.check(claims.get("origin_jti"), claims.get("jti"), claims.get("sub"), signed_in_at)
        except TokenRevokedError:
            return True
        return False

    # -- ways in ------------------------------------------------------------------------------------------------------
    def revoke_family(self, origin_jti: str, *, expires_at: float | None = None) -> None:
        """Revoke every token of one sign-in (its ``origin_jti``), as Cognito's ``RevokeToken`` does.

        ``expires_at``: when the last such token expires (default: now plus ``max_token_lifetime``). Raises
        :class:`InvalidRevocationError` for a bad id, :class:`RevocationUnavailableError` if Redis could not store it
        (this process refuses the tokens anyway, and writes the record to Redis once it is back)."""
        self._record(FAMILY, check_id(origin_jti, "origin_jti"), None, expires_at)

    def revoke_token(self, jti: str, *, expires_at: float | None = None) -> None:
        """Revoke one token by its ``jti``. Raises as :meth:`revoke_family`."""
        self._record(TOKEN, check_id(jti, "jti"), None, expires_at)

    def sign_out_user(self, sub: str, *, at: float | None = None) -> None:
        """Revoke every token of user ``sub`` signed in at or before ``at`` (default now), as ``GlobalSignOut`` does.

        Raises as :meth:`revoke_family`."""
        self._record(USER, check_id(sub, "sub"), at, None)

    def revoke_claims(self, claims: Mapping[str, Any]) -> None:
        """Revoke the sign-in family of a verified token (its ``origin_jti``), else the token itself (its ``jti``).

        Raises :class:`InvalidRevocationError` if the claims carry neither (token revocation is off for the app
        client), and as :meth:`revoke_family`."""
        expires_at = claims.get("exp")
        expires_at = expires_at if isinstance(expires_at, (int, float)) and not isinstance(expires_at, bool) else None
        if claims.get("origin_jti") is not None:
            # Later refreshes of the family carry later exp: the family record must outlive them all.
            self.revoke_family(claims["origin_jti"])
        elif claims.get("jti") is not None:
            self.revoke_token(claims["jti"], expires_at=expires_at)
        else:
            raise InvalidRevocationError("the token has neither origin_jti nor jti: it cannot be revoked by id")

    async def arevoke_family(self, origin_jti: str, *, expires_at: float | None = None) -> None:
        """:meth:`revoke_family` without blocking the event loop."""
        await self._off_loop(self.revoke_family, origin_jti, expires_at=expires_at)

    async def arevoke_token(self, jti: str, *, expires_at: float | None = None) -> None:
        """:meth:`revoke_token` without blocking the event loop."""
        await self._off_loop(self.revoke_token, jti, expires_at=expires_at)

    async def asign_out_user(self, sub: str, *, at: float | None = None) -> None:
        """:meth:`sign_out_user` without blocking the event loop."""
        await self._off_loop(self.sign_out_user, sub, at=at)

    async def arevoke_claims(self, claims: Mapping[str, Any]) -> None:
        """:meth:`revoke_claims` without blocking the event loop."""
        await self._off_loop(self.revoke_claims, claims)

    async def _off_loop(self, call: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        if self._redis is None:
            call(*args, **kwargs)  # memory only: nothing to wait for
        else:
            await asyncio.to_thread(call, *args, **kwargs)

    # -- state ---------------------------------------------------------------------------------------------------------
    def status(self) -> RevocationStatus:
        """How many records the list holds and how fresh it is."""
        entries = len(self._families) + len(self._tokens) + len(self._users)
        if self._redis is None:
            return RevocationStatus("memory", entries, None, 0.0, True, self.rejected)
        synced_at = self._redis.synced_at
        never = synced_at == -math.inf
        staleness = math.inf if never else max(0.0, self._clock() - synced_at)
        return RevocationStatus(
            "redis", entries, None if never else synced_at, staleness, self._redis.connected, self.rejected
        )

    def sync_now(self) -> None:
        """Resynchronise the whole mirror from Redis now (no-op in memory). Raises :class:`RevocationUnavailableError`
        if Redis cannot be reached."""
        if self._redis is not None:
            self._redis.resync()

    def close(self) -> None:
        """Stop the background synchronisation and close the Redis connections (the mirror stays readable)."""
        if self._redis is not None:
            _following.discard(self)
            self._redis.close()

    def __enter__(self) -> RevocationList:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the mirror (also fed by the Redis synchronisation) ------------------------------------------------------------
    def _record(self, kind: str, ident: str, at: float | None, expires_at: float | None) -> None:
        now = self._clock()
        at = now if at is None else _seconds(at, "at")
        expires = (at if kind == USER else now) + self._lifetime
        if expires_at is not None:
            expires = _seconds(expires_at, "expires_at") + _MARGIN
        self.apply(kind, ident, at, expires)
        if self._redis is not None:
            self._redis.write([(f"{kind}:{ident}", at, expires)])

    def apply(self, kind: str, ident: str, at: float, expires: float) -> bool:
        """Merge one record into the mirror (the later times win); True if the mirror held later times than these
        (their source is behind this process). Internal: used by the Redis synchronisation."""
        with self._lock:
            if kind == USER:
                held_at, held_expires = self._users.get(ident, -math.inf), self._user_expiry.get(ident, -math.inf)
                self._users[ident] = max(at, held_at)
                self._user_expiry[ident] = max(expires, held_expires)
                ahead = held_at > at + _PRECISION or held_expires > expires + _PRECISION
            else:
                table = self._families if kind == FAMILY else self._tokens
                held_expires = table.get(ident, -math.inf)
                table[ident] = max(expires, held_expires)
                ahead = held_expires > expires + _PRECISION
            now = self._clock()
            if now >= self._next_prune:
                self._prune(now)
        return ahead

    def records(self) -> list[tuple[str, float, float]]:
        """Every record as ``(field, at, expires_at)``. Internal: the Redis synchronisation writes back lost ones."""
        with self._lock:
            records = [(f"{FAMILY}:{ident}", 0.0, expires) for ident, expires in self._families.items()]
            records += [(f"{TOKEN}:{ident}", 0.0, expires) for ident, expires in self._tokens.items()]
            records += [(f"{USER}:{ident}", at, self._user_expiry[ident]) for ident, at in self._users.items()]
        return records

    def prune(self) -> None:
        """Drop expired records now (also done on its own about once a minute while records arrive)."""
        with self._lock:
            self._prune(self._clock())

    def _prune(self, now: float) -> None:
        # New dicts rather than deletions in place: readers keep iterating-free lookups on whichever dict they hold.
        self._families = {ident: expires for ident, expires in self._families.items() if expires > now}
        self._tokens = {ident: expires for ident, expires in self._tokens.items() if expires > now}
        expiry = {ident: expires for ident, expires in self._user_expiry.items() if expires > now}
        self._users = {ident: at for ident, at in self._users.items() if ident in expiry}
        self._user_expiry = expiry
        self._next_prune = now + 60.0


# The lists of this process that follow Redis: open, not yet closed. Weak, so a list nobody holds can go.
_following: weakref.WeakSet[RevocationList] = weakref.WeakSet()


def _restart_after_fork() -> None:
    """Restart the synchronisation threads in a forked child (gunicorn --preload, multiprocessing): threads do not
    survive a fork, and the child must not share the parent's sockets. A closed list stays closed."""
    for revocations in list(_following):
        revocations._lock = threading.Lock()  # the parent's lock may have been held by a thread that is gone
        revocations._redis.after_fork()


# Registered once for every list (Windows has no fork, and no register_at_fork).
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_restart_after_fork)
