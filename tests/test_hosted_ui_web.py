"""Hosted-UI sign-in for web apps, end to end over real HTTP: the FastAPI adapter in front, the local Cognito
stand-in (on 127.0.0.1, shared clock) behind. The test plays the browser with httpx: it follows the app's redirects
to the stand-in's sign-in form, posts the credentials and brings the code back to the app's callback."""

# No `from __future__ import annotations`: FastAPI must see the Depends(...) of endpoints defined in functions.

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from conftest import Clock
from devserver_support import Dev, running
from fastapi import Depends, FastAPI
from servers import free_port
from signin_support import APP, Browser, hosted_ui_client

from cognito_guard import CognitoVerifier
from cognito_guard.errors import HostedUIUnavailableError
from cognito_guard.hosted_ui import CookieSettings, HostedUIClient, MemorySessionStore
from cognito_guard.hosted_ui.fastapi import FastAPISignIn, SignedInUser
from cognito_guard.testing import SigningKeyPair


@pytest.fixture
def dev(clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> Iterator[Dev]:
    with running(clock, session_keys) as stand_in:
        yield stand_in


def build_app(dev: Dev, clock: Clock, **options: Any) -> tuple[FastAPI, FastAPISignIn]:
    sign_in = FastAPISignIn(
        hosted_ui_client(dev, clock), secret_key="test-secret-key-0123456789abcdef", clock=clock, **options
    )
    app = FastAPI(middleware=[sign_in.middleware], lifespan=sign_in.lifespan)
    app.include_router(sign_in.router)

    @app.get("/")
    async def home(user: Annotated[SignedInUser | None, Depends(sign_in.current_user())]) -> dict[str, Any]:
        return {"user": user.username if user else None}

    @app.get("/profile")
    async def profile(user: Annotated[SignedInUser, Depends(sign_in.login_required())]) -> dict[str, Any]:
        return {"username": user.username, "email": user.email, "groups": list(user.groups)}

    @app.get("/admin")
    async def admin(user: Annotated[SignedInUser, Depends(sign_in.login_required(groups="admin"))]) -> str:
        return "admin"

    return app, sign_in


def session_cookies(response: httpx.Response) -> list[str]:
    return [value for value in response.headers.get_list("set-cookie") if value.startswith("cognito_session")]


@pytest.fixture
async def browser(dev: Dev, clock: Clock) -> AsyncIterator[Browser]:
    app, _ = build_app(dev, clock)
    tab = Browser(app, dev)
    yield tab
    await tab.aclose()


async def test_signing_in_lands_on_the_page_that_asked_for_it(browser: Browser) -> None:
    refused = await browser.app.get("/profile")
    assert refused.status_code == 302
    assert refused.headers["location"] == "/auth/login?next=%2Fprofile"

    callback = await browser.sign_in(path=refused.headers["location"])

    assert callback.status_code == 302
    assert callback.headers["location"] == "/profile"


async def test_the_profile_shows_the_id_token_of_the_signed_in_user(browser: Browser) -> None:
    await browser.sign_in()

    profile = await browser.app.get("/profile")

    assert profile.status_code == 200
    assert profile.json() == {"username": "alice", "email": "alice@example.com", "groups": ["admin", "users"]}


async def test_the_session_cookie_is_httponly_lax_and_not_secure_on_localhost(browser: Browser) -> None:
    callback = await browser.sign_in()

    assert session_cookies(callback)
    for cookie in session_cookies(callback):
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
        assert "Path=/" in cookie
        assert "Secure" not in cookie


async def test_an_api_client_without_a_session_gets_401(browser: Browser) -> None:
    response = await browser.app.get("/profile", headers={"Accept": "application/json"})

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


async def test_a_user_outside_the_required_group_gets_a_403_page(browser: Browser) -> None:
    await browser.sign_in("bob")

    response = await browser.app.get("/admin")

    assert response.status_code == 403
    assert "Forbidden" in response.text


async def test_a_member_of_the_required_group_gets_in(browser: Browser) -> None:
    await browser.sign_in("alice")

    response = await browser.app.get("/admin")

    assert response.status_code == 200


async def test_next_must_be_a_local_path(browser: Browser) -> None:
    callback = await browser.sign_in(path="/auth/login?next=https://evil.example/")

    assert callback.headers["location"] == "/"


async def test_two_tabs_can_sign_in_at_once(browser: Browser) -> None:
    first = await browser.start("/auth/login?next=/one")
    second = await browser.start("/auth/login?next=/two")
    second_callback = await browser.sign_in_at_cognito(second)
    first_callback = await browser.sign_in_at_cognito(first)

    assert (await browser.app.get(first_callback)).headers["location"] == "/one"
    assert (await browser.app.get(second_callback)).headers["location"] == "/two"


async def test_a_callback_cannot_be_replayed(browser: Browser) -> None:
    callback = await browser.sign_in_at_cognito(await browser.start())
    assert (await browser.app.get(callback)).status_code == 302

    replay = await browser.app.get(callback)

    assert replay.status_code == 400


async def test_a_callback_from_another_browser_is_refused(dev: Dev, clock: Clock, browser: Browser) -> None:
    callback = await browser.sign_in_at_cognito(await browser.start())
    app, _ = build_app(dev, clock)
    other = Browser(app, dev)
    try:
        response = await other.app.get(callback)
    finally:
        await other.aclose()

    assert response.status_code == 400


async def test_an_error_redirect_from_the_hosted_ui_shows_the_oauth_code(browser: Browser) -> None:
    authorize = await browser.start()
    state = parse_qs(urlsplit(authorize).query)["state"][0]

    response = await browser.app.get("/auth/callback", params={"error": "access_denied", "state": state})

    assert response.status_code == 400
    assert "access_denied" in response.text


async def test_a_tampered_session_cookie_is_not_signed_in(browser: Browser) -> None:
    await browser.sign_in()
    for cookie in list(browser.app.cookies.jar):
        if cookie.name.startswith("cognito_session") and cookie.value:
            cookie.value = cookie.value[:-2] + ("A" if cookie.value[-2] != "A" else "B") + cookie.value[-1]

    response = await browser.app.get("/", headers={"Accept": "application/json"})

    assert response.json() == {"user": None}


async def test_an_expired_access_token_is_refreshed_transparently(browser: Browser, clock: Clock) -> None:
    await browser.sign_in()
    clock.advance(3600)  # the tokens' lifetime in the default pool

    response = await browser.app.get("/profile")

    assert response.status_code == 200
    assert session_cookies(response)
    clock.advance(600)
    assert (await browser.app.get("/profile")).status_code == 200  # the refreshed cookie works on its own


async def test_concurrent_requests_after_expiry_refresh_once(dev: Dev, clock: Clock) -> None:
    app, sign_in = build_app(dev, clock)
    tab = Browser(app, dev)
    refreshes = 0
    original = sign_in.client.refresh

    async def counting_refresh(refresh_token: str) -> Any:
        nonlocal refreshes
        refreshes += 1
        return await original(refresh_token)

    sign_in.client.refresh = counting_refresh  # type: ignore[method-assign]
    try:
        await tab.sign_in()
        clock.advance(3600)
        answers = await asyncio.gather(*(tab.app.get("/profile") for _ in range(8)))
    finally:
        await tab.aclose()

    assert [answer.status_code for answer in answers] == [200] * 8
    assert refreshes == 1


async def test_a_session_whose_refresh_token_was_revoked_ends_at_expiry(dev: Dev, clock: Clock) -> None:
    app, sign_in = build_app(dev, clock)
    tab = Browser(app, dev)
    try:
        await tab.sign_in()
        session = sign_in.web.sessions.load(dict(tab.app.cookies.items()))
        assert session is not None
        revoked = dev.http.post(
            "/oauth2/revoke", data={"token": session["tokens"]["refresh_token"], "client_id": "local-client"}
        )
        assert revoked.status_code == 200
        clock.advance(3600)
        response = await tab.app.get("/profile", headers={"Accept": "application/json"})
    finally:
        await tab.aclose()

    assert response.status_code == 401


async def test_logout_clears_the_session_and_goes_to_cognito_logout(browser: Browser) -> None:
    await browser.sign_in()

    response = await browser.app.get("/auth/logout")

    location = urlsplit(response.headers["location"])
    assert response.status_code == 302
    assert location.path == "/logout"
    assert parse_qs(location.query) == {"client_id": ["local-client"], "logout_uri": [f"{APP}/"]}
    assert (await browser.app.get("/", headers={"Accept": "application/json"})).json() == {"user": None}


async def test_logout_revokes_the_refresh_token(browser: Browser, dev: Dev, clock: Clock) -> None:
    callback = await browser.sign_in()
    assert callback.status_code == 302
    stolen = dict(browser.app.cookies.items())  # someone copied the cookies before sign-out
    await browser.app.get("/auth/logout")
    browser.app.cookies.clear()
    for name, value in stolen.items():
        browser.app.cookies.set(name, value)
    clock.advance(3600)

    response = await browser.app.get("/profile", headers={"Accept": "application/json"})

    assert response.status_code == 401


async def test_server_side_sessions_keep_tokens_out_of_the_cookie(dev: Dev, clock: Clock) -> None:
    app, _ = build_app(dev, clock, store=MemorySessionStore(clock=clock))
    tab = Browser(app, dev)
    try:
        callback = await tab.sign_in()
        profile = await tab.app.get("/profile")
    finally:
        await tab.aclose()

    session_cookies = [
        value for value in callback.headers.get_list("set-cookie") if value.startswith("cognito_session")
    ]
    assert len(session_cookies) == 1
    assert len(session_cookies[0]) < 400
    assert profile.json()["username"] == "alice"


async def test_a_refresh_while_the_hosted_ui_is_down_answers_503_and_keeps_the_session(dev: Dev, clock: Clock) -> None:
    app, sign_in = build_app(dev, clock)
    tab = Browser(app, dev)
    original = sign_in.client.refresh

    async def unreachable(refresh_token: str) -> Any:
        raise HostedUIUnavailableError("the token endpoint did not answer")

    try:
        await tab.sign_in()
        clock.advance(3600)
        sign_in.client.refresh = unreachable  # type: ignore[method-assign]
        down = await tab.app.get("/profile")
        sign_in.client.refresh = original  # type: ignore[method-assign]
        clock.advance(10)  # a failed refresh answers the requests right behind it for 5 s
        back = await tab.app.get("/profile")
    finally:
        await tab.aclose()

    assert down.status_code == 503
    assert session_cookies(down) == []  # not signed out by an outage
    assert back.status_code == 200


async def test_keys_that_cannot_be_fetched_answer_503_not_500(dev: Dev, clock: Clock) -> None:
    app, _ = build_app(dev, clock)
    tab = Browser(app, dev)
    try:
        await tab.sign_in()
        cookies = dict(tab.app.cookies.items())
    finally:
        await tab.aclose()
    dead = HostedUIClient(
        domain=dev.base_url,
        client_id="local-client",
        redirect_uri=f"{APP}/auth/callback",
        clock=clock,
        verifier=CognitoVerifier(
            user_pool_id="us-east-1_LocalDev",
            client_id="local-client",
            token_use="id",
            issuer=dev.issuer,
            jwks_uri=f"http://127.0.0.1:{free_port()}/jwks.json",  # nothing listens there
            clock=clock,
        ),
    )
    sign_in = FastAPISignIn(dead, secret_key="test-secret-key-0123456789abcdef", clock=clock)
    other = FastAPI(middleware=[sign_in.middleware])

    @other.get("/profile")
    async def profile(user: Annotated[SignedInUser, Depends(sign_in.login_required())]) -> str:
        return "profile"

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url=APP, cookies=cookies) as client:
        response = await client.get("/profile", headers={"Accept": "application/json"})
    dead.close()

    assert response.status_code == 503
    assert response.json()["code"] == "keys_unavailable"


@pytest.mark.parametrize("next_path", ["/" + " " * 2000, "/" + "あ" * 600, "/" + "x" * 5000])
async def test_a_huge_or_non_ascii_next_still_starts_the_sign_in(browser: Browser, next_path: str) -> None:
    response = await browser.app.get("/auth/login", params={"next": next_path})

    assert response.status_code == 302
    assert response.headers["location"].startswith(f"{browser.cognito.base_url}/oauth2/authorize?")


async def test_cookies_are_secure_when_the_redirect_uri_is_https_whatever_the_request_says(
    dev: Dev, clock: Clock
) -> None:
    client = HostedUIClient(
        domain=dev.base_url,
        user_pool_id="us-east-1_LocalDev",
        issuer=dev.issuer,
        client_id="local-client",
        redirect_uri="https://app.example.com/auth/callback",
        clock=clock,
    )
    sign_in = FastAPISignIn(client, secret_key="test-secret-key-0123456789abcdef", clock=clock)
    app = FastAPI(middleware=[sign_in.middleware])
    app.include_router(sign_in.router)
    # Behind a proxy that sends `Host: 127.0.0.1:8000` upstream, the app sees plain http on a loopback host.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000") as http:
        response = await http.get("/auth/login")
    client.close()

    assert response.headers.get_list("set-cookie")
    assert all("; Secure" in cookie for cookie in response.headers.get_list("set-cookie"))


class CountingStore(MemorySessionStore):
    def __init__(self, clock: Clock) -> None:
        super().__init__(clock=clock)
        self.writes = 0

    def set(self, key: str, data: Any, *, ttl: float) -> None:
        self.writes += 1
        super().set(key, data, ttl=ttl)


async def test_anonymous_sign_in_starts_never_write_to_the_session_store(dev: Dev, clock: Clock) -> None:
    store = CountingStore(clock)
    app, _ = build_app(dev, clock, store=store)
    tab = Browser(app, dev)
    try:
        for _ in range(20):
            await tab.start()
    finally:
        await tab.aclose()

    assert store.writes == 0  # so they cannot push signed-in users' sessions out of a bounded store


async def test_free_text_in_an_error_redirect_is_not_shown(browser: Browser) -> None:
    response = await browser.app.get("/auth/callback", params={"error": "Your account is locked. Call +1-555-0100"})

    assert response.status_code == 400
    assert "555" not in response.text
    assert "unrecognised error" in response.text


async def test_concurrent_requests_share_one_failed_refresh(dev: Dev, clock: Clock) -> None:
    app, sign_in = build_app(dev, clock)
    tab = Browser(app, dev)
    calls = 0

    async def unreachable(refresh_token: str) -> Any:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)  # yield, so the other requests queue behind this refresh
        raise HostedUIUnavailableError("the token endpoint did not answer")

    try:
        await tab.sign_in()
        clock.advance(3600)
        sign_in.client.refresh = unreachable  # type: ignore[method-assign]
        answers = await asyncio.gather(*(tab.app.get("/profile") for _ in range(8)))
    finally:
        await tab.aclose()

    assert [answer.status_code for answer in answers] == [503] * 8
    assert calls == 1


async def test_a_response_carrying_a_refreshed_session_is_not_cacheable(browser: Browser, clock: Clock) -> None:
    await browser.sign_in()
    clock.advance(3600)

    response = await browser.app.get("/profile")

    assert session_cookies(response)
    assert response.headers["cache-control"] == "private, no-store"


async def test_a_session_too_large_for_cookies_gets_an_error_page_not_an_exception(dev: Dev, clock: Clock) -> None:
    app, _ = build_app(dev, clock, cookie=CookieSettings(chunk_size=200))  # 10 chunks of 200: far too small
    tab = Browser(app, dev)
    try:
        response = await tab.sign_in()
    finally:
        await tab.aclose()

    assert response.status_code == 500
    assert "SessionStore" in response.text
