"""HostedUIClient: the authorization-code flow with PKCE against Cognito's hosted UI, framework-neutral.

It builds the ``/oauth2/authorize`` redirect (state, nonce, PKCE), checks the callback, redeems the code at
``/oauth2/token``, verifies the ID token (signature and claims through :class:`CognitoVerifier`, then nonce and
``at_hash``), refreshes, revokes and builds the ``/logout`` URL. Every network call exists twice, ``async`` on an
``httpx.AsyncClient`` and ``*_sync`` on an ``httpx.Client``; the two share all building and checking.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import math
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard
from urllib.parse import quote, urlencode, urlsplit

import httpx

from .._keys import check_key_url, is_loopback_url
from ..claims import Claims
from ..errors import (
    ClaimError,
    ClientIdError,
    ConfigurationError,
    HostedUIUnavailableError,
    OAuthError,
    SignInError,
    SignInStateError,
    TokenUseError,
)
from ..verifier import CognitoVerifier, pool_issuers

__all__ = ["AuthorizationRequest", "HostedUIClient", "PendingSignIn", "TokenSet"]

_MAX_BODY = 1024 * 1024  # a token answer is a few KiB; anything near this is not Cognito talking
_REGIONAL_POOL_ID = re.compile(r"([a-z]{2,4}(?:-[a-z]+)+-\d+)_[0-9A-Za-z]+")
_DOMAIN_PREFIX = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_HOST_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
# RFC 6749 appendix A.7: the characters an OAuth error code may use. Anything else is not shown in messages (the
# callback's query is written by whoever sent the browser there, and messages end up in logs).
_ERROR_CODE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]{1,128}")
_ENV_NAMES = {
    "domain": "COGNITO_DOMAIN",
    "user_pool_id": "COGNITO_USER_POOL_ID",
    "client_id": "COGNITO_CLIENT_ID",
    "client_secret": "COGNITO_CLIENT_SECRET",
    "redirect_uri": "COGNITO_REDIRECT_URI",
    "logout_uri": "COGNITO_LOGOUT_URI",
    "issuer": "COGNITO_ISSUER",
    "scopes": "COGNITO_SCOPES",
}


# -- what the flow carries between requests ------------------------------------------------------------------------


def _is_time(value: object) -> TypeGuard[float]:
    return (type(value) is int or type(value) is float) and math.isfinite(value)


@dataclass(frozen=True)
class PendingSignIn:
    """One browser's sign-in in progress: what the callback needs to finish it.

    Store it server-side or in a signed, encrypted session (``to_dict``/``from_dict``) keyed by ``state``; the
    secrets are left out of ``repr``.
    """

    state: str = field(repr=False)
    code_verifier: str = field(repr=False)
    nonce: str = field(repr=False)
    next_path: str
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {
            "state": self.state,
            "code_verifier": self.code_verifier,
            "nonce": self.nonce,
            "next_path": self.next_path,
            "created_at": self.created_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PendingSignIn:
        """Rebuild from :meth:`to_dict`'s output; other keys are ignored. Raises :class:`SignInStateError` when a
        field is missing or of the wrong type (a damaged or forged session: the user has to start again)."""
        if not isinstance(data, Mapping):
            raise SignInStateError("the stored sign-in is not an object; start the sign-in again")
        for name in ("state", "code_verifier", "nonce"):
            if not isinstance(data.get(name), str) or not data[name]:
                raise SignInStateError(f"the stored sign-in lacks '{name}'; start the sign-in again")
        if not isinstance(data.get("next_path"), str) or not _is_time(data.get("created_at")):
            raise SignInStateError("the stored sign-in has a bad 'next_path' or 'created_at'; start the sign-in again")
        return cls(data["state"], data["code_verifier"], data["nonce"], data["next_path"], float(data["created_at"]))


@dataclass(frozen=True)
class AuthorizationRequest:
    """Where to send the browser (``url``) and what to keep until the callback (``pending``, keyed by its state)."""

    url: str
    pending: PendingSignIn


@dataclass(frozen=True)
class TokenSet:
    """The tokens of a signed-in user (left out of ``repr``); ``expires_at`` is Unix seconds."""

    access_token: str = field(repr=False)
    id_token: str | None = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: float
    token_type: str = "Bearer"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {
            "access_token": self.access_token,
            "id_token": self.id_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at,
            "token_type": self.token_type,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TokenSet:
        """Rebuild from :meth:`to_dict`'s output; raises :class:`SignInError` when the shape or a type is wrong."""
        if not isinstance(data, Mapping):
            raise SignInError("the stored tokens are not an object; sign in again")
        access = data.get("access_token")
        if not isinstance(access, str) or not access:
            raise SignInError("the stored tokens lack 'access_token'; sign in again")
        for name in ("id_token", "refresh_token"):
            if data.get(name) is not None and not (isinstance(data[name], str) and data[name]):
                raise SignInError(f"the stored '{name}' is not a string; sign in again")
        token_type = data.get("token_type", "Bearer")
        if not _is_time(data.get("expires_at")) or not isinstance(token_type, str):
            raise SignInError("the stored tokens have a bad 'expires_at' or 'token_type'; sign in again")
        return cls(access, data.get("id_token"), data.get("refresh_token"), float(data["expires_at"]), token_type)

    def expired(self, now: float, *, margin: float = 60.0) -> bool:
        """True when ``now`` is within ``margin`` seconds of ``expires_at`` or past it (time to refresh)."""
        return now >= self.expires_at - margin


# -- settings --------------------------------------------------------------------------------------------------------


def _region(user_pool_id: str | None, what: str) -> str:
    match = _REGIONAL_POOL_ID.fullmatch(user_pool_id) if isinstance(user_pool_id, str) else None
    if match is None:
        raise ConfigurationError(
            f"{what} is a domain prefix: a Cognito user_pool_id such as 'us-east-1_Abc123XYZ' is needed for its region"
        )
    return match.group(1)


def _base_url(domain: object, user_pool_id: str | None, what: str = "domain") -> str:
    """``https://host[:port]`` for a host, an https URL, an http URL to loopback, or a bare prefix (region taken
    from the pool id). The rules of ``cognito_guard.fastapi``'s ``HostedUI``, plus prefixes and no paths."""
    if not isinstance(domain, str) or not domain.strip():
        raise ConfigurationError(f"{what} must be a non-empty string such as 'auth.example.com'")
    value = domain.strip()
    if _DOMAIN_PREFIX.fullmatch(value) and value != "localhost":
        return f"https://{value}.auth.{_region(user_pool_id, what)}.amazoncognito.com"
    url = value if "://" in value else f"https://{value}"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number in range)
    except ValueError:
        raise ConfigurationError(f"{what} is not a valid host or URL: {domain!r}") from None
    secure = parts.scheme == "https" or (parts.scheme == "http" and is_loopback_url(url))
    if (
        not secure
        or not (_HOST_NAME.fullmatch(host) or _is_ip(host))
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
        or "?" in url
        or "#" in url
    ):
        raise ConfigurationError(
            f"{what} must be a host, an https:// URL without path, or http:// to localhost: {domain!r}"
        )
    return f"{parts.scheme}://{parts.netloc}"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _redirect_url(url: object, what: str) -> str:
    # Cognito's rule for callback and sign-out URLs: absolute, no fragment, https except http to localhost.
    if not isinstance(url, str):
        raise ConfigurationError(f"{what} must be a string")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise ConfigurationError(f"{what} is not a valid URL: {url!r}") from None
    secure = parts.scheme == "https" or (parts.scheme == "http" and is_loopback_url(url))
    if not secure or not host or "#" in url or any(char.isspace() for char in url):
        raise ConfigurationError(
            f"{what} must be an absolute https:// URL without fragment (http:// only for localhost)"
        )
    return url


def _scopes(scopes: object, what: str) -> tuple[str, ...]:
    names = scopes.split() if isinstance(scopes, str) else scopes
    if not isinstance(names, Iterable):
        raise ConfigurationError(f"{what} must be scope names")
    try:
        result = tuple(dict.fromkeys(names))
    except TypeError:
        raise ConfigurationError(f"{what} must be scope names") from None
    if not all(isinstance(name, str) and name and not any(c.isspace() for c in name) for name in result):
        raise ConfigurationError(f"{what} must be non-empty scope names without whitespace")
    if "openid" not in result:
        raise ConfigurationError(f"{what} must include 'openid' (without it Cognito returns no ID token)")
    return result


def _option(value: object, what: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigurationError(f"{what} must be a string")
    return value


def _env_text(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} in the environment must be a string")
    return value.strip() or None


# -- HTTP ------------------------------------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _new_code_verifier() -> str:
    """A PKCE code verifier: 48 random bytes as 64 url-safe characters (RFC 7636 allows 43 to 128)."""
    return secrets.token_urlsafe(48)


def _code_challenge(code_verifier: str) -> str:
    """The S256 PKCE challenge: base64url(sha256(verifier)) without padding (RFC 7636 4.2)."""
    return _b64url(hashlib.sha256(code_verifier.encode("ascii")).digest())


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def _checked_chunks(chunks: Iterable[bytes], deadline: float, what: str) -> Iterator[bytes]:
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > _MAX_BODY:
            raise HostedUIUnavailableError(f"{what} answered with more than {_MAX_BODY} bytes")
        if time.monotonic() > deadline:
            raise HostedUIUnavailableError(f"{what} did not answer completely in time")
        yield chunk


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


def _raise_for_answer(status: int, body: bytes, what: str) -> dict[str, Any] | None:
    """The JSON object of a 200 answer (``None`` if it is not one); raise for anything else."""
    if status == 200:
        return _json_object(body)
    if status in (400, 401):
        document = _json_object(body)
        error = document.get("error") if document is not None else None
        if isinstance(error, str) and error:
            description = document.get("error_description") if document is not None else None
            shown = error if _ERROR_CODE.fullmatch(error) else "an unreadable error code"
            raise OAuthError(
                f"{what} refused the request: {shown}",
                error=error,
                description=description if isinstance(description, str) else None,
            )
    raise HostedUIUnavailableError(f"{what} answered HTTP {status}")


class HostedUIClient:
    """Signs users in through Cognito's hosted UI with the authorization-code flow, PKCE and a nonce.

    ``domain`` is the hosted UI's host (``myprefix.auth.us-east-1.amazoncognito.com``, ``auth.example.com``), an
    ``https://`` URL, ``http://`` to localhost (local stand-ins), or the bare prefix ``myprefix`` (region from
    ``user_pool_id``). ``redirect_uri``/``logout_uri`` must be registered with the app client. ``client_secret``
    makes it a confidential client (HTTP Basic authentication). ``scopes`` must include ``openid``.
    ``identity_provider``/``lang``/``prompt`` are defaults for :meth:`authorization_request`.

    ID tokens are verified by ``verifier`` if given, else by a :class:`CognitoVerifier` for ``user_pool_id``
    (required then), ``client_id`` and ``issuer`` (stand-ins) built here, which shares the given HTTP clients.
    ``http_client``/``async_http_client`` are used as given (their own timeouts apply); clients made here use
    ``timeout`` seconds. ``clock`` returns Unix seconds (tests).

    Raises :class:`ConfigurationError` naming the bad setting.
    """

    def __init__(
        self,
        *,
        domain: str,
        client_id: str,
        redirect_uri: str,
        client_secret: str | None = None,
        scopes: Iterable[str] = ("openid", "email", "profile"),
        logout_uri: str | None = None,
        user_pool_id: str | None = None,
        issuer: str | None = None,
        verifier: CognitoVerifier | None = None,
        identity_provider: str | None = None,
        lang: str | None = None,
        prompt: str | None = None,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = _base_url(domain, user_pool_id)
        if not isinstance(client_id, str) or not client_id or any(c.isspace() or c == "," for c in client_id):
            raise ConfigurationError("client_id must be one app client id")
        if client_secret is not None and (not isinstance(client_secret, str) or not client_secret):
            raise ConfigurationError("client_secret must be a non-empty string, or None for a public client")
        if not (type(timeout) is int or type(timeout) is float) or not 0 < timeout <= 300:
            raise ConfigurationError("timeout must be a number of seconds between 0 and 300")
        if http_client is not None and not isinstance(http_client, httpx.Client):
            raise ConfigurationError("http_client must be an httpx.Client")
        if async_http_client is not None and not isinstance(async_http_client, httpx.AsyncClient):
            raise ConfigurationError("async_http_client must be an httpx.AsyncClient")
        self.client_id = client_id
        self.redirect_uri = _redirect_url(redirect_uri, "redirect_uri")
        self.logout_uri = None if logout_uri is None else _redirect_url(logout_uri, "logout_uri")
        self.scopes = _scopes(scopes, "scopes")
        self._identity_provider = _option(identity_provider, "identity_provider")
        self._lang = _option(lang, "lang")
        self._prompt = _option(prompt, "prompt")
        self._client_secret = client_secret
        self._timeout = float(timeout)
        self._clock = clock
        if verifier is not None:
            if not isinstance(verifier, CognitoVerifier):
                raise ConfigurationError("verifier must be a CognitoVerifier")
            self.verifier = verifier
        elif user_pool_id is None:
            raise ConfigurationError("user_pool_id is required (to verify ID tokens) unless a verifier is given")
        else:
            self.verifier = CognitoVerifier(
                user_pool_id=user_pool_id,
                client_id=client_id,
                token_use="id",
                issuer=issuer,
                clock=clock,
                http_client=http_client,
                async_http_client=async_http_client,
            )
        self._owns_verifier = verifier is None
        self._http_client = http_client
        self._owns_http_client = http_client is None
        self._async_http_client = async_http_client
        # An httpx.AsyncClient belongs to the event loop that first used it: keep one of our own per loop.
        self._own_async_clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> HostedUIClient:
        """Build from ``COGNITO_DOMAIN``, ``COGNITO_USER_POOL_ID``, ``COGNITO_CLIENT_ID``, ``COGNITO_REDIRECT_URI``
        and the optional ``COGNITO_CLIENT_SECRET``, ``COGNITO_LOGOUT_URI``, ``COGNITO_ISSUER``, ``COGNITO_SCOPES``
        (space-separated) in ``environ`` (default ``os.environ``). ``overrides`` are keyword arguments of the
        constructor and win over the environment.

        Raises :class:`ConfigurationError` naming the variable that is missing or invalid.
        """
        env = os.environ if environ is None else environ
        settings: dict[str, Any] = {}
        for keyword, name in _ENV_NAMES.items():
            if keyword not in overrides:
                value = _env_text(env, name)
                if value is not None:
                    settings[keyword] = value
        required = ["domain", "client_id", "redirect_uri"]
        if "verifier" not in overrides:
            required.append("user_pool_id")
        for keyword in required:
            if keyword not in settings and keyword not in overrides:
                raise ConfigurationError(f"{_ENV_NAMES[keyword]} is not set in the environment")
        # Check what came from the environment here, so that the error names the variable, not the keyword.
        if "issuer" in settings:
            check_key_url(settings["issuer"], "COGNITO_ISSUER")
        pool_id = overrides.get("user_pool_id", settings.get("user_pool_id"))
        if "user_pool_id" in settings:
            try:
                pool_issuers(settings["user_pool_id"], overrides.get("issuer", settings.get("issuer")))
            except ConfigurationError as error:
                raise ConfigurationError(f"COGNITO_USER_POOL_ID: {error.message}") from None
        if "domain" in settings:
            _base_url(settings["domain"], pool_id, "COGNITO_DOMAIN")
        if "client_id" in settings and any(c.isspace() or c == "," for c in settings["client_id"]):
            raise ConfigurationError("COGNITO_CLIENT_ID must be one app client id for the hosted UI")
        for keyword in ("redirect_uri", "logout_uri"):
            if keyword in settings:
                _redirect_url(settings[keyword], _ENV_NAMES[keyword])
        if "scopes" in settings:
            settings["scopes"] = _scopes(settings["scopes"], "COGNITO_SCOPES")
        return cls(**{**settings, **overrides})

    # -- endpoints ------------------------------------------------------------------------------------------------
    @property
    def authorize_url(self) -> str:
        return f"{self.base_url}/oauth2/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth2/token"

    @property
    def revoke_url(self) -> str:
        return f"{self.base_url}/oauth2/revoke"

    @property
    def logout_endpoint(self) -> str:
        return f"{self.base_url}/logout"

    # -- the browser's side ---------------------------------------------------------------------------------------
    def authorization_request(
        self,
        *,
        next_path: str = "/",
        identity_provider: str | None = None,
        lang: str | None = None,
        prompt: str | None = None,
        login_hint: str | None = None,
    ) -> AuthorizationRequest:
        """A fresh sign-in: the ``/oauth2/authorize`` URL (new state, nonce and PKCE challenge) and the
        :class:`PendingSignIn` to keep until the callback. ``identity_provider``/``lang``/``prompt`` override the
        constructor's defaults (``None`` or ``""`` keeps them); ``next_path`` must already be validated."""
        if not isinstance(next_path, str):
            raise ConfigurationError("next_path must be a string")
        pending = PendingSignIn(
            state=secrets.token_urlsafe(32),
            code_verifier=_new_code_verifier(),
            nonce=secrets.token_urlsafe(32),
            next_path=next_path,
            created_at=self._clock(),
        )
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": " ".join(self.scopes),
            "state": pending.state,
            "code_challenge": _code_challenge(pending.code_verifier),
            "code_challenge_method": "S256",
            "nonce": pending.nonce,
        }
        extras = {
            "identity_provider": _option(identity_provider, "identity_provider") or self._identity_provider,
            "lang": _option(lang, "lang") or self._lang,
            "prompt": _option(prompt, "prompt") or self._prompt,
            "login_hint": _option(login_hint, "login_hint"),
        }
        params.update({name: value for name, value in extras.items() if value is not None})
        return AuthorizationRequest(f"{self.authorize_url}?{urlencode(params, quote_via=quote)}", pending)

    def check_callback(self, params: Mapping[str, str], pending: PendingSignIn) -> str:
        """The authorization code from the callback's query ``params``, once they are known to answer ``pending``.

        Raises :class:`OAuthError` for an ``error=`` redirect, :class:`SignInStateError` when ``state`` is missing or
        not ``pending``'s, :class:`SignInError` when there is no code.
        """
        error = params.get("error")
        if error is not None:
            description = params.get("error_description")
            shown = error if isinstance(error, str) and _ERROR_CODE.fullmatch(error) else "an unreadable error code"
            raise OAuthError(
                f"the hosted UI sent the browser back with {shown}",
                error=str(error),
                description=description if isinstance(description, str) else None,
            )
        state = params.get("state")
        if not isinstance(state, str) or not state:
            raise SignInStateError("the callback carries no state; start the sign-in again")
        if not _same(state, pending.state):
            raise SignInStateError("the callback's state is not this browser's sign-in; start the sign-in again")
        code = params.get("code")
        if not isinstance(code, str) or not code:
            raise SignInError("the callback carries no authorization code; start the sign-in again")
        return code

    def logout_url(self, *, logout_uri: str | None = None) -> str:
        """``{base_url}/logout?client_id=...&logout_uri=...`` with ``logout_uri`` or the configured one (it must be a
        sign-out URL of the app client). Raises :class:`ConfigurationError` when there is neither."""
        uri = self.logout_uri if logout_uri is None else _redirect_url(logout_uri, "logout_uri")
        if uri is None:
            raise ConfigurationError("logout_uri is not configured; pass one")
        query = urlencode({"client_id": self.client_id, "logout_uri": uri}, quote_via=quote)
        return f"{self.logout_endpoint}?{query}"

    # -- token endpoint: async --------------------------------------------------------------------------------------
    async def exchange_code(self, code: str, pending: PendingSignIn) -> tuple[TokenSet, Claims]:
        """Redeem ``code`` for tokens and verify the ID token against ``pending`` (nonce) and the access token.

        Raises :class:`OAuthError` (e.g. ``invalid_grant``: used, expired or foreign code), :class:`SignInError`
        (no ID token), :class:`TokenError` (ID token refused), :class:`HostedUIUnavailableError`.
        """
        answer = await self._post(self.token_url, self._code_form(code, pending), "Cognito's token endpoint")
        tokens = self._token_set(answer, refresh_token=None)
        id_token = self._require_id_token(tokens)
        claims = await self.verify_id_token(id_token, nonce=pending.nonce, access_token=tokens.access_token)
        return tokens, claims

    async def verify_id_token(
        self, id_token: str, *, nonce: str | None = None, access_token: str | None = None
    ) -> Claims:
        """Verify an ID token of this client; with ``nonce`` its ``nonce`` must match, with ``access_token`` its
        ``at_hash`` (when present) must fit. Raises :class:`TokenError` (``ClaimError`` on a mismatch)."""
        claims = await self.verifier.verify(id_token)
        return self._check_id_claims(claims, nonce, access_token)

    async def refresh(self, refresh_token: str) -> tuple[TokenSet, Claims | None]:
        """New tokens for ``refresh_token`` (kept when Cognito returns none, as without rotation), and the new ID
        token's claims (``None`` without one). Raises :class:`OAuthError` (``invalid_grant``: expired or revoked),
        :class:`TokenError`, :class:`HostedUIUnavailableError`."""
        answer = await self._post(self.token_url, self._refresh_form(refresh_token), "Cognito's token endpoint")
        tokens = self._token_set(answer, refresh_token=refresh_token)
        if tokens.id_token is None:
            return tokens, None
        return tokens, await self.verify_id_token(tokens.id_token, access_token=tokens.access_token)

    async def revoke(self, refresh_token: str) -> None:
        """Revoke ``refresh_token`` and the tokens issued with it (sign-out everywhere this sign-in reached).

        Raises :class:`OAuthError` or :class:`HostedUIUnavailableError`."""
        await self._post(self.revoke_url, self._revoke_form(refresh_token), "Cognito's revocation endpoint")

    # -- token endpoint: sync -----------------------------------------------------------------------------------------
    def exchange_code_sync(self, code: str, pending: PendingSignIn) -> tuple[TokenSet, Claims]:
        """Synchronous :meth:`exchange_code` (Flask, workers)."""
        answer = self._post_sync(self.token_url, self._code_form(code, pending), "Cognito's token endpoint")
        tokens = self._token_set(answer, refresh_token=None)
        id_token = self._require_id_token(tokens)
        claims = self.verify_id_token_sync(id_token, nonce=pending.nonce, access_token=tokens.access_token)
        return tokens, claims

    def verify_id_token_sync(
        self, id_token: str, *, nonce: str | None = None, access_token: str | None = None
    ) -> Claims:
        """Synchronous :meth:`verify_id_token`."""
        return self._check_id_claims(self.verifier.verify_sync(id_token), nonce, access_token)

    def refresh_sync(self, refresh_token: str) -> tuple[TokenSet, Claims | None]:
        """Synchronous :meth:`refresh`."""
        answer = self._post_sync(self.token_url, self._refresh_form(refresh_token), "Cognito's token endpoint")
        tokens = self._token_set(answer, refresh_token=refresh_token)
        if tokens.id_token is None:
            return tokens, None
        return tokens, self.verify_id_token_sync(tokens.id_token, access_token=tokens.access_token)

    def revoke_sync(self, refresh_token: str) -> None:
        """Synchronous :meth:`revoke`."""
        self._post_sync(self.revoke_url, self._revoke_form(refresh_token), "Cognito's revocation endpoint")

    # -- lifecycle ----------------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the sync HTTP client and the verifier this object created (not given ones)."""
        self._close_sync_client()
        if self._owns_verifier:
            self.verifier.close()

    async def aclose(self) -> None:
        """Close the HTTP clients this object created (the async one of this event loop) and its own verifier."""
        client = self._own_async_clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()
        self._close_sync_client()
        if self._owns_verifier:
            await self.verifier.aclose()

    def _close_sync_client(self) -> None:
        with self._lock:
            client = self._http_client if self._owns_http_client else None
            if client is not None:
                self._http_client = None
        if client is not None:
            client.close()

    # -- shared building and checking ---------------------------------------------------------------------------------
    def _code_form(self, code: str, pending: PendingSignIn) -> dict[str, str]:
        if not isinstance(code, str) or not code:
            raise SignInError("no authorization code to redeem; start the sign-in again")
        if not isinstance(pending, PendingSignIn):
            raise SignInStateError("no pending sign-in to finish; start the sign-in again")
        return {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": pending.code_verifier,
            "client_id": self.client_id,
        }

    def _refresh_form(self, refresh_token: str) -> dict[str, str]:
        if not isinstance(refresh_token, str) or not refresh_token:
            raise SignInError("no refresh token; sign in again")
        return {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": self.client_id}

    def _revoke_form(self, refresh_token: str) -> dict[str, str]:
        if not isinstance(refresh_token, str) or not refresh_token:
            raise SignInError("no refresh token to revoke")
        return {"token": refresh_token, "client_id": self.client_id}

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self._client_secret is not None:
            # RFC 6749 2.3.1: id and secret are form-encoded before joining; quote() with safe="" encodes every
            # reserved character, and a space as %20, which decoders of either flavour read back correctly.
            pair = f"{quote(self.client_id, safe='')}:{quote(self._client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
        return headers

    def _token_set(self, answer: dict[str, Any] | None, *, refresh_token: str | None) -> TokenSet:
        what = "Cognito's token endpoint"
        if answer is None:
            raise HostedUIUnavailableError(f"{what} answered 200 without a JSON object")
        access = answer.get("access_token")
        id_token = answer.get("id_token")
        new_refresh = answer.get("refresh_token")
        expires_in = answer.get("expires_in")
        token_type = answer.get("token_type", "Bearer")
        if not isinstance(access, str) or not access:
            raise HostedUIUnavailableError(f"{what} answered without an access_token")
        for name, value in (("id_token", id_token), ("refresh_token", new_refresh)):
            if value is not None and not (isinstance(value, str) and value):
                raise HostedUIUnavailableError(f"{what} answered with a {name} that is not a string")
        if not _is_time(expires_in) or not 0 < expires_in <= 10 * 365 * 86400:
            raise HostedUIUnavailableError(f"{what} answered without a valid expires_in")
        if not isinstance(token_type, str) or not token_type:
            raise HostedUIUnavailableError(f"{what} answered with a token_type that is not a string")
        return TokenSet(access, id_token, new_refresh or refresh_token, self._clock() + expires_in, token_type)

    @staticmethod
    def _require_id_token(tokens: TokenSet) -> str:
        if tokens.id_token is None:
            raise SignInError("Cognito returned no ID token: the app client must allow the 'openid' scope")
        return tokens.id_token

    def _check_id_claims(self, claims: Claims, nonce: str | None, access_token: str | None) -> Claims:
        # A verifier passed in may accept access tokens or other clients; a sign-in needs this client's ID token.
        if claims.get("token_use") != "id":
            raise TokenUseError("an ID token is required here")
        if claims.get("aud") != self.client_id:
            raise ClientIdError("the ID token was issued to another app client")
        if nonce is not None:
            claimed = claims.get("nonce")
            if not isinstance(claimed, str) or not _same(claimed, nonce):
                raise ClaimError("the ID token's nonce does not match this sign-in")
        at_hash = claims.get("at_hash")
        if access_token is not None and at_hash is not None:
            digest = hashlib.sha256(access_token.encode("ascii", "replace")).digest()
            if not isinstance(at_hash, str) or not _same(at_hash, _b64url(digest[: len(digest) // 2])):
                raise ClaimError("the ID token's at_hash does not match the access token")
        return claims

    # -- transport ----------------------------------------------------------------------------------------------------
    def _sync_client(self) -> httpx.Client:
        with self._lock:
            if self._http_client is None:
                self._http_client = httpx.Client(timeout=self._timeout, follow_redirects=False)
            return self._http_client

    def _async_client(self) -> httpx.AsyncClient:
        if self._async_http_client is not None:
            return self._async_http_client
        loop = asyncio.get_running_loop()
        client = self._own_async_clients.get(loop)
        if client is None:
            for old_loop in [known for known in self._own_async_clients if known.is_closed()]:
                del self._own_async_clients[old_loop]
            client = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
            self._own_async_clients[loop] = client
        return client

    def _post_sync(self, url: str, form: dict[str, str], what: str) -> dict[str, Any] | None:
        """POST ``form``; the answer's JSON object (``None`` for a 200 that is not one). Bounded in size and time."""
        deadline = time.monotonic() + self._timeout
        client = self._sync_client()
        try:
            with client.stream("POST", url, data=form, headers=self._headers(), follow_redirects=False) as response:
                body = b"".join(_checked_chunks(response.iter_bytes(), deadline, what))
                status = response.status_code
        except httpx.HTTPError as error:
            raise HostedUIUnavailableError(f"{what} could not be reached ({type(error).__name__})") from None
        return _raise_for_answer(status, body, what)

    async def _post(self, url: str, form: dict[str, str], what: str) -> dict[str, Any] | None:
        """Async :meth:`_post_sync`: the whole exchange is bounded by the timeout."""
        client = self._async_client()

        async def exchange() -> tuple[int, bytes]:
            chunks: list[bytes] = []
            size = 0
            request = client.stream("POST", url, data=form, headers=self._headers(), follow_redirects=False)
            async with request as response:
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > _MAX_BODY:
                        raise HostedUIUnavailableError(f"{what} answered with more than {_MAX_BODY} bytes")
                    chunks.append(chunk)
                return response.status_code, b"".join(chunks)

        try:
            status, body = await asyncio.wait_for(exchange(), self._timeout)
        except asyncio.TimeoutError:
            raise HostedUIUnavailableError(f"{what} did not answer within {self._timeout} s") from None
        except httpx.HTTPError as error:
            raise HostedUIUnavailableError(f"{what} could not be reached ({type(error).__name__})") from None
        return _raise_for_answer(status, body, what)
