"""HostedUIClient: the authorization-code flow with PKCE against Cognito's hosted UI, framework-neutral.

It builds the ``/oauth2/authorize`` redirect (state, nonce, PKCE), checks the callback, redeems the code at
``/oauth2/token``, verifies the ID token (signature and claims through :class:`CognitoVerifier`, then nonce and
``at_hash``), refreshes, revokes and builds the ``/logout`` URL. Every network call exists twice, ``async`` on an
``httpx.AsyncClient`` and ``*_sync`` on an ``httpx.Client``; the two share all building and checking, and the HTTP
exchange itself (bounds, error mapping) is ``cognito_guard._oauth_http.OAuthHTTP``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from .._oauth_http import OAUTH_ERROR_CODE, OAuthHTTP
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
from ..revocation import RevocationList
from ..verifier import CognitoVerifier
from ._flow import AuthorizationRequest, PendingSignIn, TokenSet, _is_time
from ._settings import _env_settings, _option, _redirect_url, _scopes, hosted_ui_base_url

__all__ = ["AuthorizationRequest", "HostedUIClient", "PendingSignIn", "TokenSet"]


# -- PKCE and comparisons ----------------------------------------------------------------------------------------------


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


class HostedUIClient:
    """Signs users in through Cognito's hosted UI with the authorization-code flow, PKCE and a nonce.

    ``domain`` is the hosted UI's host (``myprefix.auth.us-east-1.amazoncognito.com``, ``auth.example.com``), an
    ``https://`` URL, ``http://`` to localhost (local stand-ins), or the bare prefix ``myprefix`` (region from
    ``user_pool_id``). ``redirect_uri``/``logout_uri`` must be registered with the app client. ``client_secret``
    makes it a confidential client (HTTP Basic authentication). ``scopes`` must include ``openid``.
    ``identity_provider``/``lang``/``prompt`` are defaults for :meth:`authorization_request`.

    ID tokens are verified by ``verifier`` if given, else by a :class:`CognitoVerifier` for ``user_pool_id``
    (required then), ``client_id`` and ``issuer`` (stand-ins) built here, which shares the given HTTP clients and
    consults ``revocations`` (a :class:`~cognito_guard.RevocationList`: sessions of a revoked sign-in end, and
    sign-outs are recorded there; with ``verifier``, give the list to the verifier instead).
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
        revocations: RevocationList | None = None,
        identity_provider: str | None = None,
        lang: str | None = None,
        prompt: str | None = None,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = hosted_ui_base_url(domain, user_pool_id)
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
            if revocations is not None and revocations is not verifier.revocations:
                raise ConfigurationError("pass revocations to the CognitoVerifier given as verifier, not next to it")
            self.verifier = verifier
        elif user_pool_id is None:
            raise ConfigurationError("user_pool_id is required (to verify ID tokens) unless a verifier is given")
        else:
            self.verifier = CognitoVerifier(
                user_pool_id=user_pool_id,
                client_id=client_id,
                token_use="id",
                issuer=issuer,
                revocations=revocations,
                clock=clock,
                http_client=http_client,
                async_http_client=async_http_client,
            )
        self._owns_verifier = verifier is None
        self._http = OAuthHTTP(http_client=http_client, async_http_client=async_http_client, timeout=self._timeout)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> HostedUIClient:
        """Build from ``COGNITO_DOMAIN``, ``COGNITO_USER_POOL_ID``, ``COGNITO_CLIENT_ID``, ``COGNITO_REDIRECT_URI``
        and the optional ``COGNITO_CLIENT_SECRET``, ``COGNITO_LOGOUT_URI``, ``COGNITO_ISSUER``, ``COGNITO_SCOPES``
        (space-separated) in ``environ`` (default ``os.environ``). ``overrides`` are keyword arguments of the
        constructor and win over the environment. Unless ``verifier`` or ``revocations`` is given, sessions consult
        a revocation list shared through Redis when ``COGNITO_REDIS_URL`` is set, else one in this process (see
        :meth:`RevocationList.from_env <cognito_guard.RevocationList.from_env>`).

        Raises :class:`ConfigurationError` naming the variable that is missing or invalid.
        """
        env = os.environ if environ is None else environ
        settings = _env_settings(env, overrides)
        if "verifier" not in overrides and "revocations" not in overrides:
            settings["revocations"] = RevocationList.from_env(env)
        return cls(**{**settings, **overrides})

    # -- endpoints ------------------------------------------------------------------------------------------------
    @property
    def timeout(self) -> float:
        """Seconds one call to Cognito may take (with clients made here)."""
        return self._timeout

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
            shown = (
                error if isinstance(error, str) and OAUTH_ERROR_CODE.fullmatch(error) else "an unreadable error code"
            )
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
        tokens = self._refresh_unverified_sync(refresh_token)
        if tokens.id_token is None:
            return tokens, None
        return tokens, self.verify_id_token_sync(tokens.id_token, access_token=tokens.access_token)

    def _refresh_unverified_sync(self, refresh_token: str) -> TokenSet:
        """Cognito's answer to a refresh, its ID token not verified yet (for a caller that must keep the answer first:
        with rotation the refresh token in it is the only one left). Raises as :meth:`refresh`."""
        answer = self._post_sync(self.token_url, self._refresh_form(refresh_token), "Cognito's token endpoint")
        return self._token_set(answer, refresh_token=refresh_token)

    def revoke_sync(self, refresh_token: str) -> None:
        """Synchronous :meth:`revoke`."""
        self._post_sync(self.revoke_url, self._revoke_form(refresh_token), "Cognito's revocation endpoint")

    # -- lifecycle ----------------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the sync HTTP client and the verifier this object created (not given ones)."""
        self._http.close()
        if self._owns_verifier:
            self.verifier.close()

    async def aclose(self) -> None:
        """Close the HTTP clients this object created (the async one of this event loop) and its own verifier."""
        await self._http.aclose()
        if self._owns_verifier:
            await self.verifier.aclose()

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

    def _post_sync(self, url: str, form: dict[str, str], what: str) -> dict[str, Any] | None:
        return self._http.post_sync(url, form, self._headers(), what)

    async def _post(self, url: str, form: dict[str, str], what: str) -> dict[str, Any] | None:
        return await self._http.post(url, form, self._headers(), what)
