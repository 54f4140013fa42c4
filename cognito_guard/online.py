"""The online check: ask Cognito whether a verified access token is still live.

A revoked or signed-out token still passes every offline check until it expires (up to a day): only Cognito can tell.
:class:`CognitoOnlineCheck`, given to :class:`~cognito_guard.CognitoVerifier` as ``online_check=``, asks it after each
successful verification: ``GET /oauth2/userInfo`` on the hosted-UI domain for access tokens with the ``openid``
scope, else the ``GetUser`` API for those with ``aws.cognito.signin.user.admin``. Answers are cached (live ones for
``ttl`` seconds, refusals until the token expires), one request per token is in flight at a time, and a refusal puts
the token's sign-in on the revocation list so that every verifier consulting it refuses the family without asking.
See ``docs/online-check.md``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Literal

import httpx

from ._domains import hosted_ui_base_url
from ._http import BoundedHTTP
from ._online_http import Answer, Endpoint, Endpoints, OnlineHTTP, check_endpoint_url
from .claims import Claims
from .errors import (
    CognitoGuardError,
    ConfigurationError,
    OnlineCheckUnavailableError,
    TokenNotCheckableError,
    TokenRevokedError,
)
from .revocation import RevocationList

__all__ = ["CognitoOnlineCheck", "TokenNotCheckableError"]

logger = logging.getLogger("cognito_guard.online")

Policy = Literal["allow", "deny"]

_REFUSED = "Cognito no longer accepts this token (revoked, signed out or expired)"
_BACKOFF, _MAX_BACKOFF = 1.0, 30.0
_WARNING_INTERVAL = 60.0


class _Flight:
    """One request in flight for a token, shared by every thread asking about it meanwhile."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.done = threading.Event()
        self.answer: Answer | None = None


def _seconds(value: object, what: str, *, low: float, high: float, low_included: bool = True) -> float:
    number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
    if not (low <= number if low_included else low < number) or not number <= high:  # NaN fails both
        lowest = f"from {low:g}" if low_included else f"above {low:g}"
        raise ConfigurationError(f"{what} must be a number of seconds {lowest} up to {high:g}")
    return number


def _policy(value: object, what: str) -> Policy:
    if value not in ("allow", "deny"):
        raise ConfigurationError(f"{what} must be 'allow' or 'deny', not {value!r}")
    return value


class _RateLimitedWarnings:
    """Logs each kind of warning at most once a minute, counting what it held back."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._next: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warn(self, kind: str, message: str, *args: object) -> None:
        now = self._clock()
        if now < self._next.get(kind, -math.inf):
            self._held[kind] = self._held.get(kind, 0) + 1
            return
        self._next[kind] = now + _WARNING_INTERVAL
        held = self._held.pop(kind, 0)
        logger.warning(message + ("" if not held else f" ({held} more since the last warning)"), *args)


class CognitoOnlineCheck:
    """Asks Cognito whether verified access tokens are still live; give it to ``CognitoVerifier(online_check=...)``.

    ``domain``: the hosted-UI (managed login) domain, as ``COGNITO_DOMAIN`` holds it (a host, an https URL, a bare
    prefix with ``user_pool_id`` for its region, or the stand-in's http://127.0.0.1 URL): tokens with ``openid`` are
    asked at its ``/oauth2/userInfo``. ``endpoint_url``: where to call ``GetUser`` for tokens with
    ``aws.cognito.signin.user.admin`` (default: ``https://cognito-idp.{region}.amazonaws.com/`` of the token's
    issuer; set it for the stand-in or a VPC endpoint). A token neither can answer for is *uncheckable*.

    Options: ``ttl`` seconds a live answer is reused (default 60, 0: ask every time; never past the token's ``exp``;
    refusals are kept until ``exp``); ``max_entries`` answers kept (10 000); ``revocations``: the list a refused
    token's sign-in is put on (give the verifier the same list); ``on_unavailable``: ``"deny"`` (default: 503
    :class:`~cognito_guard.errors.OnlineCheckUnavailableError`) or ``"allow"`` (let the token through, log a
    warning) when Cognito cannot be heard; ``uncheckable``: ``"allow"`` (default) or ``"deny"``
    (:class:`TokenNotCheckableError`, 403); ``timeout`` seconds for a whole exchange (2); ``max_bytes`` answer size cap
    (64 KiB); ``http_client`` / ``async_http_client`` used as given (never closed here); ``clock`` Unix seconds.

    Raises :class:`ConfigurationError` on bad settings.
    """

    def __init__(
        self,
        *,
        domain: str | None = None,
        user_pool_id: str | None = None,
        endpoint_url: str | None = None,
        ttl: float = 60.0,
        max_entries: int = 10_000,
        revocations: RevocationList | None = None,
        on_unavailable: Policy = "deny",
        uncheckable: Policy = "allow",
        timeout: float = 2.0,
        max_bytes: int = 64 * 1024,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._warnings = _RateLimitedWarnings(clock)
        self._endpoints = Endpoints(
            domain=domain, user_pool_id=user_pool_id, endpoint_url=endpoint_url, warn=self._warnings.warn
        )
        self._ttl = _seconds(ttl, "ttl", low=0, high=86400)
        self._timeout = _seconds(timeout, "timeout", low=0, high=60, low_included=False)
        for name, value, low in (("max_entries", max_entries, 1), ("max_bytes", max_bytes, 1024)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigurationError(f"{name} must be a whole number of at least {low}")
        if revocations is not None and not isinstance(revocations, RevocationList):
            raise ConfigurationError("revocations must be a RevocationList")
        if not callable(clock):
            raise ConfigurationError("clock must be a function returning Unix seconds")
        self._on_unavailable = _policy(on_unavailable, "on_unavailable")
        self._uncheckable = _policy(uncheckable, "uncheckable")
        self._max_entries = max_entries
        self._revocations = revocations
        self._clock = clock
        self._lock = threading.Lock()
        self._answers: dict[Hashable, tuple[float, bool]] = {}  # key -> (valid until, live); read without the lock
        self._flights: dict[Hashable, _Flight] = {}
        self._tasks: dict[tuple[asyncio.AbstractEventLoop, Hashable], asyncio.Task[Answer]] = {}
        self._health: dict[str, tuple[int, float]] = {}  # url -> (failures in a row, no request before)
        http = BoundedHTTP(
            http_client=http_client, async_http_client=async_http_client, timeout=self._timeout, max_bytes=max_bytes
        )
        self._http = OnlineHTTP(http, clock)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> CognitoOnlineCheck:
        """A check configured from ``COGNITO_DOMAIN`` (with ``COGNITO_USER_POOL_ID`` for a bare prefix),
        ``AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER`` (the GetUser endpoint, as the AWS SDKs read it) and
        ``COGNITO_ONLINE_CHECK_ON_UNAVAILABLE`` (``allow`` or ``deny``); ``options`` win over the environment.
        Raises :class:`ConfigurationError` naming a bad variable."""
        environ = os.environ if environ is None else environ
        names = {
            "domain": "COGNITO_DOMAIN",
            "user_pool_id": "COGNITO_USER_POOL_ID",
            "endpoint_url": "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER",
            "on_unavailable": "COGNITO_ONLINE_CHECK_ON_UNAVAILABLE",
        }
        settings = {key: (environ.get(name) or "").strip() for key, name in names.items() if key not in options}
        settings = {key: value for key, value in settings.items() if value}
        # Checked here too, so that an error names the variable rather than the keyword.
        if "domain" in settings:
            pool_id = options.get("user_pool_id", settings.get("user_pool_id"))
            hosted_ui_base_url(settings["domain"], pool_id, names["domain"])
        if "endpoint_url" in settings:
            check_endpoint_url(settings["endpoint_url"], names["endpoint_url"])
        if "on_unavailable" in settings:
            settings["on_unavailable"] = _policy(settings["on_unavailable"].lower(), names["on_unavailable"])
        return cls(**{**settings, **options})

    # -- the check -----------------------------------------------------------------------------------------------------
    def check_sync(self, token: str, claims: Claims) -> None:
        """Return if Cognito says ``token`` (verified, with these ``claims``) is live; blocks for at most ``timeout``.

        Raises :class:`TokenRevokedError` (401), :class:`OnlineCheckUnavailableError` (503, with ``"deny"``) or
        :class:`TokenNotCheckableError` (403, with ``uncheckable="deny"``)."""
        question = self._question(token, claims)
        if question is not None and not self._settle(self._ask_sync(*question, token, claims), question[1]):
            raise TokenRevokedError(_REFUSED)

    async def check(self, token: str, claims: Claims) -> None:
        """:meth:`check_sync` without blocking the event loop; concurrent tasks asking about one token share one
        request, which a cancelled caller does not cancel."""
        question = self._question(token, claims)
        if question is not None and not self._settle(await self._ask(*question, token, claims), question[1]):
            raise TokenRevokedError(_REFUSED)

    def _question(self, token: str, claims: Claims) -> tuple[Hashable, Endpoint] | None:
        """The cache key and endpoint to ask Cognito at, or ``None`` when there is nothing to ask (an uncheckable
        token let through, a live answer cached). Raises what :meth:`check_sync` raises without asking."""
        endpoint = self._endpoints.for_token(claims)
        if isinstance(endpoint, str):
            self._not_checkable(endpoint)
            return None
        key = _cache_key(token, claims)
        live = self._cached(key)
        if live is None:
            return key, endpoint
        if not live:
            raise TokenRevokedError(_REFUSED)
        return None

    def _not_checkable(self, why: str) -> None:
        if self._uncheckable == "deny":
            raise TokenNotCheckableError(f"{why}; this API accepts only tokens Cognito can confirm online")

    def _settle(self, answer: Answer, endpoint: Endpoint) -> bool:
        if answer.live is not None:
            return answer.live
        if self._on_unavailable == "allow":
            self._warnings.warn(
                "unavailable", "online check unavailable (%s): letting verified tokens through", answer.reason
            )
            return True
        _failures, not_before = self._health.get(endpoint.url, (0, -math.inf))
        retry_after = max(1.0, not_before - self._clock())
        raise OnlineCheckUnavailableError(
            f"Cognito could not be asked whether the token is still live: {answer.reason}", retry_after=retry_after
        )

    # -- answers -------------------------------------------------------------------------------------------------------
    def _cached(self, key: Hashable) -> bool | None:
        entry = self._answers.get(key)
        if entry is None:
            return None
        if self._clock() < entry[0]:
            return entry[1]
        with self._lock:
            if self._answers.get(key) is entry:
                del self._answers[key]
        return None

    def _record(self, key: Hashable, endpoint: Endpoint, claims: Claims, answer: Answer) -> None:
        """Remember ``answer`` and how the endpoint is doing. Call with the lock held."""
        now = self._clock()
        if answer.live is None:
            failures = self._health.get(endpoint.url, (0, 0.0))[0] + 1
            delay = min(_MAX_BACKOFF, _BACKOFF * 2 ** min(failures - 1, 16))
            self._health[endpoint.url] = (failures, now + delay)
            logger.info("online check at %s failed (%s); next request in %.1f s", endpoint.url, answer.reason, delay)
            return
        self._health.pop(endpoint.url, None)
        exp = claims.get("exp")
        expires = float(exp) if isinstance(exp, (int, float)) else now + self._ttl
        until = min(now + self._ttl, expires) if answer.live else expires
        if until <= now:
            return
        if len(self._answers) >= self._max_entries:
            self._evict(now)
        self._answers[key] = (until, answer.live)
        if not answer.live:
            logger.info("Cognito refused token jti=%s of sub=%s", claims.get("jti"), claims.sub)

    def _evict(self, now: float) -> None:
        """Drop expired answers, and if that is not enough the older half (dicts keep insertion order)."""
        answers = self._answers
        stale = [key for key, (until, _live) in list(answers.items()) if until <= now]
        if len(answers) - len(stale) >= self._max_entries // 2:
            stale = list(answers)[: max(1, len(answers) // 2)]
        for key in stale:
            answers.pop(key, None)

    def _backing_off(self, endpoint: Endpoint) -> Answer | None:
        _failures, not_before = self._health.get(endpoint.url, (0, -math.inf))
        if self._clock() < not_before:
            return Answer(None, "Cognito failed recently; waiting before asking again")
        return None

    def _revoke_sign_in(self, claims: Claims) -> None:
        if self._revocations is not None:
            try:
                self._revocations.revoke_claims(claims)
            except CognitoGuardError as error:  # refused here anyway; the list may hold it locally
                logger.warning("could not put a refused token's sign-in on the revocation list: %s", error.message)

    async def _arevoke_sign_in(self, claims: Claims) -> None:
        if self._revocations is not None:
            try:
                await self._revocations.arevoke_claims(claims)
            except CognitoGuardError as error:
                logger.warning("could not put a refused token's sign-in on the revocation list: %s", error.message)

    # -- one request per token: threads --------------------------------------------------------------------------------
    def _ask_sync(self, key: Hashable, endpoint: Endpoint, token: str, claims: Claims) -> Answer:
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                cached = self._answers.get(key)  # a flight may have ended between our look and the lock
                if cached is not None and self._clock() < cached[0]:
                    return Answer(cached[1])
                waiting = self._backing_off(endpoint)
                if waiting is not None:
                    return waiting
                flight = self._flights[key] = _Flight(time.monotonic() + self._timeout)
        if not leader:
            logger.debug("joining the request in flight about token jti=%s", claims.get("jti"))
        else:
            # httpx bounds each read, not the exchange (a server trickling its headers holds the caller as long as
            # it likes), so the exchange runs in a daemon thread and callers stop waiting at the deadline.
            run = threading.Thread(
                target=self._fly, args=(flight, key, endpoint, token, claims), name="cognito-guard-online", daemon=True
            )
            run.start()
        flight.done.wait(max(0.0, flight.deadline - time.monotonic()))
        self._land(flight, key, endpoint, claims, Answer(None, f"no answer within {self._timeout:g} s"))
        return flight.answer  # type: ignore[return-value]

    def _fly(self, flight: _Flight, key: Hashable, endpoint: Endpoint, token: str, claims: Claims) -> None:
        self._land(flight, key, endpoint, claims, self._http.ask_sync(endpoint, token, claims, flight.deadline))

    def _land(self, flight: _Flight, key: Hashable, endpoint: Endpoint, claims: Claims, answer: Answer) -> None:
        """Settle ``flight`` with ``answer`` unless it is settled already (the first of answer and deadline wins)."""
        with self._lock:
            if flight.answer is not None:
                return
            flight.answer = answer
            if self._flights.get(key) is flight:
                del self._flights[key]
            self._record(key, endpoint, claims, answer)
        if answer.revoked:
            self._revoke_sign_in(claims)  # before waking the waiters: once they return, the family is refused
        flight.done.set()

    # -- one request per token: tasks ----------------------------------------------------------------------------------
    async def _ask(self, key: Hashable, endpoint: Endpoint, token: str, claims: Claims) -> Answer:
        loop = asyncio.get_running_loop()
        task = self._tasks.get((loop, key))
        if task is None:
            waiting = self._backing_off(endpoint)
            if waiting is not None:
                return waiting
            task = loop.create_task(self._fly_async(key, endpoint, token, claims))
            self._tasks[(loop, key)] = task
            task.add_done_callback(lambda done: self._forget(loop, key, done))
        else:
            logger.debug("joining the request in flight about token jti=%s", claims.get("jti"))
        # shield: a cancelled request must not cancel the request that other requests are waiting on
        return await asyncio.shield(task)

    def _forget(self, loop: asyncio.AbstractEventLoop, key: Hashable, task: asyncio.Task[Answer]) -> None:
        if self._tasks.get((loop, key)) is task:
            del self._tasks[(loop, key)]

    async def _fly_async(self, key: Hashable, endpoint: Endpoint, token: str, claims: Claims) -> Answer:
        answer = await self._http.ask(endpoint, token, claims)
        with self._lock:
            self._record(key, endpoint, claims, answer)
        if answer.revoked:
            await self._arevoke_sign_in(claims)
        return answer

    # -- HTTP clients --------------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the sync HTTP client made here (not an injected one)."""
        self._http.close()

    async def aclose(self) -> None:
        """Close the async HTTP client made here for the running event loop, and the sync one."""
        await self._http.aclose()


def _cache_key(token: str, claims: Claims) -> Hashable:
    """The token's ``jti`` (with its issuer), else a hash of it: never the token itself, which could reach a log."""
    jti = claims.get("jti")
    if isinstance(jti, str):
        return (claims.issuer, jti)
    return hashlib.sha256(token.encode()).hexdigest()
