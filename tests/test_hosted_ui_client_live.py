"""HostedUIClient against the local Cognito stand-in on 127.0.0.1: the whole sign-in as a browser and an app do it,
then refresh, revocation and sign-out, over real HTTP and with keys fetched from the stand-in's JWKS URL."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import httpx
import pytest
from devserver_support import CALLBACK, PASSWORD, SIGN_OUT, form_fields, location_params

from cognito_guard import Claims
from cognito_guard.errors import OAuthError
from cognito_guard.hosted_ui._client import HostedUIClient, PendingSignIn, TokenSet
from cognito_guard.testing.devserver import PoolConfig
from cognito_guard.testing.devserver.config import AppClient, default_config
from cognito_guard.testing.devserver.serve import DevServer

How = Literal["async", "sync"]
BOTH_WAYS = pytest.mark.parametrize("how", ["async", "sync"])

WEB_APP = "web-app"
WEB_APP_SECRET = "web secret:+/%"  # characters that HTTP Basic must form-encode
WEB_APP_CALLBACK = "https://app.example.com/auth/callback?tenant=a&b=c"


@pytest.fixture
def cognito_dev_config() -> PoolConfig:
    """The built-in pool plus a confidential code-flow client (the built-in confidential client is M2M only)."""
    config = default_config()
    web_app = AppClient(
        client_id=WEB_APP,
        client_secret=WEB_APP_SECRET,
        callback_urls=(WEB_APP_CALLBACK,),
        logout_urls=("https://app.example.com/",),
        allowed_flows=("code",),
        allowed_scopes=("openid", "email", "profile"),
    )
    return dataclasses.replace(config, clients={**config.clients, WEB_APP: web_app})


def make_client(server: DevServer, **options: Any) -> HostedUIClient:
    settings: dict[str, Any] = {
        "domain": server.base_url,
        "client_id": "local-client",
        "redirect_uri": CALLBACK,
        "logout_uri": SIGN_OUT,
        "user_pool_id": server.user_pool_id,
        "issuer": server.issuer,
        **options,
    }
    return HostedUIClient(**settings)


@pytest.fixture
async def hosted(cognito_dev_server: DevServer) -> AsyncIterator[HostedUIClient]:
    client = make_client(cognito_dev_server)
    yield client
    await client.aclose()


@pytest.fixture
def browser() -> Iterator[httpx.Client]:
    """The user's browser: keeps cookies, follows no redirects (the test reads them)."""
    with httpx.Client(follow_redirects=False) as client:
        yield client


def sign_in_as_alice(browser: httpx.Client, server: DevServer, url: str) -> httpx.Response:
    """Open the authorization URL and submit the sign-in form; returns the redirect to the app."""
    page = browser.get(url)
    assert page.status_code == 200, page.text
    form = {**form_fields(page.text), "username": "alice", "password": PASSWORD}
    return browser.post(f"{server.base_url}/login", data=form)


async def exchange(client: HostedUIClient, code: str, pending: PendingSignIn, how: How) -> tuple[TokenSet, Claims]:
    if how == "async":
        return await client.exchange_code(code, pending)
    return client.exchange_code_sync(code, pending)


async def refresh(client: HostedUIClient, refresh_token: str, how: How) -> tuple[TokenSet, Claims | None]:
    if how == "async":
        return await client.refresh(refresh_token)
    return client.refresh_sync(refresh_token)


async def revoke(client: HostedUIClient, refresh_token: str, how: How) -> None:
    if how == "async":
        await client.revoke(refresh_token)
    else:
        client.revoke_sync(refresh_token)


async def signed_in(
    client: HostedUIClient, browser: httpx.Client, server: DevServer, how: How
) -> tuple[TokenSet, Claims]:
    request = client.authorization_request(next_path="/orders")
    params = location_params(sign_in_as_alice(browser, server, request.url))
    code = client.check_callback(params, request.pending)
    return await exchange(client, code, request.pending, how)


# -- sign-in -----------------------------------------------------------------------------------------------------------
@BOTH_WAYS
async def test_sign_in_through_the_stand_in_gives_alices_verified_id_claims(
    hosted: HostedUIClient, browser: httpx.Client, cognito_dev_server: DevServer, how: How
) -> None:
    request = hosted.authorization_request(next_path="/orders")
    redirect = sign_in_as_alice(browser, cognito_dev_server, request.url)
    assert redirect.headers["location"].startswith(f"{CALLBACK}?")

    code = hosted.check_callback(location_params(redirect), request.pending)
    tokens, claims = await exchange(hosted, code, request.pending, how)

    assert claims.username == "alice"
    assert claims["nonce"] == request.pending.nonce
    assert "at_hash" in claims  # checked against the access token on the way
    assert tokens.id_token is not None
    assert tokens.refresh_token is not None
    access_verifier = cognito_dev_server.verifier(client_id="local-client", token_use="access")
    assert access_verifier.verify_sync(tokens.access_token).username == "alice"
    access_verifier.close()


@BOTH_WAYS
async def test_a_code_redeemed_once_cannot_be_redeemed_again(
    hosted: HostedUIClient, browser: httpx.Client, cognito_dev_server: DevServer, how: How
) -> None:
    request = hosted.authorization_request()
    code = hosted.check_callback(
        location_params(sign_in_as_alice(browser, cognito_dev_server, request.url)), request.pending
    )
    await exchange(hosted, code, request.pending, how)

    with pytest.raises(OAuthError) as raised:
        await exchange(hosted, code, request.pending, how)

    assert raised.value.error == "invalid_grant"


@BOTH_WAYS
async def test_a_code_is_refused_with_another_sign_ins_code_verifier(
    hosted: HostedUIClient, browser: httpx.Client, cognito_dev_server: DevServer, how: How
) -> None:
    request = hosted.authorization_request()
    code = hosted.check_callback(
        location_params(sign_in_as_alice(browser, cognito_dev_server, request.url)), request.pending
    )
    other = hosted.authorization_request().pending

    with pytest.raises(OAuthError) as raised:
        await exchange(hosted, code, dataclasses.replace(request.pending, code_verifier=other.code_verifier), how)

    assert raised.value.error == "invalid_grant"


def test_an_error_redirect_from_the_stand_in_is_an_oauth_error(hosted: HostedUIClient, browser: httpx.Client) -> None:
    request = hosted.authorization_request(prompt="none")  # no hosted-UI session yet: login_required

    redirect = browser.get(request.url)

    with pytest.raises(OAuthError) as raised:
        hosted.check_callback(location_params(redirect), request.pending)
    assert raised.value.error == "login_required"


@BOTH_WAYS
async def test_a_confidential_client_signs_in_with_http_basic(
    browser: httpx.Client, cognito_dev_server: DevServer, how: How
) -> None:
    client = make_client(
        cognito_dev_server, client_id=WEB_APP, client_secret=WEB_APP_SECRET, redirect_uri=WEB_APP_CALLBACK
    )

    tokens, claims = await signed_in(client, browser, cognito_dev_server, how)
    await client.aclose()

    assert claims["aud"] == WEB_APP
    assert tokens.refresh_token is not None


@BOTH_WAYS
async def test_a_confidential_client_with_a_wrong_secret_is_refused(
    browser: httpx.Client, cognito_dev_server: DevServer, how: How
) -> None:
    client = make_client(cognito_dev_server, client_id=WEB_APP, client_secret="wrong", redirect_uri=WEB_APP_CALLBACK)

    with pytest.raises(OAuthError) as raised:
        await signed_in(client, browser, cognito_dev_server, how)
    await client.aclose()

    assert raised.value.error == "invalid_client"


# -- refresh, revocation, sign-out ----------------------------------------------------------------------------------
@BOTH_WAYS
async def test_refresh_gives_new_tokens_and_keeps_the_refresh_token(
    hosted: HostedUIClient, browser: httpx.Client, cognito_dev_server: DevServer, how: How
) -> None:
    tokens, _ = await signed_in(hosted, browser, cognito_dev_server, how)
    assert tokens.refresh_token is not None

    refreshed, claims = await refresh(hosted, tokens.refresh_token, how)

    assert refreshed.refresh_token == tokens.refresh_token  # the stand-in, like Cognito, does not rotate
    assert refreshed.id_token is not None
    assert claims is not None
    assert claims.username == "alice"


@BOTH_WAYS
async def test_a_revoked_refresh_token_no_longer_refreshes(
    hosted: HostedUIClient, browser: httpx.Client, cognito_dev_server: DevServer, how: How
) -> None:
    tokens, _ = await signed_in(hosted, browser, cognito_dev_server, how)
    assert tokens.refresh_token is not None

    await revoke(hosted, tokens.refresh_token, how)

    with pytest.raises(OAuthError) as raised:
        await refresh(hosted, tokens.refresh_token, how)
    assert raised.value.error == "invalid_grant"


@BOTH_WAYS
async def test_revoking_an_access_token_is_an_unsupported_token_type_error(
    hosted: HostedUIClient, browser: httpx.Client, cognito_dev_server: DevServer, how: How
) -> None:
    tokens, _ = await signed_in(hosted, browser, cognito_dev_server, how)

    with pytest.raises(OAuthError) as raised:
        await revoke(hosted, tokens.access_token, how)

    assert raised.value.error == "unsupported_token_type"


def test_the_stand_in_accepts_the_logout_url_and_ends_the_hosted_ui_session(
    hosted: HostedUIClient, browser: httpx.Client, cognito_dev_server: DevServer
) -> None:
    sign_in_as_alice(browser, cognito_dev_server, hosted.authorization_request().url)

    signed_out = browser.get(hosted.logout_url())
    again = browser.get(hosted.authorization_request(prompt="none").url)

    assert (signed_out.status_code, signed_out.headers["location"]) == (302, SIGN_OUT)
    assert location_params(again)["error"] == "login_required"
