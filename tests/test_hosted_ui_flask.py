"""Hosted-UI sign-in for Flask apps, end to end: the Flask adapter in front (driven by Flask's test client, which
keeps the app's cookies), the local Cognito stand-in (on 127.0.0.1, shared clock) behind, reached over HTTP with
httpx. The test plays the browser: it follows the app's redirect to the stand-in's sign-in form, posts the
credentials and brings the callback URL back to the app."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from conftest import Clock
from devserver_support import PASSWORD, Dev, form_fields, running
from flask import Flask
from flask.testing import FlaskClient
from signin_support import APP, hosted_ui_client
from werkzeug.serving import make_server
from werkzeug.test import TestResponse

from cognito_guard import Claims, ConfigurationError
from cognito_guard.errors import HostedUIUnavailableError
from cognito_guard.hosted_ui import MemorySessionStore
from cognito_guard.hosted_ui.flask import FlaskSignIn
from cognito_guard.testing import SigningKeyPair

HTML = "text/html,application/xhtml+xml"
JSON = "application/json"
SESSION_COOKIES = ("cognito_session", *(f"cognito_session.{index}" for index in range(1, 10)))


@pytest.fixture
def dev(clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> Iterator[Dev]:
    with running(clock, session_keys) as stand_in:
        yield stand_in


def build_app(dev: Dev, clock: Clock, **options: Any) -> tuple[Flask, FlaskSignIn]:
    sign_in = FlaskSignIn(
        hosted_ui_client(dev, clock), secret_key="test-secret-key-0123456789abcdef", clock=clock, **options
    )
    app = Flask(__name__)
    app.register_blueprint(sign_in.blueprint, url_prefix=sign_in.prefix)

    @app.get("/")
    def home() -> dict[str, Any]:
        user = sign_in.current_user()
        return {"user": user.username if user else None}

    @app.get("/profile")
    @sign_in.login_required()
    def profile() -> dict[str, Any]:
        user = sign_in.current_user()
        assert user is not None
        return {"username": user.username, "email": user.email, "groups": list(user.groups)}

    @app.get("/admin")
    @sign_in.login_required(groups="admin")
    def admin() -> str:
        return "admin"

    return app, sign_in


class Browser:
    """One browser: Flask's test client for the app (its cookie jar) and an httpx client for the stand-in."""

    def __init__(self, app: Flask, dev: Dev) -> None:
        self.app: FlaskClient = app.test_client()
        self.cognito = httpx.Client(base_url=dev.base_url, headers={"Accept": HTML})

    def get(self, url: str, *, accept: str = HTML) -> TestResponse:
        """GET a path (or a full URL of the app) as the browser would, at ``http://localhost:8000``."""
        parts = urlsplit(url)
        assert not parts.netloc or f"{parts.scheme}://{parts.netloc}" == APP, url
        return self.app.get(parts.path, query_string=parts.query, base_url=APP, headers={"Accept": accept})

    def start(self, path: str = "/auth/login") -> str:
        """GET a login URL of the app; returns the hosted-UI URL it redirects to."""
        response = self.get(path)
        assert response.status_code == 302, response.text
        location = response.headers["Location"]
        assert location.startswith(str(self.cognito.base_url))
        return location

    def sign_in_at_cognito(self, authorize_url: str, username: str = "alice") -> str:
        """The hosted-UI part: the form (unless the stand-in's session skips it); returns the app callback URL."""
        page = self.cognito.get(authorize_url)
        if page.status_code == 200:
            form = {**form_fields(page.text), "username": username, "password": PASSWORD}
            page = self.cognito.post("/login", data=form)
        assert page.status_code == 302, page.text
        callback: str = page.headers["location"]
        assert callback.startswith(f"{APP}/auth/callback")
        return callback

    def sign_in(self, username: str = "alice", path: str = "/auth/login") -> TestResponse:
        """The whole flow; returns the app's answer to the callback."""
        return self.get(self.sign_in_at_cognito(self.start(path), username))

    def session_cookies(self) -> dict[str, str]:
        """The session cookies the browser holds (to copy them, as someone stealing them would)."""
        held = {}
        for name in SESSION_COOKIES:
            cookie = self.app.get_cookie(name, domain="localhost", path="/")
            if cookie is not None:
                held[name] = cookie.value
        return held

    def restore_session_cookies(self, cookies: dict[str, str]) -> None:
        for name in SESSION_COOKIES:
            self.app.delete_cookie(name, domain="localhost", path="/")
        for name, value in cookies.items():
            self.app.set_cookie(name, value, domain="localhost", path="/")

    def close(self) -> None:
        self.cognito.close()


def record_calls(target: object, method: str) -> list[tuple[Any, ...]]:
    """Replace ``target.method`` by a wrapper that records each call's arguments (thread-safe: list.append)."""
    calls: list[tuple[Any, ...]] = []
    original = getattr(target, method)

    def recording(*args: Any) -> Any:
        calls.append(args)
        return original(*args)

    setattr(target, method, recording)
    return calls


def session_set_cookies(response: TestResponse) -> list[str]:
    return [value for value in response.headers.getlist("Set-Cookie") if value.startswith("cognito_session")]


@pytest.fixture
def app_and_sign_in(dev: Dev, clock: Clock) -> Iterator[tuple[Flask, FlaskSignIn]]:
    app, sign_in = build_app(dev, clock)
    yield app, sign_in
    sign_in.client.close()


@pytest.fixture
def browser(app_and_sign_in: tuple[Flask, FlaskSignIn], dev: Dev) -> Iterator[Browser]:
    tab = Browser(app_and_sign_in[0], dev)
    yield tab
    tab.close()


@pytest.fixture
def sign_in(app_and_sign_in: tuple[Flask, FlaskSignIn]) -> FlaskSignIn:
    return app_and_sign_in[1]


# -- signing in -------------------------------------------------------------------------------------------------------


def test_a_browser_without_a_session_is_sent_to_sign_in_with_next(browser: Browser) -> None:
    response = browser.get("/profile?tab=1")

    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login?next=%2Fprofile%3Ftab%3D1"


def test_signing_in_lands_on_the_page_that_asked_for_it(browser: Browser) -> None:
    refused = browser.get("/profile")

    callback = browser.sign_in(path=refused.headers["Location"])

    assert callback.status_code == 302
    assert callback.headers["Location"] == "/profile"


def test_the_profile_shows_the_id_token_of_the_signed_in_user(browser: Browser) -> None:
    browser.sign_in()

    profile = browser.get("/profile")

    assert profile.status_code == 200
    assert profile.get_json() == {"username": "alice", "email": "alice@example.com", "groups": ["admin", "users"]}


def test_current_user_is_none_without_a_session(browser: Browser) -> None:
    response = browser.get("/", accept=JSON)

    assert response.get_json() == {"user": None}


def test_the_session_cookie_is_httponly_lax_and_not_secure_on_localhost(browser: Browser) -> None:
    callback = browser.sign_in()

    cookies = session_set_cookies(callback)
    assert cookies
    for cookie in cookies:
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
        assert "Path=/" in cookie
        assert "Secure" not in cookie


# -- refusing -------------------------------------------------------------------------------------------------------


def test_an_api_client_without_a_session_gets_401_json(browser: Browser) -> None:
    response = browser.get("/profile", accept=JSON)

    assert response.status_code == 401
    assert response.mimetype == "application/json"
    assert response.get_json()["code"] == "not_authenticated"


def test_a_user_outside_the_required_group_gets_a_403_page(browser: Browser) -> None:
    browser.sign_in("bob")

    response = browser.get("/admin")

    assert response.status_code == 403
    assert "Forbidden" in response.text


def test_a_member_of_the_required_group_gets_in(browser: Browser) -> None:
    browser.sign_in("alice")

    response = browser.get("/admin")

    assert response.status_code == 200
    assert response.text == "admin"


def test_an_async_predicate_is_refused_when_decorating_a_view(sign_in: FlaskSignIn) -> None:
    async def is_staff(claims: Claims) -> bool:
        return True

    with pytest.raises(ConfigurationError, match="sync"):

        @sign_in.login_required(predicate=is_staff)
        def staff() -> str:
            return "staff"


# -- the callback ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/profile", "/auth/login"])
def test_a_query_that_is_not_utf8_is_read_not_refused_with_a_500(browser: Browser, path: str) -> None:
    # WSGI hands the query over as latin-1 text: "\xff" is the byte 0xff, which is not UTF-8.
    response = browser.app.get(
        path, base_url=APP, headers={"Accept": HTML}, environ_overrides={"QUERY_STRING": "next=\xff"}
    )

    assert response.status_code == 302


def test_a_callback_with_a_query_that_is_not_utf8_gets_400(browser: Browser) -> None:
    response = browser.app.get("/auth/callback", base_url=APP, environ_overrides={"QUERY_STRING": "state=\xff&code=x"})

    assert response.status_code == 400


def test_next_must_be_a_local_path(browser: Browser) -> None:
    callback = browser.sign_in(path="/auth/login?next=https://evil.example/")

    assert callback.headers["Location"] == "/"


def test_a_scheme_relative_next_is_refused(browser: Browser) -> None:
    callback = browser.sign_in(path="/auth/login?next=//evil.example/")

    assert callback.headers["Location"] == "/"


def test_a_callback_cannot_be_replayed(browser: Browser) -> None:
    callback = browser.sign_in_at_cognito(browser.start())
    assert browser.get(callback).status_code == 302

    replay = browser.get(callback)

    assert replay.status_code == 400


def test_an_error_redirect_from_the_hosted_ui_shows_the_oauth_code(browser: Browser) -> None:
    state = parse_qs(urlsplit(browser.start()).query)["state"][0]

    response = browser.get(f"/auth/callback?error=access_denied&state={state}")

    assert response.status_code == 400
    assert "access_denied" in response.text


def test_a_callback_replayed_with_a_copy_of_the_sign_in_cookie_never_reaches_cognito(
    browser: Browser, sign_in: FlaskSignIn
) -> None:
    exchanges = record_calls(sign_in.client, "exchange_code_sync")
    login = browser.get("/auth/login")
    pending = [
        header.split(";")[0].split("=", 1)
        for header in login.headers.getlist("Set-Cookie")
        if header.startswith("cognito_signin_")
    ]
    assert len(pending) == 2  # the sign-in's cookie and the browser cookie it is tied to
    callback = browser.sign_in_at_cognito(login.headers["Location"])
    assert browser.get(callback).status_code == 302
    for name, value in pending:  # the attacker brings the sign-in cookies back along with the callback URL
        browser.app.set_cookie(name, value, domain="localhost", path="/auth")

    replay = browser.get(callback)

    assert replay.status_code == 400
    assert len(exchanges) == 1  # refused by the app, not only by Cognito's single-use code


# -- refresh --------------------------------------------------------------------------------------------------------


def test_an_expired_session_is_refreshed_transparently(browser: Browser, clock: Clock) -> None:
    browser.sign_in()
    clock.advance(3600)  # the tokens' lifetime in the default pool

    response = browser.get("/profile")

    assert response.status_code == 200
    assert response.get_json()["username"] == "alice"


def test_the_refreshed_session_cookie_is_set_on_the_response(browser: Browser, clock: Clock) -> None:
    browser.sign_in()
    clock.advance(3600)

    response = browser.get("/profile")

    assert session_set_cookies(response)


def test_the_refreshed_cookie_needs_no_further_refresh(browser: Browser, sign_in: FlaskSignIn, clock: Clock) -> None:
    refreshes = record_calls(sign_in.client, "refresh_sync")
    browser.sign_in()
    clock.advance(3600)
    browser.get("/profile")
    clock.advance(600)  # past the window in which a refreshed token set is reused for the old cookie

    response = browser.get("/profile")

    assert response.status_code == 200
    assert len(refreshes) == 1


def test_current_user_refreshes_too(browser: Browser, clock: Clock) -> None:
    browser.sign_in()
    clock.advance(3600)

    response = browser.get("/", accept=JSON)

    assert response.get_json() == {"user": "alice"}
    assert session_set_cookies(response)


def test_concurrent_requests_after_expiry_refresh_once(dev: Dev, clock: Clock) -> None:
    app, sign_in = build_app(dev, clock)
    tab = Browser(app, dev)
    refreshes = record_calls(sign_in.client, "refresh_sync")
    together = threading.Barrier(8)

    def one_request(cookies: dict[str, str]) -> int:
        client = app.test_client()
        for name, value in cookies.items():
            client.set_cookie(name, value, domain="localhost", path="/")
        together.wait(timeout=30)  # a bound in case a thread fails, not a wait for time
        return client.get("/profile", base_url=APP, headers={"Accept": JSON}).status_code

    try:
        tab.sign_in()
        cookies = tab.session_cookies()
        clock.advance(3600)
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(one_request, [cookies] * 8))
    finally:
        tab.close()
        sign_in.client.close()

    assert statuses == [200] * 8
    assert len(refreshes) == 1


def test_a_refresh_while_the_hosted_ui_is_down_answers_503_and_keeps_the_session(dev: Dev, clock: Clock) -> None:
    app, sign_in = build_app(dev, clock)
    tab = Browser(app, dev)
    original = sign_in.client.refresh_sync

    def unreachable(refresh_token: str) -> Any:
        raise HostedUIUnavailableError("the token endpoint did not answer")

    try:
        tab.sign_in()
        clock.advance(3600)
        sign_in.client.refresh_sync = unreachable  # type: ignore[method-assign]
        down = tab.get("/profile")
        sign_in.client.refresh_sync = original  # type: ignore[method-assign]
        clock.advance(10)  # a failed refresh answers the requests right behind it for 5 s
        back = tab.get("/profile")
    finally:
        tab.close()
        sign_in.client.close()

    assert down.status_code == 503
    assert session_set_cookies(down) == []  # not signed out by an outage
    assert back.status_code == 200


# -- logout ---------------------------------------------------------------------------------------------------------


def test_logout_goes_to_the_cognito_logout_endpoint(browser: Browser, dev: Dev) -> None:
    browser.sign_in()

    response = browser.get("/auth/logout")

    location = urlsplit(response.headers["Location"])
    assert response.status_code == 302
    assert f"{location.scheme}://{location.netloc}" == dev.base_url
    assert location.path == "/logout"
    assert parse_qs(location.query) == {"client_id": ["local-client"], "logout_uri": [f"{APP}/"]}


def test_logout_clears_the_session(browser: Browser) -> None:
    browser.sign_in()

    logout = browser.get("/auth/logout")

    assert session_set_cookies(logout)
    assert all("Max-Age=0" in cookie for cookie in session_set_cookies(logout))
    assert browser.get("/", accept=JSON).get_json() == {"user": None}


def sending(browser: Browser, cookies: list[tuple[str, str]]) -> FlaskClient:
    """A client of the same app without a cookie jar that sends exactly ``cookies`` in one raw ``Cookie`` header."""
    client = browser.app.application.test_client(use_cookies=False)
    client.environ_base["HTTP_COOKIE"] = "; ".join(f"{name}={value}" for name, value in cookies)
    return client


def with_a_planted_session(browser: Browser, planted_first: bool) -> FlaskClient:
    """The browser's session cookies plus a second ``cognito_session``, as a sibling subdomain could plant one."""
    own = list(browser.session_cookies().items())
    planted = [("cognito_session", "planted-by-someone-else")]
    return sending(browser, planted + own if planted_first else own + planted)


@pytest.mark.parametrize("planted_first", [True, False])
def test_a_second_session_cookie_means_signed_out(browser: Browser, planted_first: bool) -> None:
    browser.sign_in()
    client = with_a_planted_session(browser, planted_first)

    response = client.get("/", base_url=APP, headers={"Accept": JSON})

    assert response.get_json() == {"user": None}


def test_logout_clears_a_session_cookie_that_came_twice(browser: Browser) -> None:
    browser.sign_in()
    client = with_a_planted_session(browser, planted_first=True)

    logout = client.get("/auth/logout", base_url=APP)

    assert "cognito_session=; Path=/; Max-Age=0" in " ".join(session_set_cookies(logout))


def test_a_callback_with_two_states_is_refused(browser: Browser) -> None:
    callback = browser.sign_in_at_cognito(browser.start())
    state = parse_qs(urlsplit(callback).query)["state"][0]

    response = browser.get(f"{callback}&state={state}")

    assert response.status_code == 400


def test_planted_cookies_cannot_slip_in_someone_elses_whole_session(
    app_and_sign_in: tuple[Flask, FlaskSignIn], dev: Dev, browser: Browser
) -> None:
    browser.sign_in()  # alice
    attacker = Browser(app_and_sign_in[0], dev)
    attacker.sign_in("bob")
    alice = list(browser.session_cookies().items())
    bob = list(attacker.session_cookies().values())
    attacker.close()
    # Each of alice's chunks is planted a second time (both copies then count as empty), and bob's whole session
    # follows as the next chunks: joined, the chunks would spell bob's session.
    planted = [(name, "planted") for name, _ in alice]
    planted += [(f"cognito_session.{len(alice) + index}", value) for index, value in enumerate(bob)]

    response = sending(browser, planted + alice).get("/", base_url=APP, headers={"Accept": JSON})

    assert response.get_json() == {"user": None}


def test_logout_next_to_a_planted_session_cookie_still_revokes_the_refresh_token(
    browser: Browser, clock: Clock
) -> None:
    browser.sign_in()
    stolen = browser.session_cookies()  # copied before sign-out
    with_a_planted_session(browser, planted_first=True).get("/auth/logout", base_url=APP)
    browser.restore_session_cookies(stolen)
    clock.advance(3600)

    response = browser.get("/profile", accept=JSON)

    assert response.status_code == 401


def test_logout_revokes_the_refresh_token(browser: Browser, clock: Clock) -> None:
    browser.sign_in()
    stolen = browser.session_cookies()  # someone copied the cookies before sign-out
    browser.get("/auth/logout")
    browser.restore_session_cookies(stolen)
    clock.advance(3600)

    response = browser.get("/profile", accept=JSON)

    assert response.status_code == 401


def test_without_revocation_a_copied_session_outlives_logout(dev: Dev, clock: Clock) -> None:
    """The contrast to the test above: what revocation protects against."""
    app, sign_in = build_app(dev, clock, revoke_on_logout=False)
    tab = Browser(app, dev)
    try:
        tab.sign_in()
        stolen = tab.session_cookies()
        tab.get("/auth/logout")
        tab.restore_session_cookies(stolen)
        clock.advance(3600)
        response = tab.get("/profile", accept=JSON)
    finally:
        tab.close()
        sign_in.client.close()

    assert response.status_code == 200


# -- server-side sessions -------------------------------------------------------------------------------------------


def test_server_side_sessions_sign_in_with_a_small_cookie(dev: Dev, clock: Clock) -> None:
    app, sign_in = build_app(dev, clock, store=MemorySessionStore(clock=clock))
    tab = Browser(app, dev)
    try:
        callback = tab.sign_in()
        profile = tab.get("/profile")
    finally:
        tab.close()
        sign_in.client.close()

    cookies = session_set_cookies(callback)
    assert len(cookies) == 1
    assert len(cookies[0]) < 400
    assert profile.get_json()["username"] == "alice"


# -- per-request state: an app context that outlives its requests (a module-level push, a test, a CLI command) ---------


@pytest.fixture
def pushed_app_context(app_and_sign_in: tuple[Flask, FlaskSignIn]) -> Iterator[None]:
    """An app context pushed before the requests: Flask reuses it (and its flask.g) for every request on this thread."""
    with app_and_sign_in[0].app_context():
        yield


@pytest.mark.usefixtures("pushed_app_context")
def test_a_request_without_a_cookie_after_a_signed_in_one_is_anonymous(browser: Browser) -> None:
    browser.sign_in()
    assert browser.get("/", accept=JSON).get_json() == {"user": "alice"}
    anonymous = browser.app.application.test_client(use_cookies=False)

    response = anonymous.get("/profile", base_url=APP, headers={"Accept": JSON})

    assert response.status_code == 401


@pytest.mark.usefixtures("pushed_app_context")
def test_a_signed_in_request_after_an_anonymous_one_is_signed_in(browser: Browser) -> None:
    browser.sign_in()
    anonymous = browser.app.application.test_client(use_cookies=False)
    assert anonymous.get("/", base_url=APP, headers={"Accept": JSON}).get_json() == {"user": None}

    response = browser.get("/profile", accept=JSON)

    assert response.status_code == 200
    assert response.get_json()["username"] == "alice"


@pytest.mark.usefixtures("pushed_app_context")
def test_after_logout_the_same_thread_serves_the_browser_as_signed_out(browser: Browser) -> None:
    browser.sign_in()
    assert browser.get("/", accept=JSON).get_json() == {"user": "alice"}

    browser.get("/auth/logout")

    assert browser.get("/", accept=JSON).get_json() == {"user": None}


def test_a_single_threaded_server_with_a_pushed_app_context_keeps_visitors_apart(
    app_and_sign_in: tuple[Flask, FlaskSignIn], browser: Browser
) -> None:
    app = app_and_sign_in[0]
    browser.sign_in()
    cookies = browser.session_cookies()
    server = make_server("127.0.0.1", 0, app, threaded=False)

    def serve() -> None:
        with app.app_context():  # as a module-level app.app_context().push() does in the serving thread
            server.serve_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        base_url = f"http://127.0.0.1:{server.server_port}"
        with httpx.Client(base_url=base_url, headers={"Accept": JSON}, cookies=cookies) as alice:
            signed_in = alice.get("/profile")
        with httpx.Client(base_url=base_url, headers={"Accept": JSON}) as visitor:
            anonymous = visitor.get("/profile")
    finally:
        server.shutdown()
        thread.join(10)

    assert signed_in.status_code == 200
    assert signed_in.json()["username"] == "alice"
    assert anonymous.status_code == 401
