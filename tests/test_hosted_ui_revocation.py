"""Hosted-UI sign-out and the revocation list (issue 11, item 2): signing out puts the session's sign-in on the list,
so its tokens are refused by every verifier consulting the list (an API of the same app, other workers through
Redis), and copies of the session cookie end at once instead of when the ID token expires.

Starlette (async path) and Flask (sync path), against the local stand-in on loopback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import jwt
import pytest
from conftest import Clock
from devserver_support import Dev, running
from flask import Flask
from signin_support import APP, Browser, hosted_ui_client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cognito_guard import CognitoVerifier, RevocationList, errors
from cognito_guard.hosted_ui import HostedUIClient
from cognito_guard.hosted_ui.flask import FlaskSignIn
from cognito_guard.hosted_ui.starlette import StarletteSignIn
from cognito_guard.testing import SigningKeyPair

SECRET = "test-secret-key-0123456789abcdef"
JSON = {"Accept": "application/json"}


@pytest.fixture
def dev(clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> Iterator[Dev]:
    with running(clock, session_keys) as stand_in:
        yield stand_in


@pytest.fixture
def revocations(clock: Clock) -> RevocationList:
    return RevocationList(clock=clock)


def api_verifier(dev: Dev, clock: Clock, revocations: RevocationList) -> CognitoVerifier:
    """The app's API side: access tokens of local-client, consulting the same list."""
    return CognitoVerifier(
        user_pool_id="us-east-1_LocalDev",
        client_id="local-client",
        token_use="access",
        issuer=dev.issuer,
        revocations=revocations,
        clock=clock,
    )


def starlette_app(client: HostedUIClient, clock: Clock) -> Starlette:
    sign_in = StarletteSignIn(client, secret_key=SECRET, clock=clock)

    @sign_in.login_required()
    async def profile(request: Request) -> JSONResponse:
        user = request.state.user
        return JSONResponse({"username": user.username, "access_token": user.tokens.access_token})

    return Starlette(routes=[*sign_in.routes, Route("/profile", profile)], middleware=[sign_in.middleware])


@pytest.fixture
async def browser(dev: Dev, clock: Clock, revocations: RevocationList) -> AsyncIterator[Browser]:
    client = hosted_ui_client(dev, clock, revocations=revocations)
    tab = Browser(starlette_app(client, clock), dev)
    yield tab
    await tab.aclose()
    await client.aclose()


def copy_cookies(browser: Browser) -> dict[str, str]:
    return {cookie.name: cookie.value or "" for cookie in browser.app.cookies.jar if cookie.name.startswith("cognito")}


def put_back(browser: Browser, cookies: dict[str, str]) -> None:
    for name, value in cookies.items():
        browser.app.cookies.set(name, value, domain="localhost.local")


# -- async (Starlette) ----------------------------------------------------------------------------------------------


async def test_sign_out_makes_the_api_refuse_the_sessions_access_token(
    browser: Browser, dev: Dev, clock: Clock, revocations: RevocationList
) -> None:
    await browser.sign_in()
    access_token = (await browser.app.get("/profile", headers=JSON)).json()["access_token"]
    api = api_verifier(dev, clock, revocations)
    assert (await api.verify(access_token)).username == "alice"

    await browser.app.get("/auth/logout")

    with pytest.raises(errors.TokenRevokedError):
        await api.verify(access_token)


async def test_a_copy_of_the_session_cookie_is_refused_right_after_sign_out(browser: Browser) -> None:
    await browser.sign_in()
    stolen = copy_cookies(browser)
    await browser.app.get("/auth/logout")
    put_back(browser, stolen)

    response = await browser.app.get("/profile", headers=JSON)

    assert response.status_code == 401


async def test_another_sign_in_of_the_same_user_stays_signed_in(
    browser: Browser, dev: Dev, clock: Clock, revocations: RevocationList
) -> None:
    client = hosted_ui_client(dev, clock, revocations=revocations)
    other = Browser(starlette_app(client, clock), dev)
    try:
        await other.sign_in()
        await browser.sign_in()
        await browser.app.get("/auth/logout")

        response = await other.app.get("/profile", headers=JSON)
    finally:
        await other.aclose()
        await client.aclose()

    assert response.status_code == 200


async def session_claims(browser: Browser) -> dict[str, Any]:
    """The claims of the signed-in session's access token (read, not verified: the test only needs its ids)."""
    token = (await browser.app.get("/profile", headers=JSON)).json()["access_token"]
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


async def test_a_session_of_a_family_revoked_elsewhere_ends(browser: Browser, revocations: RevocationList) -> None:
    await browser.sign_in()
    revocations.revoke_family((await session_claims(browser))["origin_jti"])  # e.g. `cognito-guard revoke`

    response = await browser.app.get("/profile", headers=JSON)

    assert response.status_code == 401


async def test_a_user_signed_out_everywhere_loses_the_session(
    browser: Browser, revocations: RevocationList, clock: Clock
) -> None:
    await browser.sign_in()
    sub = (await session_claims(browser))["sub"]
    clock.advance(1)
    revocations.sign_out_user(sub)

    response = await browser.app.get("/profile", headers=JSON)

    assert response.status_code == 401


async def test_from_env_gives_sessions_a_list_in_memory_without_redis(dev: Dev, clock: Clock) -> None:
    client = HostedUIClient.from_env(
        {
            "COGNITO_DOMAIN": dev.base_url,
            "COGNITO_USER_POOL_ID": "us-east-1_LocalDev",
            "COGNITO_ISSUER": dev.issuer,
            "COGNITO_CLIENT_ID": "local-client",
            "COGNITO_REDIRECT_URI": f"{APP}/auth/callback",
        }
    )
    try:
        assert client.verifier.revocations is not None
        assert client.verifier.revocations.status().backend == "memory"
    finally:
        await client.aclose()


def test_revocations_next_to_a_verifier_of_its_own_are_a_configuration_error(
    dev: Dev, clock: Clock, revocations: RevocationList
) -> None:
    verifier = api_verifier(dev, clock, RevocationList())
    with pytest.raises(errors.ConfigurationError, match="revocations"):
        hosted_ui_client(dev, clock, verifier=verifier, revocations=revocations)


# -- sync (Flask) -----------------------------------------------------------------------------------------------------


def test_flask_sign_out_makes_the_api_refuse_the_sessions_access_token(
    dev: Dev, clock: Clock, revocations: RevocationList
) -> None:
    from test_hosted_ui_flask import Browser as FlaskBrowser

    client = hosted_ui_client(dev, clock, revocations=revocations)
    sign_in = FlaskSignIn(client, secret_key=SECRET, clock=clock)
    app = Flask(__name__)
    app.register_blueprint(sign_in.blueprint, url_prefix=sign_in.prefix)

    @app.get("/profile")
    @sign_in.login_required()
    def profile() -> dict[str, Any]:
        user = sign_in.current_user()
        assert user is not None
        return {"access_token": user.tokens.access_token}

    tab = FlaskBrowser(app, dev)
    api = api_verifier(dev, clock, revocations)
    try:
        tab.sign_in()
        stolen = tab.session_cookies()
        access_token = tab.get("/profile", accept="application/json").get_json()["access_token"]
        assert api.verify_sync(access_token).username == "alice"

        tab.get("/auth/logout")
        tab.restore_session_cookies(stolen)
        copied = tab.get("/profile", accept="application/json")
    finally:
        tab.close()
        client.close()

    assert copied.status_code == 401
    with pytest.raises(errors.TokenRevokedError):
        api.verify_sync(access_token)
