"""Machine-to-machine callers: client-credentials access tokens from Cognito, fetched once, shared, renewed early.

:class:`ClientCredentials` is a token source for one app client and scope set. It is an ``httpx.Auth`` (sync and async
clients), gives a ``requests`` auth with :meth:`~ClientCredentials.requests_auth`, and hands out bare tokens with
:meth:`~ClientCredentials.token` / :meth:`~ClientCredentials.atoken` for anything else. Cognito bills every token
request, so a token is reused until about 75% of its lifetime, one request at a time serves every thread and task, a
failure is shared with backoff, and a :class:`TokenCache` in Redis lets a whole fleet live on one token.
"""

from __future__ import annotations

import base64
import math
import os
import time
from collections.abc import AsyncGenerator, Callable, Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from . import _redis
from ._domains import hosted_ui_base_url
from ._keys import check_key_url
from ._token_cache import MemoryTokenCache, RedisTokenCache, TokenCache
from ._token_policy import TokenPolicy, refused_as_invalid_token
from ._token_seal import Vault
from ._token_source import TokenMetrics, TokenSource
from .errors import ConfigurationError

if TYPE_CHECKING:
    from requests.auth import AuthBase  # type: ignore[import-untyped, import-not-found, unused-ignore]

__all__ = [
    "ClientCredentials",
    "MemoryTokenCache",
    "RedisTokenCache",
    "TokenCache",
    "TokenMetrics",
    "refused_as_invalid_token",
]


class ClientCredentials(TokenSource, httpx.Auth):
    """Client-credentials access tokens for one app client and scope set: reused, shared, renewed ahead of expiry.

    Where: ``domain`` (the Cognito domain, e.g. ``myprefix.auth.us-east-1.amazoncognito.com``, ``auth.example.com``, an
    ``https://`` URL, ``http://`` to localhost, or a bare prefix with ``user_pool_id`` for its region) or the full
    ``token_url``, not both. The client authenticates with HTTP Basic, as Cognito expects. ``scopes``: names (or one
    space-separated string) to ask for; None asks for every scope the app client is allowed.

    Policy (seconds unless said otherwise):

    - ``renew_after`` (0.75): fraction of a token's lifetime after which the next one is fetched, as AWS advises.
      Meanwhile the other callers keep the current one, and a renewal that fails leaves it in service.
    - ``expiry_margin`` (60): a token with less than this left is never handed out (it could expire on its way); at
      most half of a (very short) lifetime.
    - ``backoff`` / ``max_backoff`` (1 / 60): after a failed request, no new one before this delay, doubling; until
      then every caller gets the same error at once (a refusal, or ``TokenEndpointUnavailableError`` with
      ``retry_after``).
    - ``invalid_token_cooldown`` (30): when an API refuses a token with ``error="invalid_token"``, a new one is fetched
      and the request sent once more, unless the token is younger than this (an API that refuses everything must not
      turn every call into a billed token request).
    - ``cache``: a :class:`TokenCache` shared with other token sources (:class:`RedisTokenCache` for a fleet); default
      a :class:`MemoryTokenCache` of its own. Entries are sealed with a key derived from the secret.
    - ``lock_ttl`` (``timeout`` + 5): how long the cache's lock holds when its holder dies mid-request; ``lock_wait``
      (``lock_ttl``): how long a caller waits for another process's request before asking Cognito itself.
    - ``timeout`` (10) for the token request; ``http_client`` / ``async_http_client`` to send it with (never closed
      here); ``clock`` returns Unix seconds (tests).

    One request at a time per object, across threads and event loops. Raises :class:`ConfigurationError` naming a bad
    setting. Token errors: ``InvalidClientError``, ``InvalidScopeError``, ``UnauthorizedClientError`` (all
    ``ClientCredentialsError``) and ``TokenEndpointUnavailableError``; no message holds the secret or a token.
    """

    requires_request_body = True  # a request refused for its token is sent again: the flows below read its body

    def __init__(
        self,
        *,
        domain: str | None = None,
        token_url: str | None = None,
        client_id: str,
        client_secret: str,
        scopes: str | Iterable[str] | None = None,
        user_pool_id: str | None = None,
        cache: TokenCache | None = None,
        renew_after: float = 0.75,
        expiry_margin: float = 60.0,
        invalid_token_cooldown: float = 30.0,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        timeout: float = 10.0,
        lock_ttl: float | None = None,
        lock_wait: float | None = None,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        url = _token_url(domain, token_url, user_pool_id)
        client_id = _client_id(client_id, "client_id")
        secret = _client_secret(client_secret, "client_secret")
        self.scopes = _scopes(scopes, "scopes")
        if cache is not None and not isinstance(cache, TokenCache):
            raise ConfigurationError("cache must be a TokenCache (MemoryTokenCache, RedisTokenCache or your own)")
        timeout = _seconds(timeout, "timeout", 0, 300, low_included=False)
        lock_ttl = timeout + 5 if lock_ttl is None else _seconds(lock_ttl, "lock_ttl", 0, 3600, low_included=False)
        backoff = _seconds(backoff, "backoff", 0, 3600)
        if http_client is not None and not isinstance(http_client, httpx.Client):
            raise ConfigurationError("http_client must be an httpx.Client")
        if async_http_client is not None and not isinstance(async_http_client, httpx.AsyncClient):
            raise ConfigurationError("async_http_client must be an httpx.AsyncClient")
        if not callable(clock):
            raise ConfigurationError("clock must be a function returning Unix seconds")
        form = {"grant_type": "client_credentials"}
        if self.scopes is not None:
            form["scope"] = " ".join(self.scopes)
        super().__init__(
            token_url=url,
            client_id=client_id,
            vault=Vault(token_url=url, client_id=client_id, scopes=self.scopes, secret=secret),
            form=form,
            headers={"Accept": "application/json", "Authorization": _basic(client_id, secret)},
            cache=MemoryTokenCache() if cache is None else cache,
            policy=TokenPolicy(
                renew_after=_seconds(renew_after, "renew_after", 0, 1, low_included=False),
                expiry_margin=_seconds(expiry_margin, "expiry_margin", 0, 86400),
                backoff=backoff,
                max_backoff=max(backoff, _seconds(max_backoff, "max_backoff", 0, 86400)),
            ),
            invalid_token_cooldown=_seconds(invalid_token_cooldown, "invalid_token_cooldown", 0, 86400),
            timeout=timeout,
            lock_ttl=lock_ttl,
            lock_wait=lock_ttl if lock_wait is None else _seconds(lock_wait, "lock_wait", 0, 3600),
            http_client=http_client,
            async_http_client=async_http_client,
            clock=clock,
        )

    def __repr__(self) -> str:
        return f"ClientCredentials(token_url={self.token_url!r}, client_id={self.client_id!r}, scopes={self.scopes!r})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ClientCredentials:
        """Build from ``COGNITO_DOMAIN``, ``COGNITO_CLIENT_ID``, ``COGNITO_CLIENT_SECRET`` and the optional
        ``COGNITO_SCOPES`` (space-separated; unset asks for every scope the client may have), ``COGNITO_USER_POOL_ID``
        (only for the region of a bare domain prefix) and ``COGNITO_REDIS_URL`` (share tokens through Redis: a
        :class:`RedisTokenCache`) in ``environ`` (default ``os.environ``). ``overrides`` are constructor keywords and
        win over the environment. Raises :class:`ConfigurationError` naming the missing or invalid variable.
        """
        env = os.environ if environ is None else environ

        def text(name: str) -> str | None:
            value = env.get(name)
            if value is not None and not isinstance(value, str):
                raise ConfigurationError(f"{name} in the environment must be a string")
            return (value or "").strip() or None

        settings: dict[str, Any] = {}
        if "domain" not in overrides and "token_url" not in overrides:
            domain = text("COGNITO_DOMAIN")
            if domain is None:
                raise ConfigurationError("COGNITO_DOMAIN is not set in the environment")
            pool_id = overrides.get("user_pool_id", text("COGNITO_USER_POOL_ID"))
            hosted_ui_base_url(domain, pool_id, "COGNITO_DOMAIN")  # so that an error names the variable
            settings.update(domain=domain, user_pool_id=pool_id)
        for keyword, name, check in (
            ("client_id", "COGNITO_CLIENT_ID", _client_id),
            ("client_secret", "COGNITO_CLIENT_SECRET", _client_secret),
        ):
            if keyword not in overrides:
                value = text(name)
                if value is None:
                    raise ConfigurationError(f"{name} is not set in the environment")
                settings[keyword] = check(value, name)
        scopes = text("COGNITO_SCOPES")
        if "scopes" not in overrides and scopes is not None:
            settings["scopes"] = _scopes(scopes, "COGNITO_SCOPES")
        redis_url = text("COGNITO_REDIS_URL")
        if "cache" not in overrides and redis_url is not None:
            settings["cache"] = RedisTokenCache(_redis.check_redis_url(redis_url, "COGNITO_REDIS_URL"))
        return cls(**{**settings, **overrides})

    # -- httpx and requests --------------------------------------------------------------------------------------------
    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.read()  # a streamed body, read now, can be sent again
        token = self.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        refused = refused_as_invalid_token(response.status_code, response.headers.get_list("www-authenticate"))
        if refused and self.invalidate(token):
            request.headers["Authorization"] = f"Bearer {self.token()}"
            yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        await request.aread()  # a streamed body, read now, can be sent again
        token = await self.atoken()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        refused = refused_as_invalid_token(response.status_code, response.headers.get_list("www-authenticate"))
        if refused and await self.ainvalidate(token):
            request.headers["Authorization"] = f"Bearer {await self.atoken()}"
            yield request

    def requests_auth(self) -> AuthBase:
        """A ``requests.auth.AuthBase`` drawing on this token source: ``session.auth = credentials.requests_auth()``.

        Adds the bearer token; on a 401 ``invalid_token`` fetches a new one and sends the request once more, as the
        httpx flow does. Raises :class:`ConfigurationError` when requests is not installed (it is not a dependency)."""
        from ._requests_auth import bearer_auth

        auth: AuthBase = bearer_auth(self)
        return auth

    def __enter__(self) -> ClientCredentials:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> ClientCredentials:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


# -- settings ----------------------------------------------------------------------------------------------------------
def _token_url(domain: str | None, token_url: str | None, user_pool_id: str | None) -> str:
    if (domain is None) == (token_url is None):
        raise ConfigurationError("give either domain (the Cognito domain) or token_url, not both")
    if domain is not None:
        return f"{hosted_ui_base_url(domain, user_pool_id)}/oauth2/token"
    if not isinstance(token_url, str):
        raise ConfigurationError("token_url must be a URL such as https://auth.example.com/oauth2/token")
    check_key_url(token_url, "token_url")
    if "#" in token_url or "?" in token_url:
        raise ConfigurationError("token_url must not carry a query or fragment")
    return token_url


def _client_id(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or any(c.isspace() or c == "," for c in value):
        raise ConfigurationError(f"{what} must be one app client id")
    return value


def _client_secret(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{what} must be the app client's secret (client credentials need one)")
    return value


def _scopes(value: object, what: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = [name for name in value.split(" ") if name] if isinstance(value, str) else value
    if not isinstance(names, Iterable):
        raise ConfigurationError(f"{what} must be scope names")
    try:
        scopes = tuple(dict.fromkeys(names))
    except TypeError:  # unhashable items
        raise ConfigurationError(f"{what} must be scope names") from None
    if not scopes or not all(isinstance(s, str) and s and not any(c.isspace() for c in s) for s in scopes):
        raise ConfigurationError(f"{what} must be scope names without whitespace, or None for every allowed scope")
    return scopes


def _seconds(value: object, what: str, low: float, high: float, low_included: bool = True) -> float:
    seconds = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
    if not math.isfinite(seconds) or not (low <= seconds if low_included else low < seconds) or seconds > high:
        lowest = f"{low:g}" if low_included else f"more than {low:g}"
        raise ConfigurationError(f"{what} must be a number from {lowest} to {high:g}")
    return seconds


def _basic(client_id: str, secret: str) -> str:
    # RFC 6749 2.3.1: both parts form-encoded before joining, as the hosted-UI client does.
    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
