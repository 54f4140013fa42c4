"""examples/webapp.py as its docstring starts it: configured only by environment variables, against the local
Cognito stand-in on 127.0.0.1, driven by httpx playing the browser (tests/test_browser_webapp.py does the same in
headless Chromium where one is installed)."""

from __future__ import annotations

import asyncio
import importlib
import re
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from conftest import Clock
from devserver_support import PASSWORD, Dev, form_fields, running

from cognito_guard import ConfigurationError
from cognito_guard.testing import SigningKeyPair

ROOT = Path(__file__).resolve().parent.parent
APP = "http://localhost:8000"  # local-client's registered callback and sign-out URLs in the stand-in's default pool


class RealClock(Clock):
    """The example runs on real time (it has no clock to inject), so the stand-in must too."""

    def __call__(self) -> float:
        return time.time()


def load_webapp(monkeypatch: pytest.MonkeyPatch, **environment: str) -> ModuleType:
    monkeypatch.syspath_prepend(str(ROOT))
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("examples.webapp", None)  # it reads the environment at import
    return importlib.import_module("examples.webapp")


@pytest.fixture
def dev(session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> Iterator[Dev]:
    with running(RealClock(), session_keys) as stand_in:
        yield stand_in


def environment(dev: Dev) -> dict[str, str]:
    """The web app's variables, as its docstring starts it against the stand-in."""
    return {
        "COGNITO_DOMAIN": dev.base_url,
        "COGNITO_USER_POOL_ID": "us-east-1_LocalDev",
        "COGNITO_CLIENT_ID": "local-client",
        "COGNITO_ISSUER": dev.issuer,
        "COGNITO_REDIRECT_URI": f"{APP}/auth/callback",
        "COGNITO_LOGOUT_URI": f"{APP}/",
        "APP_SECRET_KEY": "example-test-secret-0123456789abcdef",
    }


@asynccontextmanager
async def visiting(webapp: ModuleType, cookies: dict[str, str] | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """A browser (httpx) on ``webapp``, holding ``cookies`` if given."""
    transport = httpx.ASGITransport(app=webapp.app)
    async with httpx.AsyncClient(
        transport=transport, base_url=APP, headers={"Accept": "text/html"}, cookies=cookies
    ) as client:
        yield client


@pytest.fixture
async def browser(dev: Dev, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.delenv("COGNITO_REDIS_URL", raising=False)
    webapp = load_webapp(monkeypatch, **environment(dev))
    async with visiting(webapp) as client:
        yield client
    await webapp.sign_in.aclose()


def session_cookies(browser: httpx.AsyncClient) -> dict[str, str]:
    return {cookie.name: cookie.value or "" for cookie in browser.cookies.jar if cookie.name.startswith("cognito")}


async def signed_in_as(browser: httpx.AsyncClient) -> str | None:
    """The username the home page greets, or None when it offers to sign in."""
    home = await browser.get("/")
    match = re.search(r"<strong id='username'>([^<]*)</strong>", home.text)
    return None if match is None else match.group(1)


async def signed_out_within(browser: httpx.AsyncClient, seconds: float) -> bool:
    """Poll the home page until it offers to sign in; False if it still greets someone after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        if await signed_in_as(browser) is None:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)  # the record travels through Redis: poll, do not sleep a fixed time


async def sign_in(browser: httpx.AsyncClient, dev: Dev, username: str) -> None:
    """Click "Sign in", fill the stand-in's form, follow the callback back to the app."""
    login = await browser.get("/auth/login")
    async with httpx.AsyncClient() as cognito:
        form_page = await cognito.get(login.headers["location"])
        form = {**form_fields(form_page.text), "username": username, "password": PASSWORD}
        answer = await cognito.post(f"{dev.base_url}/login", data=form)
    callback = await browser.get(answer.headers["location"])
    assert callback.status_code == 302, callback.text


async def test_the_signed_out_home_page_offers_sign_in(browser: httpx.AsyncClient) -> None:
    home = await browser.get("/")

    assert '<a href="/auth/login">Sign in</a>' in home.text


async def test_the_profile_shows_username_email_and_groups(browser: httpx.AsyncClient, dev: Dev) -> None:
    await sign_in(browser, dev, "alice")

    profile = await browser.get("/profile")

    assert profile.status_code == 200
    assert "<td id='username'>alice</td>" in profile.text
    assert "<td id='email'>alice@example.com</td>" in profile.text
    assert "<td id='groups'>admin, users</td>" in profile.text


async def test_admin_is_refused_to_bob_with_a_403_page(browser: httpx.AsyncClient, dev: Dev) -> None:
    await sign_in(browser, dev, "bob")

    admin = await browser.get("/admin")

    assert admin.status_code == 403
    assert "Forbidden" in admin.text


async def test_signing_out_goes_to_the_hosted_ui_logout_and_ends_the_session(
    browser: httpx.AsyncClient, dev: Dev
) -> None:
    await sign_in(browser, dev, "alice")

    logout = await browser.get("/auth/logout")
    home = await browser.get("/")

    assert logout.headers["location"].startswith(f"{dev.base_url}/logout?client_id=local-client&logout_uri=")
    assert "Sign in" in home.text


async def test_a_copy_of_the_session_cookie_is_refused_after_signing_out(browser: httpx.AsyncClient, dev: Dev) -> None:
    await sign_in(browser, dev, "alice")
    copied = session_cookies(browser)
    await browser.get("/auth/logout")

    for name, value in copied.items():
        browser.cookies.set(name, value)

    assert await signed_in_as(browser) is None


async def test_with_redis_a_second_instance_refuses_a_session_signed_out_on_the_first(
    dev: Dev, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load_webapp(monkeypatch, **environment(dev), COGNITO_REDIS_URL=redis_url)
    second = load_webapp(monkeypatch, **environment(dev), COGNITO_REDIS_URL=redis_url)
    try:
        async with visiting(first) as on_first:
            await sign_in(on_first, dev, "alice")
            copied = session_cookies(on_first)
            async with visiting(second, copied) as on_second:
                assert await signed_in_as(on_second) == "alice"  # the same secret key: one session, two workers

                await on_first.get("/auth/logout")

                assert await signed_out_within(on_second, 5.0)
    finally:
        for webapp in (first, second):
            await webapp.sign_in.aclose()
            webapp.sign_in.client.verifier.revocations.close()


def test_a_missing_secret_key_fails_at_import_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APP_SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="APP_SECRET_KEY"):
        load_webapp(
            monkeypatch,
            COGNITO_DOMAIN="auth.example.com",
            COGNITO_USER_POOL_ID="us-east-1_LocalDev",
            COGNITO_CLIENT_ID="local-client",
            COGNITO_REDIRECT_URI=f"{APP}/auth/callback",
        )
