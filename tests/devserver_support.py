"""Shared fixtures and steps for the dev-server tests: a stand-in on 127.0.0.1 with an injected clock, and the
browser's part of the hosted-UI flow driven by httpx (no redirects followed)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from conftest import Clock

from cognito_guard import Claims, CognitoVerifier
from cognito_guard.testing import SigningKeyPair
from cognito_guard.testing.devserver import LocalUserPool, PoolConfig, PoolKeys, builtin_pool_data
from cognito_guard.testing.devserver.serve import serve_pool_in_thread

CALLBACK = "http://localhost:8000/auth/callback"
SIGN_OUT = "http://localhost:8000/"
PASSWORD = "Passw0rd!"


@dataclass
class Dev:
    """A running stand-in: its pool, URL, clock and an HTTP client that does not follow redirects."""

    pool: LocalUserPool
    base_url: str
    clock: Clock
    http: httpx.Client

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/us-east-1_LocalDev"

    def verify(self, token: str, *, token_use: str, client_id: str = "local-client") -> Claims:
        """Verify with CognitoVerifier exactly as an app would: keys fetched from the stand-in's JWKS URL."""
        verifier = CognitoVerifier(
            user_pool_id="us-east-1_LocalDev",
            client_id=client_id,
            token_use="access" if token_use == "access" else "id",
            issuer=self.issuer,
            jwks_uri=f"{self.issuer}/.well-known/jwks.json",
            clock=self.clock,
        )
        try:
            return verifier.verify_sync(token)
        finally:
            verifier.close()


@contextlib.contextmanager
def running(
    clock: Clock, keys: tuple[SigningKeyPair, SigningKeyPair], config: PoolConfig | None = None, *, port: int = 0
) -> Iterator[Dev]:
    """The stand-in for ``config`` (default: the built-in pool) on 127.0.0.1, with the session's keys; its public URL
    (the issuer) is the address it listens on."""
    pool = LocalUserPool(config, keys=PoolKeys(*keys), clock=clock)
    with serve_pool_in_thread(pool, port=port) as server, httpx.Client(base_url=server.base_url) as http:
        yield Dev(pool, server.base_url, clock, http)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_params(**overrides: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": "local-client",
        "redirect_uri": CALLBACK,
        "scope": "openid email orders/read",
        "state": "state-123",
        "nonce": "nonce-456",
    }
    params.update(overrides)
    return {name: value for name, value in params.items() if value is not None}


def form_fields(page: str) -> dict[str, str]:
    """The hidden fields of the sign-in form, as a browser would submit them (``_csrf`` included: post them with the
    same client that loaded the page, which holds the matching XSRF-TOKEN cookie)."""
    fields = re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', page)
    return {html.unescape(name): html.unescape(value) for name, value in fields}


def location_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    return {name: values[0] for name, values in parse_qs(urlsplit(response.headers["location"]).query).items()}


def loaded_form(dev: Dev, **params: str | None) -> dict[str, str]:
    """GET the authorize page (the XSRF-TOKEN cookie lands in ``dev.http``); returns its hidden fields, ``_csrf``
    among them, as a browser would post them back."""
    page = dev.http.get("/oauth2/authorize", params=authorize_params(**params))
    assert page.status_code == 200, page.text
    return form_fields(page.text)


def sign_in(dev: Dev, *, username: str = "alice", password: str = PASSWORD, **params: str | None) -> httpx.Response:
    """GET the authorize page, then POST its form with the credentials; returns the POST's response."""
    return dev.http.post("/login", data={**loaded_form(dev, **params), "username": username, "password": password})


def code_for(dev: Dev, challenge: str | None = None, **params: str | None) -> str:
    """A code for alice: through the sign-in form, or straight away when the session cookie skips it."""
    if challenge is not None:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    response = dev.http.get("/oauth2/authorize", params=authorize_params(**params))
    if response.status_code == 200:
        form = {**form_fields(response.text), "username": "alice", "password": PASSWORD}
        response = dev.http.post("/login", data=form)
    return location_params(response)["code"]


def exchange(dev: Dev, code: str, verifier: str | None = None, **form: str) -> httpx.Response:
    data = {"grant_type": "authorization_code", "client_id": "local-client", "code": code, "redirect_uri": CALLBACK}
    if verifier is not None:
        data["code_verifier"] = verifier
    data.update(form)
    return dev.http.post("/oauth2/token", data=data)


def signed_in_tokens(dev: Dev, **params: str | None) -> dict[str, Any]:
    """The token response of a full PKCE sign-in of alice."""
    verifier, challenge = pkce()
    client_id = params.get("client_id") or "local-client"
    response = exchange(dev, code_for(dev, challenge, **params), verifier, client_id=client_id)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


M2M_AUTH = ("local-m2m", "local-m2m-secret")


API_CONTENT_TYPE = "application/x-amz-json-1.1"
SIGV4 = "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/cognito-idp/aws4_request, SignedHeaders=host, Signature=00"


def call_api(
    dev: Dev,
    operation: str,
    body: object,
    *,
    target: str | None = None,
    content_type: str = API_CONTENT_TYPE,
    authorization: str | None = None,
) -> httpx.Response:
    """POST one call of the Cognito JSON API to the stand-in, as an AWS SDK sends it (``body`` is sent as JSON)."""
    headers = {"X-Amz-Target": target or f"AWSCognitoIdentityProviderService.{operation}", "Content-Type": content_type}
    if authorization is not None:
        headers["Authorization"] = authorization
    return dev.http.post("/", content=json.dumps(body).encode(), headers=headers)


def refresh_answer(dev: Dev, refresh_token: str, client_id: str = "local-client") -> tuple[int, dict[str, Any]]:
    """The token endpoint's status and JSON answer to a refresh."""
    form = {"grant_type": "refresh_token", "client_id": client_id, "refresh_token": refresh_token}
    response = dev.http.post("/oauth2/token", data=form)
    body: dict[str, Any] = response.json()
    return response.status_code, body


def userinfo_answer(dev: Dev, access_token: str) -> tuple[int, str]:
    """The userInfo endpoint's status and WWW-Authenticate header for an access token."""
    response = dev.http.get("/oauth2/userInfo", headers={"Authorization": f"Bearer {access_token}"})
    return response.status_code, response.headers.get("www-authenticate", "")


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT the stand-in signed, unchecked (to read ``origin_jti`` for the token-endpoint counts)."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


def http_signed_in_tokens(http: httpx.Client, *, username: str = "alice") -> dict[str, Any]:
    """The token response of a full PKCE sign-in of ``username`` through the hosted UI of whichever stand-in ``http``
    reaches (``base_url`` set, redirects not followed): a separate ``cognito-guard dev`` process too."""
    verifier, challenge = pkce()
    params = authorize_params(code_challenge=challenge, code_challenge_method="S256")
    page = http.get("/oauth2/authorize", params=params)
    assert page.status_code == 200, page.text
    answer = http.post("/login", data={**form_fields(page.text), "username": username, "password": PASSWORD})
    form = {
        "grant_type": "authorization_code",
        "client_id": "local-client",
        "code": location_params(answer)["code"],
        "redirect_uri": CALLBACK,
        "code_verifier": verifier,
    }
    response = http.post("/oauth2/token", data=form)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def builtin_pool_file(directory: Path, **options: Any) -> Path:
    """The built-in pool as a JSON file for ``cognito-guard dev --config FILE`` (``options`` as ``default_config``,
    e.g. ``refresh_token_rotation=True, retry_grace_period_seconds=10``)."""
    path = directory / "builtin-pool.json"
    path.write_text(json.dumps(builtin_pool_data(**options)), encoding="utf-8")
    return path
