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
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Literal, NamedTuple
from urllib.parse import urlsplit

import httpx

from ._keys import check_key_url
from .claims import Claims
from .errors import (
    AuthorizationError,
    CognitoGuardError,
    ConfigurationError,
    OnlineCheckUnavailableError,
    TokenRevokedError,
)
from .revocation import RevocationList

__all__ = ["CognitoOnlineCheck", "TokenNotCheckableError"]

logger = logging.getLogger("cognito_guard.online")

OPENID = "openid"
ADMIN_SCOPE = "aws.cognito.signin.user.admin"
Policy = Literal["allow", "deny"]

_GET_USER_TARGET = "AWSCognitoIdentityProviderService.GetUser"
_AMZ_JSON = "application/x-amz-json-1.1"
_REGION = r"[a-z]{2,4}(?:-[a-z]+)+-\d+"
_POOL_ID = re.compile(rf"({_REGION})_[0-9A-Za-z]+")
_COGNITO_ISSUER = re.compile(rf"https://(?:issuer-)?cognito-idp\.({_REGION})\.(amazonaws\.com(?:\.cn)?)/[^/]+")
_DOMAIN_PREFIX = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_INVALID_TOKEN = re.compile(r'\berror\s*=\s*"?invalid_token\b')
_ERROR_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9.]{0,63}")
_REFUSED = "Cognito no longer accepts this token (revoked, signed out or expired)"
# A refusal this close to exp may be Cognito's clock saying "expired": then only this token is refused, the sign-in
# family (whose refreshed tokens live on) does not go on the revocation list.
_EXPIRY_MARGIN = 60.0
_BACKOFF, _MAX_BACKOFF = 1.0, 30.0
_WARNING_INTERVAL = 60.0


class TokenNotCheckableError(AuthorizationError):
    """The token cannot be checked online (an ID token, a client-credentials token, or an access token without a
    scope Cognito answers for) and the online check is set to ``uncheckable="deny"`` (answer 403)."""

    code = "token_not_checkable"


class _Answer(NamedTuple):
    """What Cognito said: live (True), not live (False), or nothing usable (None, and why)."""

    live: bool | None
    reason: str = ""
    revoked: bool = False  # not live because revoked, not merely expired: the sign-in goes on the revocation list


class _Endpoint(NamedTuple):
    url: str
    userinfo: bool  # True: GET /oauth2/userInfo; False: the GetUser API


class _Flight:
    """One request in flight for a token, shared by every thread asking about it meanwhile."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.done = threading.Event()
        self.answer: _Answer | None = None


class _Unheard(Exception):
    """Why an exchange gave no usable answer (too large, too slow); its message is safe to log."""


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


def _hosted_ui_base_url(domain: object, user_pool_id: str | None, what: str = "domain") -> str:
    """``https://host[:port]`` of a hosted-UI domain given as a host, an https URL without path, an http URL to
    loopback (the stand-in) or a bare prefix (its region from ``user_pool_id``). Raises :class:`ConfigurationError`."""
    if not isinstance(domain, str) or not domain.strip():
        raise ConfigurationError(f"{what} must be a non-empty string such as 'auth.example.com'")
    value = domain.strip().rstrip("/")
    if _DOMAIN_PREFIX.fullmatch(value) and value != "localhost":
        match = _POOL_ID.fullmatch(user_pool_id or "")
        if match is None:
            raise ConfigurationError(
                f"{what} is a domain prefix: a user_pool_id such as 'us-east-1_Abc123XYZ' is "
                "needed for its region (or give the full domain)"
            )
        return f"https://{value}.auth.{match.group(1)}.amazoncognito.com"
    url = value if "://" in value else f"https://{value}"
    check_key_url(url, what)
    parts = urlsplit(url)
    if parts.path or parts.query or parts.fragment or "@" in parts.netloc or "?" in url or "#" in url:
        raise ConfigurationError(f"{what} must be a host or a URL without path, query or user: {domain!r}")
    return f"{parts.scheme}://{parts.netloc}"


def _endpoint_url(url: object, what: str) -> str:
    if not isinstance(url, str):
        raise ConfigurationError(f"{what} must be a URL such as 'https://cognito-idp.us-east-1.amazonaws.com'")
    check_key_url(url, what)
    parts = urlsplit(url)
    if parts.query or parts.fragment or "@" in parts.netloc or "?" in url or "#" in url:
        raise ConfigurationError(f"{what} must be a URL without query, fragment or user: {url!r}")
    return url.rstrip("/") + "/"


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


def _read_userinfo(status: int, challenge: str, body: bytes, claims: Claims, fresh: bool) -> _Answer:
    if status == 200:
        document = _json_object(body)
        if document is None or document.get("sub") != claims.sub:
            return _Answer(None, "userInfo answered 200 without the token's user")
        return _Answer(True)
    if status == 401 and _INVALID_TOKEN.search(challenge):
        return _Answer(False, revoked=fresh)
    return _Answer(None, f"userInfo answered HTTP {status}")


def _read_get_user(status: int, body: bytes, claims: Claims, fresh: bool) -> _Answer:
    document = _json_object(body)
    if status == 200:
        attributes = document.get("UserAttributes") if document is not None else None
        subs = [item.get("Value") for item in attributes or () if isinstance(item, dict) and item.get("Name") == "sub"]
        if not isinstance(attributes, list) or subs != [claims.sub]:
            return _Answer(None, "GetUser answered 200 without the token's user")
        return _Answer(True)
    error = document.get("__type") if document is not None and status == 400 else None
    if not isinstance(error, str):
        return _Answer(None, f"GetUser answered HTTP {status}")
    error = error.rpartition("#")[2]  # some endpoints answer "com.amazonaws...#NotAuthorizedException"
    if error in ("NotAuthorizedException", "UserNotFoundException"):
        message = document.get("message") if document is not None else None
        revoked = fresh and isinstance(message, str) and "revoked" in message.lower()
        return _Answer(False, revoked=revoked)
    shown = error if _ERROR_TYPE.fullmatch(error) else "an unreadable error"
    return _Answer(None, f"GetUser answered {shown}")  # TooManyRequests, InternalError, a WAF's Forbidden...


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
        base = None if domain is None else _hosted_ui_base_url(domain, user_pool_id)
        self._userinfo = None if base is None else _Endpoint(f"{base}/oauth2/userInfo", True)
        self._endpoint_url = None if endpoint_url is None else _endpoint_url(endpoint_url, "endpoint_url")
        self._ttl = _seconds(ttl, "ttl", low=0, high=86400)
        self._timeout = _seconds(timeout, "timeout", low=0, high=60, low_included=False)
        for name, value, low in (("max_entries", max_entries, 1), ("max_bytes", max_bytes, 1024)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigurationError(f"{name} must be a whole number of at least {low}")
        if revocations is not None and not isinstance(revocations, RevocationList):
            raise ConfigurationError("revocations must be a RevocationList")
        if http_client is not None and not isinstance(http_client, httpx.Client):
            raise ConfigurationError("http_client must be an httpx.Client")
        if async_http_client is not None and not isinstance(async_http_client, httpx.AsyncClient):
            raise ConfigurationError("async_http_client must be an httpx.AsyncClient")
        if not callable(clock):
            raise ConfigurationError("clock must be a function returning Unix seconds")
        self._on_unavailable = _policy(on_unavailable, "on_unavailable")
        self._uncheckable = _policy(uncheckable, "uncheckable")
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._revocations = revocations
        self._clock = clock
        self._lock = threading.Lock()
        self._answers: dict[Hashable, tuple[float, bool]] = {}  # key -> (valid until, live); read without the lock
        self._flights: dict[Hashable, _Flight] = {}
        self._tasks: dict[tuple[asyncio.AbstractEventLoop, Hashable], asyncio.Task[_Answer]] = {}
        self._get_user: dict[str, _Endpoint | None] = {}  # issuer -> GetUser endpoint
        self._health: dict[str, tuple[int, float]] = {}  # url -> (failures in a row, no request before)
        self._warnings = _RateLimitedWarnings(clock)
        self._http_client = http_client
        self._owns_http_client = http_client is None
        self._async_http_client = async_http_client
        # An httpx.AsyncClient belongs to the event loop that first used it: keep one of our own per loop.
        self._own_async_clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}

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
            _hosted_ui_base_url(settings["domain"], pool_id, names["domain"])
        if "endpoint_url" in settings:
            _endpoint_url(settings["endpoint_url"], names["endpoint_url"])
        if "on_unavailable" in settings:
            settings["on_unavailable"] = _policy(settings["on_unavailable"].lower(), names["on_unavailable"])
        return cls(**{**settings, **options})

    # -- the check -----------------------------------------------------------------------------------------------------
    def check_sync(self, token: str, claims: Claims) -> None:
        """Return if Cognito says ``token`` (verified, with these ``claims``) is live; blocks for at most ``timeout``.

        Raises :class:`TokenRevokedError` (401), :class:`OnlineCheckUnavailableError` (503, with ``"deny"``) or
        :class:`TokenNotCheckableError` (403, with ``uncheckable="deny"``)."""
        endpoint = self._endpoint(claims)
        if isinstance(endpoint, str):
            self._not_checkable(endpoint)
            return
        key = _cache_key(token, claims)
        live = self._cached(key)
        if live is None:
            live = self._settle(self._ask_sync(key, endpoint, token, claims), endpoint)
        if not live:
            raise TokenRevokedError(_REFUSED)

    async def check(self, token: str, claims: Claims) -> None:
        """:meth:`check_sync` without blocking the event loop; concurrent tasks asking about one token share one
        request, which a cancelled caller does not cancel."""
        endpoint = self._endpoint(claims)
        if isinstance(endpoint, str):
            self._not_checkable(endpoint)
            return
        key = _cache_key(token, claims)
        live = self._cached(key)
        if live is None:
            live = self._settle(await self._ask(key, endpoint, token, claims), endpoint)
        if not live:
            raise TokenRevokedError(_REFUSED)

    def _endpoint(self, claims: Claims) -> _Endpoint | str:
        """Where to ask about this token, or why it cannot be asked about."""
        if claims.get("token_use") != "access":
            return "ID tokens cannot be checked online"
        scopes = claims.scopes
        if OPENID in scopes and self._userinfo is not None:
            return self._userinfo
        if ADMIN_SCOPE in scopes:
            issuer = claims.issuer
            if issuer in self._get_user:
                endpoint = self._get_user[issuer]
            else:
                endpoint = self._get_user_endpoint(issuer)
                if len(self._get_user) < 64:  # one entry per pool: a handful
                    self._get_user[issuer] = endpoint
            if endpoint is not None:
                return endpoint
        if OPENID in scopes or ADMIN_SCOPE in scopes:
            # A token Cognito could answer for, but we were not told where: a gap in the settings, not in the token.
            self._warnings.warn(
                "endpoint",
                "online check: no endpoint for tokens of %s with scope %s (set domain= for openid, endpoint_url= for "
                "GetUser); such tokens count as uncheckable",
                claims.issuer,
                OPENID if OPENID in scopes else ADMIN_SCOPE,
            )
            return "this token cannot be checked online here"
        if claims.is_machine:
            return "client-credentials tokens cannot be checked online"
        return f"access tokens without the {OPENID} or {ADMIN_SCOPE} scope cannot be checked online"

    def _get_user_endpoint(self, issuer: str) -> _Endpoint | None:
        if self._endpoint_url is not None:
            return _Endpoint(self._endpoint_url, False)
        match = _COGNITO_ISSUER.fullmatch(issuer)
        return None if match is None else _Endpoint(f"https://cognito-idp.{match.group(1)}.{match.group(2)}/", False)

    def _not_checkable(self, why: str) -> None:
        if self._uncheckable == "deny":
            raise TokenNotCheckableError(f"{why}; this API accepts only tokens Cognito can confirm online")

    def _settle(self, answer: _Answer, endpoint: _Endpoint) -> bool:
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

    def _record(self, key: Hashable, endpoint: _Endpoint, claims: Claims, answer: _Answer) -> None:
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

    def _backing_off(self, endpoint: _Endpoint) -> _Answer | None:
        _failures, not_before = self._health.get(endpoint.url, (0, -math.inf))
        if self._clock() < not_before:
            return _Answer(None, "Cognito failed recently; waiting before asking again")
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
    def _ask_sync(self, key: Hashable, endpoint: _Endpoint, token: str, claims: Claims) -> _Answer:
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                cached = self._answers.get(key)  # a flight may have ended between our look and the lock
                if cached is not None and self._clock() < cached[0]:
                    return _Answer(cached[1])
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
        self._land(flight, key, endpoint, claims, _Answer(None, f"no answer within {self._timeout:g} s"))
        return flight.answer  # type: ignore[return-value]

    def _fly(self, flight: _Flight, key: Hashable, endpoint: _Endpoint, token: str, claims: Claims) -> None:
        try:
            answer = self._read(endpoint, claims, *self._exchange_sync(endpoint, token, flight.deadline))
        except Exception as error:  # whatever went wrong, Cognito was not heard: see _failure
            answer = _failure(error)
        self._land(flight, key, endpoint, claims, answer)

    def _land(self, flight: _Flight, key: Hashable, endpoint: _Endpoint, claims: Claims, answer: _Answer) -> None:
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

    def _exchange_sync(self, endpoint: _Endpoint, token: str, deadline: float) -> tuple[int, str, bytes]:
        method, headers, content = _request(endpoint, token)
        body = bytearray()
        request = self._sync_client().stream(
            method, endpoint.url, headers=headers, content=content, follow_redirects=False
        )
        with request as response:
            self._check_length(response)
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > self._max_bytes:
                    raise _Unheard(f"the answer was larger than {self._max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise _Unheard(f"no answer within {self._timeout:g} s")
            return response.status_code, response.headers.get("www-authenticate", ""), bytes(body)

    # -- one request per token: tasks ----------------------------------------------------------------------------------
    async def _ask(self, key: Hashable, endpoint: _Endpoint, token: str, claims: Claims) -> _Answer:
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

    def _forget(self, loop: asyncio.AbstractEventLoop, key: Hashable, task: asyncio.Task[_Answer]) -> None:
        if self._tasks.get((loop, key)) is task:
            del self._tasks[(loop, key)]

    async def _fly_async(self, key: Hashable, endpoint: _Endpoint, token: str, claims: Claims) -> _Answer:
        try:
            answer = self._read(
                endpoint, claims, *await asyncio.wait_for(self._exchange(endpoint, token), self._timeout)
            )
        except asyncio.TimeoutError:
            answer = _Answer(None, f"no answer within {self._timeout:g} s")
        except Exception as error:  # whatever went wrong, Cognito was not heard: see _failure
            answer = _failure(error)
        with self._lock:
            self._record(key, endpoint, claims, answer)
        if answer.revoked:
            await self._arevoke_sign_in(claims)
        return answer

    async def _exchange(self, endpoint: _Endpoint, token: str) -> tuple[int, str, bytes]:
        method, headers, content = _request(endpoint, token)
        body = bytearray()
        request = self._async_client().stream(
            method, endpoint.url, headers=headers, content=content, follow_redirects=False
        )
        async with request as response:
            self._check_length(response)
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self._max_bytes:
                    raise _Unheard(f"the answer was larger than {self._max_bytes} bytes")
            return response.status_code, response.headers.get("www-authenticate", ""), bytes(body)

    # -- HTTP ----------------------------------------------------------------------------------------------------------
    def _read(self, endpoint: _Endpoint, claims: Claims, status: int, challenge: str, body: bytes) -> _Answer:
        exp = claims.get("exp")
        fresh = isinstance(exp, (int, float)) and exp - self._clock() > _EXPIRY_MARGIN
        if endpoint.userinfo:
            return _read_userinfo(status, challenge, body, claims, fresh)
        return _read_get_user(status, body, claims, fresh)

    def _check_length(self, response: httpx.Response) -> None:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise _Unheard(f"the answer was larger than {self._max_bytes} bytes")

    def _sync_client(self) -> httpx.Client:
        with self._lock:
            if self._http_client is None:
                self._http_client = httpx.Client(timeout=self._timeout, follow_redirects=False)
            return self._http_client

    def _async_client(self) -> httpx.AsyncClient:
        if self._async_http_client is not None:
            return self._async_http_client
        loop = asyncio.get_running_loop()
        with self._lock:  # threads with event loops of their own may get here at once
            client = self._own_async_clients.get(loop)
            if client is None:
                # A closed loop's client cannot be closed any more (that needs its loop); let it go.
                for old_loop in [known for known in self._own_async_clients if known.is_closed()]:
                    del self._own_async_clients[old_loop]
                client = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
                self._own_async_clients[loop] = client
            return client

    def close(self) -> None:
        """Close the sync HTTP client made here (not an injected one)."""
        with self._lock:
            client = self._http_client if self._owns_http_client else None
            if client is not None:
                self._http_client = None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the async HTTP client made here for the running event loop, and the sync one."""
        client = self._own_async_clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()
        self.close()


def _cache_key(token: str, claims: Claims) -> Hashable:
    """The token's ``jti`` (with its issuer), else a hash of it: never the token itself, which could reach a log."""
    jti = claims.get("jti")
    if isinstance(jti, str):
        return (claims.issuer, jti)
    return hashlib.sha256(token.encode()).hexdigest()


def _request(endpoint: _Endpoint, token: str) -> tuple[str, dict[str, str], bytes | None]:
    if endpoint.userinfo:
        return "GET", {"Authorization": f"Bearer {token}", "Accept": "application/json"}, None
    headers = {"X-Amz-Target": _GET_USER_TARGET, "Content-Type": _AMZ_JSON}
    return "POST", headers, json.dumps({"AccessToken": token}).encode()


def _failure(error: Exception) -> _Answer:
    """The answer for a failed exchange. Only the error's type is kept: httpx's messages may quote the request, whose
    header or body holds the token."""
    if isinstance(error, _Unheard):
        return _Answer(None, str(error))
    if not isinstance(error, httpx.HTTPError):  # not the network's doing: a bug, or a broken injected client
        logger.error("unexpected %s while asking Cognito about a token", type(error).__name__)
    return _Answer(None, f"Cognito could not be reached ({type(error).__name__})")
