"""The stand-in user pool's OAuth 2.0 rules, free of any web framework: authorize checks, sign-in, the token,
revocation and userInfo endpoints. ``app.py`` only turns HTTP into these calls and their results into responses."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from ..._token import b64url_encode
from ...errors import ConfigurationError
from .access import AccessTokenRefused, AccessTokens
from .attributes import attribute_strings
from .config import AppClient, PoolConfig, User, default_config
from .keys import PoolKeys
from .state import DevState, SignInSession
from .stats import GRANT_TYPES, TokenEndpointStats
from .tokens import SignIn, TokenMinter

__all__ = ["AuthorizePageError", "AuthorizeRequest", "LocalUserPool", "OAuthError", "RedirectError", "TokenResponse"]

_PKCE_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_PKCE_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_DUMMY_PASSWORD = b"\x00not-a-password\x00"
# Cognito grants these only together with openid: "The phone, email, and profile scopes can only be requested with
# openid".
_NEEDS_OPENID = frozenset(("email", "phone", "profile"))


def _lacks_openid(scopes: tuple[str, ...]) -> bool:
    """True when ``scopes`` ask for ``email``, ``phone`` or ``profile`` without ``openid``."""
    return "openid" not in scopes and not _NEEDS_OPENID.isdisjoint(scopes)


class OAuthError(Exception):
    """An OAuth error answered as JSON ``{"error": code}`` with ``status`` (400 unless said otherwise)."""

    def __init__(self, error: str, status: int = 400) -> None:
        super().__init__(error)
        self.error = error
        self.status = status


class AuthorizePageError(Exception):
    """An authorize request that must not be redirected (unknown client or redirect URI): show an error page."""


@dataclass(frozen=True)
class AuthorizeRequest:
    """A checked authorize request: the client, its registered redirect URI and what the code will carry."""

    client: AppClient
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str | None
    prompt: str | None

    def form_fields(self) -> dict[str, str]:
        """The request as hidden form fields (the sign-in form re-submits and re-checks them)."""
        fields = {
            "client_id": self.client.client_id,
            "redirect_uri": self.redirect_uri,
            "response_type": "code",
            "scope": " ".join(self.scopes),
        }
        optional = {"state": self.state, "nonce": self.nonce, "code_challenge": self.code_challenge}
        fields.update({name: value for name, value in optional.items() if value is not None})
        if self.code_challenge is not None:
            fields["code_challenge_method"] = "S256"
        return fields


class RedirectError(Exception):
    """An authorize error that goes back to the (already checked) redirect URI as ``error=``."""

    def __init__(self, error: str, redirect_uri: str, state: str | None) -> None:
        super().__init__(error)
        self.error = error
        self.redirect_uri = redirect_uri
        self.state = state


@dataclass(frozen=True)
class TokenResponse:
    """A token endpoint answer."""

    access_token: str
    expires_in: int
    id_token: str | None = None
    refresh_token: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"access_token": self.access_token}
        if self.id_token is not None:
            body["id_token"] = self.id_token
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        body.update({"token_type": "Bearer", "expires_in": self.expires_in})
        return body


def _equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


class LocalUserPool:
    """A Cognito user pool and its hosted UI, in memory. ``config`` defaults to :func:`default_config`, ``keys`` to
    freshly generated ones; ``clock`` returns Unix seconds (inject one in tests). ``stats`` counts the token
    endpoint's requests (:class:`~cognito_guard.testing.devserver.stats.TokenEndpointStats`)."""

    def __init__(
        self,
        config: PoolConfig | None = None,
        *,
        keys: PoolKeys | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config or default_config()
        self.keys = keys or PoolKeys.generate()
        self.clock = clock
        self.state = DevState(clock)
        self.minter = TokenMinter(self.config, self.keys, clock)
        self.access_tokens = AccessTokens(self.config.user_pool_id, self.keys.jwks, self.state, clock)
        self.stats = TokenEndpointStats()

    # -- discovery --------------------------------------------------------------------------------------------------
    def issuer(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}/{self.config.user_pool_id}"

    def openid_configuration(self, base_url: str) -> dict[str, Any]:
        base = base_url.rstrip("/")
        issuer = self.issuer(base)
        scopes = {"openid", "email", "phone", "profile"} | set(self.config.custom_scopes)
        return {
            "issuer": issuer,
            "authorization_endpoint": f"{base}/oauth2/authorize",
            "token_endpoint": f"{base}/oauth2/token",
            "userinfo_endpoint": f"{base}/oauth2/userInfo",
            "revocation_endpoint": f"{base}/oauth2/revoke",
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "scopes_supported": sorted(scopes),
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
        }

    # -- hosted UI --------------------------------------------------------------------------------------------------
    def check_authorize(self, params: Mapping[str, str]) -> AuthorizeRequest:
        """Check an authorize request (query or re-submitted form). Raises :class:`AuthorizePageError` while the
        redirect URI is not trusted yet, then :class:`RedirectError`."""
        client = self.config.clients.get(params.get("client_id", ""))
        if client is None:
            raise AuthorizePageError("The client_id is missing or unknown.")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in client.callback_urls:
            raise AuthorizePageError("The redirect_uri is missing or not a callback URL registered for this client.")
        state = params.get("state")

        def fail(error: str) -> RedirectError:
            return RedirectError(error, redirect_uri, state)

        response_type = params.get("response_type")
        if not response_type:
            raise fail("invalid_request")
        if response_type != "code":
            raise fail("unsupported_response_type")
        if "code" not in client.allowed_flows:
            raise fail("unauthorized_client")
        scopes = tuple(dict.fromkeys(params.get("scope", "").split())) or client.allowed_scopes
        if not set(scopes) <= set(client.allowed_scopes) or _lacks_openid(scopes):
            raise fail("invalid_scope")
        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method")
        if (challenge is None) != (method is None) or method not in (None, "S256"):
            raise fail("invalid_request")  # Cognito supports S256 only, and needs both parameters together
        if challenge is not None and not _PKCE_CHALLENGE.fullmatch(challenge):
            raise fail("invalid_request")
        return AuthorizeRequest(
            client, redirect_uri, scopes, state, params.get("nonce"), challenge, params.get("prompt")
        )

    def check_password(self, username: str, password: str) -> User | None:
        """The user if the password is right, else None (same work for unknown users: no user enumeration)."""
        user = self.config.users.get(username)
        expected = user.password.encode() if user else _DUMMY_PASSWORD
        matches = hmac.compare_digest(password.encode("utf-8", "surrogatepass"), expected)
        return user if matches and user is not None else None

    def issue_code(self, request: AuthorizeRequest, session: SignInSession) -> str:
        return self.state.issue_code(
            client_id=request.client.client_id,
            redirect_uri=request.redirect_uri,
            scopes=request.scopes,
            username=session.username,
            auth_time=session.auth_time,
            nonce=request.nonce,
            code_challenge=request.code_challenge,
        )

    # -- token endpoint ---------------------------------------------------------------------------------------------
    def authenticate_client(self, authorization: str | None, form: Mapping[str, str]) -> AppClient:
        """The client, from HTTP Basic or ``client_id``/``client_secret`` in the body. Raises ``invalid_client``."""
        if authorization and authorization[:6].lower() == "basic ":
            if "client_secret" in form:
                raise OAuthError("invalid_request")  # two authentication methods at once
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
            except ValueError:  # not base64 (binascii.Error), not ASCII to begin with, or not UTF-8 once decoded
                raise OAuthError("invalid_client") from None
            client_id, separator, secret = decoded.partition(":")
            client_id, given_secret = unquote(client_id), (unquote(secret) if separator else None)
            if form.get("client_id", client_id) != client_id:
                raise OAuthError("invalid_client")
        else:
            client_id, given_secret = form.get("client_id", ""), form.get("client_secret")
        client = self.config.clients.get(client_id)
        if client is None or not self.secret_matches(client, given_secret):
            raise OAuthError("invalid_client")
        return client

    @staticmethod
    def secret_matches(client: AppClient, given_secret: str | None) -> bool:
        """True when ``given_secret`` is the client's secret, or absent (or empty) for a client without one."""
        if client.client_secret is None:
            return not given_secret
        return given_secret is not None and _equal(given_secret, client.client_secret)

    def token(self, form: Mapping[str, str], authorization: str | None, base_url: str) -> TokenResponse:
        """Answer ``POST /oauth2/token``; raises :class:`OAuthError`."""
        grant_type = form.get("grant_type")
        if not grant_type:
            raise OAuthError("invalid_request")
        if grant_type not in GRANT_TYPES:
            raise OAuthError("unsupported_grant_type")
        self.stats.count_request(grant_type)
        try:
            client = self.authenticate_client(authorization, form)
            issuer = self.issuer(base_url)
            if grant_type == "authorization_code":
                return self._redeem_code(client, form, issuer)
            if grant_type == "refresh_token":
                return self._refresh(client, form, issuer)
            return self._client_credentials(client, form.get("scope"), issuer)
        except OAuthError:
            self.stats.count_error(grant_type)
            raise

    def _redeem_code(self, client: AppClient, form: Mapping[str, str], issuer: str) -> TokenResponse:
        if "code" not in client.allowed_flows:
            raise OAuthError("unauthorized_client")
        code, redirect_uri = form.get("code"), form.get("redirect_uri")
        if not code or not redirect_uri:
            raise OAuthError("invalid_request")
        record = self.state.redeem_code(code)  # consumed even if a check below fails: codes work once
        if record is None or record.client_id != client.client_id or record.redirect_uri != redirect_uri:
            raise OAuthError("invalid_grant")
        if record.code_challenge is not None:
            verifier = form.get("code_verifier", "")
            if not _PKCE_VERIFIER.fullmatch(verifier):
                raise OAuthError("invalid_grant")
            computed = b64url_encode(hashlib.sha256(verifier.encode("ascii")).digest())
            if not _equal(computed, record.code_challenge):
                raise OAuthError("invalid_grant")
        user = self.config.users[record.username]
        refresh_token, family = self.state.start_family(
            client_id=client.client_id,
            username=user.username,
            scopes=record.scopes,
            auth_time=record.auth_time,
            lifetime=client.refresh_token_validity,
        )
        sign_in = SignIn(user, client, record.scopes, record.auth_time, family.origin_jti, record.nonce)
        access, id_token = self.minter.user_tokens(issuer, sign_in)
        return TokenResponse(access, client.access_token_validity, id_token, refresh_token)

    def _refresh(self, client: AppClient, form: Mapping[str, str], issuer: str) -> TokenResponse:
        refresh_token = form.get("refresh_token")
        if not refresh_token:
            raise OAuthError("invalid_request")
        # Without rotation, like Cognito, the same refresh token stays in use and none is returned; with it, a new one
        # of the same family (same origin_jti), and the presented one retires after the client's grace period.
        used = self.state.refresh(
            refresh_token,
            client_id=client.client_id,
            rotate=client.refresh_token_rotation,
            grace_seconds=client.retry_grace_period_seconds,
        )
        if used is None:
            raise OAuthError("invalid_grant")
        family, new_refresh_token = used
        user = self.config.users[family.username]
        sign_in = SignIn(user, client, family.scopes, family.auth_time, family.origin_jti)
        access, id_token = self.minter.user_tokens(issuer, sign_in)
        self.stats.count_refresh(family.origin_jti)
        return TokenResponse(access, client.access_token_validity, id_token, new_refresh_token)

    def _client_credentials(self, client: AppClient, scope: str | None, issuer: str) -> TokenResponse:
        if "client_credentials" not in client.allowed_flows or not client.is_confidential:
            raise OAuthError("unauthorized_client")
        allowed = [s for s in client.allowed_scopes if s in self.config.custom_scopes]
        scopes = tuple(dict.fromkeys((scope or "").split())) or tuple(allowed)
        if not scopes or not set(scopes) <= set(allowed):
            raise OAuthError("invalid_scope")
        token = self.minter.client_credentials_token(issuer, client, scopes)
        return TokenResponse(token, client.access_token_validity)

    # -- revocation and userInfo --------------------------------------------------------------------------------------
    def revoke(self, form: Mapping[str, str], authorization: str | None) -> None:
        """Answer ``POST /oauth2/revoke``: revoke a refresh token's family. Raises :class:`OAuthError`."""
        token = form.get("token")
        if not token:
            raise OAuthError("invalid_request")
        self.revoke_refresh_token(self.authenticate_client(authorization, form), token)

    def revoke_refresh_token(self, client: AppClient, token: str) -> None:
        """Revoke the family of ``client``'s refresh token ``token`` (``/oauth2/revoke`` and ``RevokeToken``): the
        refresh token and every ID/access token of that sign-in and its refreshes. Raises :class:`OAuthError`
        ``unsupported_token_type`` for an ID or access token, ``invalid_request`` for another client's token."""
        if token.count(".") == 2:  # a JWS: an ID or access token (Cognito's refresh tokens are JWEs, five parts)
            raise OAuthError("unsupported_token_type")
        family = self.state.find_family(token)
        if family is None:
            return  # RFC 7009: an unknown or already revoked token is answered 200 too
        if family.client_id != client.client_id:
            raise OAuthError("invalid_request")  # a client may only revoke its own tokens
        self.state.revoke(family)

    def userinfo(self, authorization: str | None, base_url: str) -> dict[str, Any]:
        """Answer ``GET /oauth2/userInfo``: the user's attributes for a live access token with ``openid``.

        Raises :class:`OAuthError` ``invalid_token`` (401) for a missing, invalid, expired or revoked token and
        ``insufficient_scope`` (403) without ``openid``."""
        if not authorization or authorization[:7].lower() != "bearer ":
            raise OAuthError("invalid_token", 401)
        try:
            claims = self.access_tokens.live(authorization[7:].strip(), self.issuer(base_url))
        except AccessTokenRefused:
            raise OAuthError("invalid_token", 401) from None
        if "openid" not in claims.scopes:
            raise OAuthError("insufficient_scope", 403)
        user = self.config.users.get(claims.username or "")
        if user is None:
            raise OAuthError("invalid_token", 401)
        info: dict[str, Any] = attribute_strings(user.attributes)  # "true", not true, like Cognito
        info.update({"sub": user.sub, "username": user.username})  # last: no attribute can stand in for them
        return info

    # -- shortcuts for tests and the CLI ------------------------------------------------------------------------------
    def sign_in(
        self,
        username: str,
        *,
        base_url: str,
        client_id: str = "local-client",
        scopes: tuple[str, ...] | None = None,
        nonce: str | None = None,
    ) -> TokenResponse:
        """Tokens for a configured user as if they had signed in through the hosted UI (no password needed).
        Raises :class:`ConfigurationError` for an unknown user or client or a scope the client may not have."""
        user = self.config.users.get(username)
        client = self.config.clients.get(client_id)
        if user is None or client is None or "code" not in client.allowed_flows:
            raise ConfigurationError(f"no user {username!r} or no code-flow client {client_id!r} in the dev pool")
        granted = scopes if scopes is not None else client.allowed_scopes
        if not set(granted) <= set(client.allowed_scopes):
            raise ConfigurationError(f"client {client_id!r} may not have the scopes {sorted(granted)}")
        if _lacks_openid(granted):
            raise ConfigurationError("the scopes email, phone and profile are granted only together with openid")
        auth_time = int(self.clock())
        refresh_token, family = self.state.start_family(
            client_id=client_id,
            username=username,
            scopes=granted,
            auth_time=auth_time,
            lifetime=client.refresh_token_validity,
        )
        sign_in = SignIn(user, client, granted, auth_time, family.origin_jti, nonce)
        access, id_token = self.minter.user_tokens(self.issuer(base_url), sign_in)
        return TokenResponse(access, client.access_token_validity, id_token, refresh_token)

    def client_credentials(self, client_id: str, *, base_url: str, scopes: tuple[str, ...] | None = None) -> str:
        """A client-credentials access token for a configured confidential client (no secret needed).
        Raises :class:`ConfigurationError` if the client may not use that flow or those scopes."""
        client = self.config.clients.get(client_id)
        if client is None:
            raise ConfigurationError(f"no client {client_id!r} in the dev pool")
        try:
            return self._client_credentials(client, " ".join(scopes or ()), self.issuer(base_url)).access_token
        except OAuthError as error:
            raise ConfigurationError(f"client {client_id!r} cannot get those tokens: {error.error}") from None
