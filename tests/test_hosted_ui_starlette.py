"""Hosted-UI sign-in for Starlette apps, end to end over real HTTP: the Starlette adapter in front (its routes, its
middleware, ``login_required`` on async and sync endpoints, ``get_user``), the local Cognito stand-in (on 127.0.0.1,
shared clock) behind. The test plays the browser with httpx: it follows the app's redirect to the stand-in's sign-in
form, posts the credentials and brings the callback URL back to the app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from conftest import Clock
from devserver_support import Dev, running
from signin_support import APP, Browser, hosted_ui_client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import Message
from starlette.websockets import WebSocket

from cognito_guard import ConfigurationError
from cognito_guard.hosted_ui import MemorySessionStore, SignedInUser
from cognito_guard.hosted_ui.starlette import StarletteSignIn
from cognito_guard.testing import SigningKeyPair

JSON = {"Accept": "application/json"}


@pytest.fixture
def dev(clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> Iterator[Dev]:
    with running(clock, session_keys) as stand_in:
        yield stand_in


def profile_of(user: SignedInUser) -> dict[str, Any]:
    return {"username": user.username, "email": user.email, "groups": list(user.groups)}


def build_app(dev: Dev, clock: Clock, **options: Any) -> tuple[Starlette, StarletteSignIn]:
    sign_in = StarletteSignIn(
        hosted_ui_client(dev, clock), secret_key="test-secret-key-0123456789abcdef", clock=clock, **options
    )

    async def home(request: Request) -> JSONResponse:
        user = await sign_in.get_user(request)
        return JSONResponse({"user": user.username if user else None})

    @sign_in.login_required()
    async def profile(request: Request) -> JSONResponse:
        return JSONResponse(profile_of(request.state.user))

    @sign_in.login_required()
    def sync_profile(request: Request) -> JSONResponse:
        return JSONResponse(profile_of(request.state.user))

    @sign_in.login_required(groups="admin")
    async def admin(request: Request) -> PlainTextResponse:
        return PlainTextResponse("admin")

    app = Starlette(
        routes=[
            *sign_in.routes,
            Route("/", home),
            Route("/profile", profile),
            Route("/sync-profile", sync_profile),
            Route("/admin", admin),
        ],
        middleware=[sign_in.middleware],
    )
    return app, sign_in


def record_calls(target: object, method: str) -> list[tuple[Any, ...]]:
    """Replace the coroutine method ``target.method`` by a wrapper that records each call's arguments."""
    calls: list[tuple[Any, ...]] = []
    original = getattr(target, method)

    async def recording(*args: Any) -> Any:
        calls.append(args)
        return await original(*args)

    setattr(target, method, recording)
    return calls


def session_cookies(response: httpx.Response) -> list[str]:
    return [value for value in response.headers.get_list("set-cookie") if value.startswith("cognito_session")]


@pytest.fixture
async def app_and_sign_in(dev: Dev, clock: Clock) -> AsyncIterator[tuple[Starlette, StarletteSignIn]]:
    app, sign_in = build_app(dev, clock)
    yield app, sign_in
    await sign_in.aclose()


@pytest.fixture
async def browser(app_and_sign_in: tuple[Starlette, StarletteSignIn], dev: Dev) -> AsyncIterator[Browser]:
    tab = Browser(app_and_sign_in[0], dev)
    yield tab
    await tab.aclose()


@pytest.fixture
def sign_in(app_and_sign_in: tuple[Starlette, StarletteSignIn]) -> StarletteSignIn:
    return app_and_sign_in[1]


# -- signing in -------------------------------------------------------------------------------------------------------


async def test_a_browser_without_a_session_is_sent_to_sign_in_with_next(browser: Browser) -> None:
    response = await browser.app.get("/profile?tab=1")

    assert response.status_code == 302
    assert response.headers["location"] == "/auth/login?next=%2Fprofile%3Ftab%3D1"


async def raw_get(app: Starlette, path: str, query_string: bytes) -> Message:
    """The response start of a GET sent straight to the ASGI app, with query bytes no HTTP client would send."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query_string,
        "root_path": "",
        "headers": [(b"host", b"localhost:8000"), (b"accept", b"text/html")],
        "server": ("localhost", 8000),
        "client": ("127.0.0.1", 50000),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]


@pytest.mark.parametrize("path", ["/profile", "/auth/login"])
async def test_a_query_that_is_not_utf8_is_read_not_refused_with_a_500(
    app_and_sign_in: tuple[Starlette, StarletteSignIn], path: str
) -> None:
    start = await raw_get(app_and_sign_in[0], path, b"next=\xff")

    assert start["status"] == 302


async def test_a_callback_with_a_query_that_is_not_utf8_gets_400(
    app_and_sign_in: tuple[Starlette, StarletteSignIn],
) -> None:
    start = await raw_get(app_and_sign_in[0], "/auth/callback", b"state=\xff&code=x")

    assert start["status"] == 400


async def test_signing_in_lands_on_the_page_that_asked_for_it(browser: Browser) -> None:
    refused = await browser.app.get("/profile")

    callback = await browser.sign_in(path=refused.headers["location"])

    assert callback.status_code == 302
    assert callback.headers["location"] == "/profile"


async def test_the_profile_shows_the_id_token_of_the_signed_in_user(browser: Browser) -> None:
    await browser.sign_in()

    profile = await browser.app.get("/profile")

    assert profile.status_code == 200
    assert profile.json() == {"username": "alice", "email": "alice@example.com", "groups": ["admin", "users"]}


async def test_a_sync_endpoint_gets_the_signed_in_user(browser: Browser) -> None:
    await browser.sign_in()

    profile = await browser.app.get("/sync-profile")

    assert profile.status_code == 200
    assert profile.json()["username"] == "alice"


async def test_get_user_gives_the_signed_in_user(browser: Browser) -> None:
    await browser.sign_in()

    response = await browser.app.get("/", headers=JSON)

    assert response.json() == {"user": "alice"}


async def test_get_user_gives_none_without_a_session(browser: Browser) -> None:
    response = await browser.app.get("/", headers=JSON)

    assert response.json() == {"user": None}


async def test_the_session_cookie_is_httponly_lax_and_not_secure_on_localhost(browser: Browser) -> None:
    callback = await browser.sign_in()

    cookies = session_cookies(callback)
    assert cookies
    for cookie in cookies:
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
        assert "Path=/" in cookie
        assert "Secure" not in cookie


# -- refusing -------------------------------------------------------------------------------------------------------


async def test_an_api_client_without_a_session_gets_401_json(browser: Browser) -> None:
    response = await browser.app.get("/profile", headers=JSON)

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["code"] == "not_authenticated"


async def test_a_sync_endpoint_refuses_an_api_client_without_a_session(browser: Browser) -> None:
    response = await browser.app.get("/sync-profile", headers=JSON)

    assert response.status_code == 401


async def test_a_user_outside_the_required_group_gets_a_403_page(browser: Browser) -> None:
    await browser.sign_in("bob")

    response = await browser.app.get("/admin")

    assert response.status_code == 403
    assert "Forbidden" in response.text


async def test_a_member_of_the_required_group_gets_in(browser: Browser) -> None:
    await browser.sign_in("alice")

    response = await browser.app.get("/admin")

    assert response.status_code == 200
    assert response.text == "admin"


async def test_get_user_without_the_middleware_raises_configuration_error(dev: Dev, clock: Clock) -> None:
    sign_in = StarletteSignIn(hosted_ui_client(dev, clock), secret_key="test-secret-key-0123456789abcdef")

    async def home(request: Request) -> JSONResponse:
        user = await sign_in.get_user(request)
        return JSONResponse({"user": user.username if user else None})

    app = Starlette(routes=[Route("/", home)])  # no sign_in.middleware
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=APP) as client:
            with pytest.raises(ConfigurationError, match="middleware"):
                await client.get("/")
    finally:
        await sign_in.aclose()


async def test_get_user_on_a_websocket_is_none_without_a_session(dev: Dev, clock: Clock) -> None:
    sign_in = StarletteSignIn(hosted_ui_client(dev, clock), secret_key="test-secret-key-0123456789abcdef")

    async def greet(websocket: WebSocket) -> None:
        await websocket.accept()
        user = await sign_in.get_user(websocket)  # typed HTTPConnection: a WebSocket is one
        await websocket.send_json({"user": user.username if user else None})
        await websocket.close()

    app = Starlette(routes=[WebSocketRoute("/ws", greet)], middleware=[sign_in.middleware])
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "server": ("localhost", 8000),
        "client": ("127.0.0.1", 50000),
        "path": "/ws",
        "raw_path": b"/ws",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"localhost:8000")],
        "subprotocols": [],
    }
    incoming: list[Message] = [{"type": "websocket.connect"}]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Message) -> None:
        sent.append(message)

    try:
        await app(scope, receive, send)
    finally:
        await sign_in.aclose()

    assert [message.get("text") for message in sent if message["type"] == "websocket.send"] == ['{"user":null}']


async def test_an_endpoint_without_a_request_parameter_is_refused_when_decorated(sign_in: StarletteSignIn) -> None:
    async def no_request() -> PlainTextResponse:
        return PlainTextResponse("never")

    with pytest.raises(ConfigurationError, match="request"):
        sign_in.login_required()(no_request)


# -- the callback ---------------------------------------------------------------------------------------------------


async def test_next_must_be_a_local_path(browser: Browser) -> None:
    callback = await browser.sign_in(path="/auth/login?next=https://evil.example/")

    assert callback.headers["location"] == "/"


async def test_a_scheme_relative_next_is_refused(browser: Browser) -> None:
    callback = await browser.sign_in(path="/auth/login?next=//evil.example/")

    assert callback.headers["location"] == "/"


async def test_a_callback_cannot_be_replayed(browser: Browser) -> None:
    callback = await browser.sign_in_at_cognito(await browser.start())
    assert (await browser.app.get(callback)).status_code == 302

    replay = await browser.app.get(callback)

    assert replay.status_code == 400


async def test_a_sign_in_cookie_planted_by_another_site_cannot_sign_the_browser_in(
    app_and_sign_in: tuple[Starlette, StarletteSignIn], dev: Dev, browser: Browser
) -> None:
    # Login CSRF: a sibling subdomain starts a sign-in of its own, signs in to its own account, plants its sign-in
    # cookie (Path=/auth, where __Host- is impossible) in the victim's browser and sends the victim to the callback.
    attacker = Browser(app_and_sign_in[0], dev)
    callback = await attacker.sign_in_at_cognito(await attacker.start())
    # Only the sign-in's own cookie: on https its browser cookie is __Host-, which no other site can set.
    planted = [(name, value) for name, value in held(attacker) if not name.startswith("cognito_signin_browser_")]
    await attacker.aclose()
    await browser.app.get("/auth/login")  # the victim has a browser cookie of its own (or none at all)

    response = await browser.app.get(callback, headers={"Cookie": cookie_header(held(browser) + planted)})

    assert response.status_code == 400
    assert not session_cookies(response) or all("Max-Age=0" in cookie for cookie in session_cookies(response))


async def test_an_error_redirect_from_the_hosted_ui_shows_the_oauth_code(browser: Browser) -> None:
    state = parse_qs(urlsplit(await browser.start()).query)["state"][0]

    response = await browser.app.get("/auth/callback", params={"error": "access_denied", "state": state})

    assert response.status_code == 400
    assert "access_denied" in response.text


async def test_a_callback_replayed_with_a_copy_of_the_sign_in_cookie_never_reaches_cognito(
    browser: Browser, sign_in: StarletteSignIn
) -> None:
    exchanges = record_calls(sign_in.client, "exchange_code")
    login = await browser.app.get("/auth/login")
    pending = [
        header.split(";")[0] for header in login.headers.get_list("set-cookie") if header.startswith("cognito_signin_")
    ]
    assert len(pending) == 2  # the sign-in's cookie and the browser cookie it is tied to
    callback = await browser.sign_in_at_cognito(login.headers["location"])
    assert (await browser.app.get(callback)).status_code == 302

    # the attacker brings the sign-in cookies back along with the callback URL
    replay = await browser.app.get(callback, headers={"Cookie": "; ".join(pending)})

    assert replay.status_code == 400
    assert len(exchanges) == 1  # refused by the app, not only by Cognito's single-use code


# -- refresh --------------------------------------------------------------------------------------------------------


async def test_an_expired_session_is_refreshed_transparently(browser: Browser, clock: Clock) -> None:
    await browser.sign_in()
    clock.advance(3600)  # the tokens' lifetime in the default pool

    response = await browser.app.get("/profile")

    assert response.status_code == 200
    assert response.json()["username"] == "alice"


async def test_the_refreshed_session_cookie_is_set_on_the_response(browser: Browser, clock: Clock) -> None:
    await browser.sign_in()
    clock.advance(3600)

    response = await browser.app.get("/profile")

    assert session_cookies(response)


async def test_the_refreshed_cookie_needs_no_further_refresh(
    browser: Browser, sign_in: StarletteSignIn, clock: Clock
) -> None:
    refreshes = record_calls(sign_in.client, "refresh")
    await browser.sign_in()
    clock.advance(3600)
    await browser.app.get("/profile")
    clock.advance(600)  # past the window in which a refreshed token set is reused for the old cookie

    response = await browser.app.get("/profile")

    assert response.status_code == 200
    assert len(refreshes) == 1


async def test_a_sync_endpoint_refreshes_too(browser: Browser, clock: Clock) -> None:
    await browser.sign_in()
    clock.advance(3600)

    response = await browser.app.get("/sync-profile")

    assert response.status_code == 200
    assert session_cookies(response)


async def test_get_user_refreshes_and_sets_the_cookie(browser: Browser, clock: Clock) -> None:
    await browser.sign_in()
    clock.advance(3600)

    response = await browser.app.get("/", headers=JSON)

    assert response.json() == {"user": "alice"}
    assert session_cookies(response)


async def test_concurrent_requests_after_expiry_refresh_once(dev: Dev, clock: Clock) -> None:
    app, sign_in = build_app(dev, clock)
    tab = Browser(app, dev)
    refreshes = record_calls(sign_in.client, "refresh")
    try:
        await tab.sign_in()
        clock.advance(3600)
        answers = await asyncio.gather(*(tab.app.get(path) for path in ["/profile", "/sync-profile", "/"] * 3))
    finally:
        await tab.aclose()
        await sign_in.aclose()

    assert [answer.status_code for answer in answers] == [200] * 9
    assert len(refreshes) == 1


# -- logout ---------------------------------------------------------------------------------------------------------


async def test_logout_goes_to_the_cognito_logout_endpoint(browser: Browser, dev: Dev) -> None:
    await browser.sign_in()

    response = await browser.app.get("/auth/logout")

    location = urlsplit(response.headers["location"])
    assert response.status_code == 302
    assert f"{location.scheme}://{location.netloc}" == dev.base_url
    assert location.path == "/logout"
    assert parse_qs(location.query) == {"client_id": ["local-client"], "logout_uri": [f"{APP}/"]}


async def test_logout_clears_the_session(browser: Browser) -> None:
    await browser.sign_in()

    logout = await browser.app.get("/auth/logout")

    assert session_cookies(logout)
    assert all("Max-Age=0" in cookie for cookie in session_cookies(logout))
    assert (await browser.app.get("/", headers=JSON)).json() == {"user": None}


def cookie_header(cookies: list[tuple[str, str]]) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies)


def held(browser: Browser) -> list[tuple[str, str]]:
    """The app cookies the browser holds, as name-value pairs."""
    return [(cookie.name, cookie.value or "") for cookie in browser.app.cookies.jar]


def cookie_header_with_a_planted_session(browser: Browser, planted_first: bool) -> str:
    """The browser's own cookies plus a second ``cognito_session`` (as a sibling subdomain could plant one)."""
    planted = [("cognito_session", "planted-by-someone-else")]
    return cookie_header(planted + held(browser) if planted_first else held(browser) + planted)


@pytest.mark.parametrize("planted_first", [True, False])
async def test_a_second_session_cookie_means_signed_out(browser: Browser, planted_first: bool) -> None:
    await browser.sign_in()
    cookie = cookie_header_with_a_planted_session(browser, planted_first)

    response = await browser.app.get("/", headers={**JSON, "Cookie": cookie})

    assert response.json() == {"user": None}


async def test_logout_clears_a_session_cookie_that_came_twice(browser: Browser) -> None:
    await browser.sign_in()
    cookie = cookie_header_with_a_planted_session(browser, planted_first=True)

    logout = await browser.app.get("/auth/logout", headers={"Cookie": cookie})

    assert "cognito_session=; Path=/; Max-Age=0" in " ".join(session_cookies(logout))


async def test_a_callback_with_two_states_is_refused(browser: Browser) -> None:
    callback = await browser.sign_in_at_cognito(await browser.start())
    state = parse_qs(urlsplit(callback).query)["state"][0]

    response = await browser.app.get(f"{callback}&state={state}")

    assert response.status_code == 400


async def test_planted_cookies_cannot_slip_in_someone_elses_whole_session(
    app_and_sign_in: tuple[Starlette, StarletteSignIn], dev: Dev, browser: Browser
) -> None:
    await browser.sign_in()  # alice
    attacker = Browser(app_and_sign_in[0], dev)
    await attacker.sign_in("bob")
    alice = held(browser)
    bob = [value for name, value in held(attacker) if name.startswith("cognito_session")]
    await attacker.aclose()
    # Each of alice's chunks is planted a second time (both copies then count as empty), and bob's whole session
    # follows as the next chunks: joined, the chunks would spell bob's session.
    own = [name for name, _ in alice if name.startswith("cognito_session")]
    planted = [(name, "planted") for name in own]
    planted += [(f"cognito_session.{len(own) + index}", value) for index, value in enumerate(bob)]

    response = await browser.app.get("/", headers={**JSON, "Cookie": cookie_header(planted + alice)})

    assert response.json() == {"user": None}


async def test_logout_next_to_a_planted_session_cookie_still_revokes_the_refresh_token(
    browser: Browser, clock: Clock
) -> None:
    await browser.sign_in()
    stolen = held(browser)  # copied before sign-out
    planted = cookie_header_with_a_planted_session(browser, planted_first=True)
    await browser.app.get("/auth/logout", headers={"Cookie": planted})
    clock.advance(3600)

    response = await browser.app.get("/profile", headers={**JSON, "Cookie": cookie_header(stolen)})

    assert response.status_code == 401


async def test_logout_next_to_a_planted_session_cookie_still_ends_a_server_side_session(dev: Dev, clock: Clock) -> None:
    app, sign_in = build_app(dev, clock, store=MemorySessionStore(clock=clock), revoke_on_logout=False)
    tab = Browser(app, dev)
    try:
        await tab.sign_in()
        stolen = held(tab)
        planted = cookie_header_with_a_planted_session(tab, planted_first=False)
        await tab.app.get("/auth/logout", headers={"Cookie": planted})

        response = await tab.app.get("/profile", headers={**JSON, "Cookie": cookie_header(stolen)})
    finally:
        await tab.aclose()
        await sign_in.aclose()

    assert response.status_code == 401


async def test_logout_revokes_the_refresh_token(browser: Browser, clock: Clock) -> None:
    await browser.sign_in()
    stolen = dict(browser.app.cookies.items())  # someone copied the cookies before sign-out
    await browser.app.get("/auth/logout")
    browser.app.cookies.clear()
    for name, value in stolen.items():
        browser.app.cookies.set(name, value)
    clock.advance(3600)

    response = await browser.app.get("/profile", headers=JSON)

    assert response.status_code == 401


async def test_without_revocation_a_copied_session_outlives_logout(dev: Dev, clock: Clock) -> None:
    """The contrast to the test above: what revocation protects against."""
    app, sign_in = build_app(dev, clock, revoke_on_logout=False)
    tab = Browser(app, dev)
    try:
        await tab.sign_in()
        stolen = dict(tab.app.cookies.items())
        await tab.app.get("/auth/logout")
        tab.app.cookies.clear()
        for name, value in stolen.items():
            tab.app.cookies.set(name, value)
        clock.advance(3600)
        response = await tab.app.get("/profile", headers=JSON)
    finally:
        await tab.aclose()
        await sign_in.aclose()

    assert response.status_code == 200


# -- server-side sessions -------------------------------------------------------------------------------------------


async def test_server_side_sessions_sign_in_with_a_small_cookie(dev: Dev, clock: Clock) -> None:
    app, sign_in = build_app(dev, clock, store=MemorySessionStore(clock=clock))
    tab = Browser(app, dev)
    try:
        callback = await tab.sign_in()
        profile = await tab.app.get("/profile")
    finally:
        await tab.aclose()
        await sign_in.aclose()

    cookies = session_cookies(callback)
    assert len(cookies) == 1
    assert len(cookies[0]) < 400
    assert profile.json()["username"] == "alice"
